"""Signal → order acknowledged on every venue: the pipeline's own cost per order, beside bare ccxt.

For each exchange the platform names (Binance, Binance.US, Kraken, Bitvavo,
One Trading), the venue's adapter and its unmodified ccxt class talk to that
venue's dialect of one paper exchange process (``EXCHANGE_API_URLS``), at
loopback speed; orders are interleaved one by one with the same venue's bare
``create_order`` (the client order id in the venue's own parameter). Printed
per venue: median of each path, their difference (what the pipeline itself
costs: signature check, guard, sizing, write-ahead row, claim, recording the
answer and fills) and the requests the pipeline made per order. Kraken
answers a new order with its id alone, so its adapter reads the order once
more: one request more per order, shown in the figures. The shared request
budget runs on Redis (as in production); the number of orders per venue stays
within what the venue's published limits allow in the run's time (Kraken: 15
calls a minute per key), so no budget wait is timed.

    .venv/bin/python bench/order_overhead_venues.py [--orders 40]
"""

import argparse
import socket
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Paper, machine, record, setup_django  # noqa: E402

VENUES = {"binance": "USDT", "binanceus": "USDT", "kraken": "EUR", "bitvavo": "EUR", "onetrading": "EUR"}
# Kraken counts 15 calls a minute per key; its pipeline spends about one per order.
ORDER_CAP = {"kraken": 10}


def redis_url():
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=2).close()
        return "redis://127.0.0.1:6379/0"
    except OSError:
        return ""


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paper = Paper(tmp)
        try:
            redis = redis_url()
            setup_django(database_url=f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", paper_url=paper.url,
                         redis_url=redis)
            lines = [f"machine: {machine()}; SQLite database; request budget on {'Redis' if redis else 'memory'}; "
                     "paper exchange on loopback"]
            for venue, quote in VENUES.items():
                lines += measure(paper, venue, quote, min(args.orders, ORDER_CAP.get(venue, args.orders)))
            record("order_overhead_venues", "\n".join(lines))
        finally:
            paper.stop()


def measure(paper, venue, quote, count):
    from decimal import Decimal

    from django.conf import settings
    from django.contrib.auth import get_user_model

    import exchanges
    from exchanges import Credentials
    from keys.services import key_link
    from paperexchange.client import make_ccxt
    from portfolios.execution import signal_execute
    from portfolios.models import Bot, Order
    from strategies.services import strategy_create
    from tests.portfolios.conftest import issue_signal

    base = paper.url if venue == "binance" else f"{paper.url}/{venue}"
    settings.EXCHANGE_API_URLS = {venue: base}
    exchanges.caches_clear()
    adapter = exchanges.exchange_class(venue)
    owner = get_user_model().objects.create_user(username=f"bench-{venue}", email=f"{venue}@example.com",
                                                 password="x")
    account = paper.control("POST", "/_paper/accounts", {"balances": {quote: "10000000"}, "venue": venue})["account"]
    made = paper.key(account)
    key = key_link(owner=owner, exchange=venue, label="bench", confirmed_no_withdrawals=True,
                   credentials=Credentials(api_key=made["api_key"], secret=made.get("secret") or ""))
    market = f"BTC/{quote}"
    strategy = strategy_create(name=f"Bench {venue}", kind="trend", markets=[market], exchange=venue)
    bot = Bot.objects.create(owner=owner, name="bench", key=key, strategy=strategy, markets=[market],
                             quote_asset=quote, allocation=Decimal("1000000"), position_cap=Decimal("1000000000"))
    # ccxt's own throttle off, as in the platform (its shared budget paces requests instead).
    bare = make_ccxt(paper.url, made["api_key"], secret=made.get("secret"), venue=venue, enableRateLimit=False)
    bare.load_markets()
    adapter_for_ids = adapter()

    def bare_order():
        client_id = adapter_for_ids.client_order_id(bot_id=0, tag=uuid.uuid4().hex[:8], salt="bench")
        params = adapter_for_ids.order_params(client_order_id=client_id, bot_id=1)
        bare.create_order(market, "market", "buy", 0.001, None, params)

    # Warm both paths (markets, ticker cache, balances, connections).
    signal_execute(bot_id=bot.pk, signal_id=issue_signal(strategy, market, "buy", "0.0001").pk)
    bare_order()

    bare_times, pipeline_times = [], []
    requests_before = paper.counters()["requests"]
    for _ in range(count):
        signal = issue_signal(strategy, market, "buy", "0.0001")  # signing is the strategy's work, not timed
        started = time.perf_counter()
        order = signal_execute(bot_id=bot.pk, signal_id=signal.pk)
        pipeline_times.append(time.perf_counter() - started)
        assert order is not None and order.state == Order.State.FILLED, (venue, getattr(order, "error", order))
        started = time.perf_counter()
        bare_order()
        bare_times.append(time.perf_counter() - started)
    requests = paper.counters()["requests"] - requests_before
    bare_p50 = statistics.median(bare_times) * 1000
    pipe_p50 = statistics.median(pipeline_times) * 1000
    # The bare path makes exactly one request per order.
    pipeline_requests = (requests - count) / count
    return [
        f"{adapter.label} ({count} orders each): bare create_order p50 {bare_p50:.2f} ms; "
        f"signal -> order acknowledged p50 {pipe_p50:.2f} ms; pipeline's own cost {pipe_p50 - bare_p50:.2f} ms "
        f"per order; requests per order {pipeline_requests:.2f} (bare: 1)",
    ]


if __name__ == "__main__":
    main()
