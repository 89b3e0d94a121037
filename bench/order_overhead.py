"""Signal → order acknowledged, through the whole pipeline, vs bare ccxt create_order.

Both go to the same paper exchange process in the same run, interleaved one
by one so that machine noise hits both alike:
- bare: ``ccxt.binance().create_order(...)`` with a client order id (what a
  script with the key would do);
- pipeline: ``portfolios.execution.signal_execute`` on a signed signal: signature
  check, guard, sizing, write-ahead Order row, claim, the same create_order,
  recording the answer and its fills.
On SQLite alone (the demo) and on PostgreSQL with Redis (production), each in a process of its own. Two phases: the paper exchange answering at loopback speed (which exposes
the pipeline's own cost in milliseconds), then with 50 ms added to every
request, about the round trip from a server to a real exchange. Printed:
median and p90 of each path, the ratio of medians per phase (goal <= 1.3), the pipeline's own cost in
milliseconds (goal <= 3 ms on PostgreSQL) and the SQL statements one order takes.

    .venv/bin/python bench/order_overhead.py [--orders 200] [--database sqlite postgres] [--no-record]
"""

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Paper, machine, postgres_database, record, setup_django  # noqa: E402

GOAL = 1.3
COST_GOAL_MS = 3.0
REDIS_URL = "redis://127.0.0.1:6379/0"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--database", nargs="+", choices=("sqlite", "postgres"), default=["sqlite", "postgres"])
    parser.add_argument("--no-record", action="store_true", help="print the figures, leave RESULTS.md alone")
    args = parser.parse_args()
    if len(args.database) > 1:  # one process per database: each configures Django on its own
        texts = []
        for database in args.database:
            command = [sys.executable, __file__, "--orders", str(args.orders), "--database", database, "--no-record"]
            texts.append(subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip())
            print(texts[-1], flush=True)
        if not args.no_record:
            record("order_overhead", "\n\n".join(texts), echo=False)
        return
    with tempfile.TemporaryDirectory() as tmp:
        paper = Paper(tmp)
        try:
            # Each as deployed: PostgreSQL with Redis (cache, request budget), SQLite alone as in the demo.
            if args.database == ["postgres"]:
                url, redis, name = postgres_database("oneclick_bench_overhead"), REDIS_URL, "PostgreSQL + Redis"
            else:
                url, redis, name = f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", "", "SQLite (no Redis)"
            setup_django(database_url=url, paper_url=paper.url, redis_url=redis)
            text = run(paper, args.orders, name)
        finally:
            paper.stop()
    if args.no_record:
        print(text)
    else:
        record("order_overhead", text)


def run(paper, count, database):
    from decimal import Decimal

    from django.contrib.auth import get_user_model

    from keys.services import key_link
    from paperexchange.client import make_ccxt
    from portfolios.execution import signal_execute
    from exchanges import Credentials
    from portfolios.models import Bot, Order
    from strategies.services import strategy_create
    from tests.portfolios.conftest import issue_signal

    owner = get_user_model().objects.create_user(username="bench", email="bench@example.com", password="x")
    account = paper.account(USDT=10_000_000)
    made = paper.key(account)
    key = key_link(owner=owner, exchange="paper", label="bench",
                   credentials=Credentials(api_key=made["api_key"], secret=made["secret"]))
    strategy = strategy_create(name="Bench", kind="trend", markets=["BTC/USDT"])
    bot = Bot.objects.create(owner=owner, name="bench", key=key, strategy=strategy, markets=["BTC/USDT"],
                             allocation=Decimal("1000000"), position_cap=Decimal("1000000000"))
    bare = make_ccxt(paper.url, made["api_key"], secret=made["secret"])
    bare.load_markets()

    # Warm both paths (markets, ticker cache, connections).
    signal_execute(bot_id=bot.pk, signal_id=issue_signal(strategy, "BTC/USDT", "buy", "0.0001").pk)
    bare.create_order("BTC/USDT", "market", "buy", 0.001, None, {"newClientOrderId": uuid.uuid4().hex[:30]})

    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    signal = issue_signal(strategy, "BTC/USDT", "buy", "0.0001")  # the strategy's statements, not the order's
    with CaptureQueriesContext(connection) as statements:
        signal_execute(bot_id=bot.pk, signal_id=signal.pk)
    lines = [f"machine: {machine()}; orders interleaved one by one; {database}; paper exchange on "
             f"loopback; one buy takes {len(statements)} SQL statements"]
    for latency_ms, orders in ((0, count), (50, max(20, count // 4))):
        if latency_ms:
            paper.control("POST", "/_paper/faults", {"latency": {"ms": latency_ms}})
        else:
            paper.control("DELETE", "/_paper/faults")
        lines += measure(paper, bare, bot, strategy, orders, latency_ms)
    paper.control("DELETE", "/_paper/faults")
    lines.append(f"orders recorded by the pipeline: {Order.objects.filter(bot=bot).count()}, "
                 f"exchange 429s: {paper.counters().get('http_429', 0)}")
    return "\n".join(lines)


def measure(paper, bare, bot, strategy, count, latency_ms):
    from portfolios.execution import signal_execute
    from portfolios.models import Order
    from tests.portfolios.conftest import issue_signal

    bare_times, pipeline_times = [], []
    for _ in range(count):
        signal = issue_signal(strategy, "BTC/USDT", "buy", "0.0001")  # signing is the strategy's work, not timed
        started = time.perf_counter()
        order = signal_execute(bot_id=bot.pk, signal_id=signal.pk)
        pipeline_times.append(time.perf_counter() - started)
        assert order is not None and order.state == Order.State.FILLED, bot.decisions.order_by("-pk").first().reason

        started = time.perf_counter()
        bare.create_order("BTC/USDT", "market", "buy", 0.001, None,
                          {"newClientOrderId": uuid.uuid4().hex[:30], "newOrderRespType": "FULL"})
        bare_times.append(time.perf_counter() - started)

    def line(label, values):
        ordered = sorted(values)
        p50 = statistics.median(ordered) * 1000
        p90 = ordered[int(len(ordered) * 0.9) - 1] * 1000
        return f"{label:34} p50 {p50:7.2f} ms   p90 {p90:7.2f} ms", p50

    bare_line, bare_p50 = line("  bare ccxt create_order:", bare_times)
    pipe_line, pipe_p50 = line("  signal -> order acknowledged:", pipeline_times)
    ratio = pipe_p50 / bare_p50
    return [
        f"exchange latency +{latency_ms} ms, {count} orders each:",
        bare_line,
        pipe_line,
        f"  pipeline's own cost: {pipe_p50 - bare_p50:.2f} ms per order (goal <= {COST_GOAL_MS:g} ms: "
        f"{'met' if pipe_p50 - bare_p50 <= COST_GOAL_MS else 'NOT met'}); ratio of medians {ratio:.2f}"
        f" (goal <= {GOAL}: {'met' if ratio <= GOAL else 'NOT met'})",
    ]


if __name__ == "__main__":
    main()
