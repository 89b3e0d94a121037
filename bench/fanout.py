"""Bots on paper accounts act on one signal, with 2 task workers, at a real exchange's latency.

PostgreSQL and Redis (broker, shared rate budget), a real orders `manage.py
qcluster` (``Q_QUEUE=orders``) with 2 worker processes, the paper exchange with Binance's published limits
and 50 ms added to every request (about a server's round trip to a real
exchange). One signed buy signal is fanned out to every running bot; measured:
the time from the fan-out to the last order recorded, the request weight spent
per order, and beside it the floor the exchange's limits set for that run (its
weight budget at 1 weight per order, and its orders per account per 10 s).
By default 1,000 bots on 100 accounts, then 10,000 on 1,000.

    .venv/bin/python bench/fanout.py [--bots 1000 10000] [--accounts N] [--latency 50] [--no-record]
"""

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Paper, machine, postgres_database, record, setup_django  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/0"
WEIGHT_PER_MINUTE = 6000
ORDERS_PER_10S = 100


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bots", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--accounts", type=int, default=None, help="paper accounts (default: one per 10 bots)")
    parser.add_argument("--latency", type=float, default=50.0, help="milliseconds the exchange adds to a request")
    parser.add_argument("--timeout", type=int, default=900)
    parser.add_argument("--no-record", action="store_true", help="print the figures, leave RESULTS.md alone")
    args = parser.parse_args()
    if len(args.bots) > 1:  # one process per size: each configures Django on its own fresh database
        texts = []
        for bots in args.bots:
            command = [sys.executable, __file__, "--bots", str(bots), "--latency", str(args.latency),
                       "--timeout", str(args.timeout), "--no-record"]
            if args.accounts:
                command += ["--accounts", str(args.accounts)]
            texts.append(subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip())
            print(texts[-1], flush=True)
        if not args.no_record:
            record("fanout", "\n\n".join(texts), echo=False)
        return
    bots = args.bots[0]
    with tempfile.TemporaryDirectory() as tmp:
        limits = {"weight_per_minute": WEIGHT_PER_MINUTE, "orders_per_10s": ORDERS_PER_10S, "orders_per_day": 200000}
        paper = Paper(tmp, limits=limits)
        try:
            env = setup_django(database_url=postgres_database("oneclick_bench_fanout"), paper_url=paper.url,
                               redis_url=REDIS_URL, extra={"Q_WORKERS": "1", "Q_ORDER_WORKERS": "2"})
            text = run(paper, env, bots=bots, accounts=args.accounts or max(1, bots // 10), latency=args.latency,
                       timeout=args.timeout)
        finally:
            paper.stop()
    if args.no_record:
        print(text)
    else:
        record("fanout", text)


def run(paper, env, *, bots, accounts, latency, timeout):
    from decimal import Decimal

    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.utils import timezone
    from django_q.brokers import get_broker

    from keys.models import ExchangeKey, mask_api_key
    from portfolios.ledger import balances_store, fill_mark
    from exchanges import budget
    from portfolios.models import Bot, Fill, Order, Position
    from portfolios.services import signals_fan_out
    from strategies.services import strategy_create
    from tests.portfolios.conftest import issue_signal

    for queue in (settings.TASKS_QUEUE, settings.ORDERS_QUEUE):
        get_broker(queue).purge_queue()
    budget.reset()
    strategy = strategy_create(name="Fan-out", kind="trend", markets=["BTC/USDT"])
    keys = []
    deposit = Decimal(100_000)
    for n in range(accounts):
        # One user per exchange account, as on a platform with many users.
        owner = get_user_model().objects.create_user(username=f"fan{n}", email=f"fan{n}@example.com")
        made = paper.key(paper.account(USDT=int(deposit)))
        # Linked as the portal would after a successful probe (the probe is not what is measured).
        keys.append(ExchangeKey.objects.create(
            owner=owner, exchange="paper", label="bench", api_key=made["api_key"], api_secret=made["secret"],
            api_key_hint=mask_api_key(made["api_key"]), permissions={"can_read": True, "can_trade": True},
            permissions_verified=True, probed_at=timezone.now(),
        ))
    Bot.objects.bulk_create(
        Bot(owner_id=keys[i % len(keys)].owner_id, name=f"bot {i}", key=keys[i % len(keys)], strategy=strategy, markets=["BTC/USDT"],
            allocation=Decimal("100"), position_cap=Decimal("1000"))
        for i in range(bots)
    )
    # Each account's balances as the last reconciliation stored them (the deposit, known exactly): orders are
    # sized from the books (that read plus the fills since), not from a read per order. Stored, not read: a
    # thousand account reads would spend the exchange's weight budget for minutes before the run starts.
    for key in keys:
        balances_store(key=key, balances={"USDT": {"free": deposit, "used": Decimal(0), "total": deposit}},
                       mark=fill_mark(key=key))
    signal = issue_signal(strategy, "BTC/USDT", "buy", "0.5")
    if latency:
        paper.control("POST", "/_paper/faults", {"latency": {"ms": latency}})
    # The orders cluster (2 workers) does the fan-out; the main one (1 worker) the reconciliations after it.
    clusters = [subprocess.Popen([sys.executable, "manage.py", "qcluster"], env={**env, "Q_QUEUE": queue},
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for queue in ("orders", "")]
    try:
        time.sleep(3)  # let the cluster start before the clock does
        before = paper.counters()
        weight_before, paths_before = before["weight_used"], before["requests_by_path"]
        started = time.monotonic()
        signals_fan_out(signal_ids=[signal.pk])
        deadline = started + timeout
        done = 0
        while time.monotonic() < deadline:
            done = Order.objects.filter(signal=signal).exclude(state__in=Order.UNRESOLVED).count()
            if done >= bots:
                break
            time.sleep(0.2)
        elapsed = time.monotonic() - started
    finally:
        for cluster in clusters:
            cluster.terminate()
        for cluster in clusters:
            cluster.wait(timeout=60)
    counters = paper.counters()
    weight = counters["weight_used"] - weight_before
    paths = {path: n - paths_before.get(path, 0) for path, n in counters["requests_by_path"].items()
             if n - paths_before.get(path, 0)}
    exchange_orders = sum(1 for n in counters["orders_by_client_order_id"].values() if n)
    # The floor the exchange's limits set: its weight budget at 1 weight per order (a rolling minute), and
    # each account's orders per 10 s; plus one round trip.
    per_account = -(-bots // accounts)
    weight_floor = 60 * ((bots - 1) // WEIGHT_PER_MINUTE)
    account_floor = 10 * ((per_account - 1) // ORDERS_PER_10S)
    floor = max(weight_floor, account_floor) + latency / 1000
    states = {}
    for state in Order.objects.filter(signal=signal).values_list("state", flat=True):
        states[state] = states.get(state, 0) + 1
    # Each bot holds what its order's fills brought in (less a fee paid in BTC), by the books after the run.
    got = {}
    for bot_id, quantity, fee, fee_asset in Fill.objects.filter(order__signal=signal).values_list(
            "bot_id", "quantity", "fee", "fee_asset"):
        got[bot_id] = got.get(bot_id, Decimal(0)) + quantity - (fee if fee_asset == "BTC" else 0)
    held = dict(Position.objects.filter(market="BTC/USDT").values_list("bot_id", "quantity"))
    positions_off = sum(1 for bot_id in Order.objects.filter(signal=signal).values_list("bot_id", flat=True)
                        if held.get(bot_id, Decimal(0)) != got.get(bot_id, Decimal(0)) or not got.get(bot_id))
    return "\n".join([
        f"machine: {machine()}; {bots} bots on {accounts} paper accounts; an orders qcluster with 2 workers; "
        f"PostgreSQL + Redis; exchange latency {latency:g} ms",
        f"time from fan-out to the last order recorded: {elapsed:.1f} s ({done} orders, {done / elapsed:.1f} orders/s)",
        f"weight per order: {weight / max(done, 1):.2f} ({weight} weight at the exchange; requests: "
        f"{', '.join(f'{path} {n}' for path, n in sorted(paths.items(), key=lambda item: -item[1]))})",
        f"floor set by the exchange's limits: {floor:.1f} s (weight {WEIGHT_PER_MINUTE}/min at 1 per order: "
        f"{weight_floor} s; {ORDERS_PER_10S} orders/10 s per account, {per_account} per account: {account_floor} s); "
        f"measured / floor: {elapsed / floor:.1f}",
        f"order states: {states}; orders the exchange received: {exchange_orders}; "
        f"429: {counters['http_429']}, 418: {counters['http_418']}; bots whose position differs from their fill: "
        f"{positions_off}",
    ])


if __name__ == "__main__":
    main()
