"""1,000 bots on 100 paper accounts act on one signal, with 2 task workers.

PostgreSQL and Redis (broker, shared rate budget), a real `manage.py qcluster`
with 2 worker processes, the paper exchange with Binance's published limits.
One signed buy signal is fanned out to 1,000 running bots; measured: the
time from the fan-out to the last order recorded, and beside it the floor the
exchange's limits set for the weight this fan-out really used (the part of
it above one minute's budget has to wait for the next minutes).

    .venv/bin/python bench/fanout.py [--bots 1000] [--accounts 100]
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


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--bots", type=int, default=1000)
    parser.add_argument("--accounts", type=int, default=100)
    parser.add_argument("--timeout", type=int, default=900)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paper = Paper(tmp, limits={"weight_per_minute": 6000, "orders_per_10s": 100, "orders_per_day": 200000})
        try:
            env = setup_django(database_url=postgres_database("oneclick_bench_fanout"), paper_url=paper.url,
                               redis_url=REDIS_URL, extra={"Q_WORKERS": "2"})
            run(paper, env, args)
        finally:
            paper.stop()


def run(paper, env, args):
    from decimal import Decimal

    from django.contrib.auth import get_user_model
    from django.utils import timezone
    from django_q.brokers import get_broker

    from keys.models import ExchangeKey, mask_api_key
    from portfolios import ratelimit
    from portfolios.models import Bot, Order
    from strategies.services import signals_fan_out, strategy_create
    from tests.portfolios.conftest import issue_signal

    get_broker().purge_queue()
    ratelimit.reset()
    owner = get_user_model().objects.create_user(username="fan", email="fan@example.com", password="x")
    strategy = strategy_create(name="Fan-out", kind="trend", markets=["BTC/USDT"])
    keys = []
    for _ in range(args.accounts):
        made = paper.key(paper.account(USDT=100_000))
        # Linked as the portal would after a successful probe (the probe is not what is measured).
        keys.append(ExchangeKey.objects.create(
            owner=owner, exchange="paper", label="bench", api_key=made["api_key"], api_secret=made["secret"],
            api_key_hint=mask_api_key(made["api_key"]), permissions={"can_read": True, "can_trade": True},
            permissions_verified=True, probed_at=timezone.now(),
        ))
    Bot.objects.bulk_create(
        Bot(owner=owner, name=f"bot {i}", key=keys[i % len(keys)], strategy=strategy, markets=["BTC/USDT"],
            allocation=Decimal("100"), position_cap=Decimal("1000"))
        for i in range(args.bots)
    )
    signal = issue_signal(strategy, "BTC/USDT", "buy", "0.5")
    cluster = subprocess.Popen([sys.executable, "manage.py", "qcluster"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(3)  # let the cluster start before the clock does
        weight_before = paper.counters()["weight_used"]
        started = time.monotonic()
        signals_fan_out(signal_ids=[signal.pk])
        deadline = started + args.timeout
        done = 0
        while time.monotonic() < deadline:
            done = Order.objects.filter(signal=signal).exclude(state__in=Order.UNRESOLVED).count()
            if done >= args.bots:
                break
            time.sleep(0.2)
        elapsed = time.monotonic() - started
    finally:
        cluster.terminate()
        cluster.wait(timeout=60)
    counters = paper.counters()
    weight = counters["weight_used"] - weight_before
    limit = 6000
    floor = max(0.0, (weight - limit) / limit * 60)
    states = {}
    for state in Order.objects.filter(signal=signal).values_list("state", flat=True):
        states[state] = states.get(state, 0) + 1
    exchange_orders = sum(1 for n in counters["orders_by_client_order_id"].values() if n)
    text = "\n".join([
        f"machine: {machine()}; {args.bots} bots on {args.accounts} paper accounts; one qcluster with 2 workers; "
        "PostgreSQL + Redis",
        f"time from fan-out to the last order recorded: {elapsed:.1f} s ({done} orders, {done / elapsed:.1f} orders/s)",
        f"weight used at the exchange: {weight} (published limit {limit}/min) -> floor set by the limits: "
        f"{floor:.1f} s",
        f"order states: {states}; orders the exchange received: {exchange_orders}; "
        f"429: {counters['http_429']}, 418: {counters['http_418']}",
    ])
    record("fanout", text)


if __name__ == "__main__":
    main()
