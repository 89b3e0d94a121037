"""Dashboard and bot page with 100,000 fills vs 100 fills: p95 and query counts.

Two users in one fresh SQLite database: one whose bot has 100 fills (and a
few orders and equity snapshots), one whose bot has 100,000 fills, 20,000
orders, 20,000 ignored-signal rows and 5,000 equity snapshots. Each page is
requested through Django's test client (the whole middleware stack, no
network) for both users, alternately. Printed: p50/p95 per page and user,
the number of SQL queries per page (which must not grow with history), and
the ratio of p95s.

    .venv/bin/python bench/dashboard.py [--fills 100000] [--requests 60]
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Paper, machine, record, setup_django  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--fills", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paper = Paper(tmp)
        try:
            setup_django(database_url=f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", paper_url=paper.url,
                         extra={"ALLOWED_HOSTS": "testserver",
                                "STATICFILES_STORAGE": "django.contrib.staticfiles.storage.StaticFilesStorage"})
            run(args)
        finally:
            paper.stop()


def _history(user, fills, strategy):
    from datetime import timedelta
    from decimal import Decimal

    from django.utils import timezone

    from keys.models import ExchangeKey
    from portfolios.models import Bot, EquitySnapshot, Fill, Order, Position

    key = ExchangeKey.objects.create(owner=user, exchange="paper", label="k", api_key="bench-key-" + user.username,
                                     api_secret="s", api_key_hint="benc…key", permissions={"can_trade": True})
    bot = Bot.objects.create(owner=user, name="bot", key=key, strategy=strategy, markets=["BTC/USDT"],
                             allocation=Decimal("1000"), position_cap=Decimal("500"))
    now = timezone.now()
    orders = max(1, fills // 5)
    Order.objects.bulk_create(
        (Order(bot=bot, key=key, market="BTC/USDT", side="buy" if i % 2 else "sell", quantity=Decimal("0.001"),
               reference_price=Decimal("60000"), client_order_id=f"b{user.pk}-{i}", state="filled",
               exchange_order_id=str(i), purpose="bench") for i in range(orders)),
        batch_size=2000,
    )
    Fill.objects.bulk_create(
        (Fill(key=key, bot=bot, market="BTC/USDT", side="buy" if i % 2 else "sell", price=Decimal("60000"),
              quantity=Decimal("0.0002"), cost=Decimal("12"), fee=Decimal("0.012"), fee_asset="USDT",
              fee_in_quote=Decimal("0.012"), exchange_trade_id=str(i), exchange_order_id=str(i // 5),
              traded_at=now - timedelta(minutes=fills - i)) for i in range(fills)),
        batch_size=5000,
    )
    EquitySnapshot.objects.bulk_create(
        (EquitySnapshot(key=key, bot=bot, quote_asset="USDT", equity=Decimal(1000 + (i % 50)),
                        taken=now - timedelta(minutes=5 * (max(50, fills // 20) - i)))
         for i in range(max(50, fills // 20))),
        batch_size=5000,
    )
    Position.objects.create(bot=bot, market="BTC/USDT", quantity=Decimal("0.01"), average_entry=Decimal("60000"),
                            cost_basis=Decimal("600"), last_price=Decimal("61000"))
    return bot


def run(args):
    from django.contrib.auth import get_user_model
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from strategies.services import strategy_create

    strategy = strategy_create(name="Dash", kind="trend", markets=["BTC/USDT"])
    users, bots = {}, {}
    for label, fills in (("small", 100), ("large", args.fills)):
        user = get_user_model().objects.create_user(username=label, email=f"{label}@example.com", password="x")
        users[label], bots[label] = user, _history(user, fills, strategy)
    clients = {}
    for label, user in users.items():
        clients[label] = Client()
        clients[label].force_login(user)
    pages = {"dashboard": lambda label: "/", "bot page": lambda label: f"/bots/{bots[label].pk}/"}
    lines = [f"machine: {machine()}; SQLite; Django test client; {args.requests} requests per page and user"]
    for page, url_of in pages.items():
        timings = {"small": [], "large": []}
        queries = {}
        for label in timings:
            with CaptureQueriesContext(connection) as captured:
                response = clients[label].get(url_of(label))
            assert response.status_code == 200, (page, response.status_code)
            queries[label] = len(captured)
        for _ in range(args.requests):
            for label in timings:
                started = time.perf_counter()
                clients[label].get(url_of(label))
                timings[label].append(time.perf_counter() - started)
        p95 = {}
        for label, values in timings.items():
            ordered = sorted(values)
            p95[label] = ordered[int(len(ordered) * 0.95) - 1] * 1000
            lines.append(f"  {page:10} {label:5} history: p50 {statistics.median(ordered) * 1000:7.1f} ms  "
                         f"p95 {p95[label]:7.1f} ms  queries {queries[label]}")
        lines.append(f"  {page}: queries small/large {queries['small']}/{queries['large']} "
                     f"({'constant' if queries['small'] == queries['large'] else 'NOT constant'}), "
                     f"p95 ratio large/small {p95['large'] / p95['small']:.2f}")
    lines.insert(1, f"histories: 100 fills vs {args.fills} fills")
    record("dashboard", "\n".join(lines))


if __name__ == "__main__":
    main()
