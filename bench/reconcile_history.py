"""Reconciliation time against the length of an account's trade history.

For histories of 100, 1,000 and 10,000 of the bot's own trades at the paper
exchange, the account is reconciled once (catching up: every trade is read
and stored), then one more trade is made and the next, ordinary pass is
timed. An ordinary pass reads only what is newer than the last trade id seen
and applies only new fills to positions, so it should stay flat however long
the history. Printed: catch-up and ordinary pass per history length, and the
ratio of ordinary passes (longest / shortest).

    .venv/bin/python bench/reconcile_history.py [--lengths 100,1000,10000]
"""

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Paper, machine, record, setup_django  # noqa: E402

PASSES = 5


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--lengths", default="100,1000,10000")
    args = parser.parse_args()
    lengths = [int(n) for n in args.lengths.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        paper = Paper(tmp)
        try:
            setup_django(database_url=f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", paper_url=paper.url)
            run(paper, lengths)
        finally:
            paper.stop()


def _trade(client, bot, key, Order):
    """One market buy placed outside the pipeline but recorded as the bot's own order."""
    from decimal import Decimal

    cid = "bench-" + uuid.uuid4().hex[:24]
    answer = client.create_order("BTC/USDT", "market", "buy", 0.0001, None,
                                 {"newClientOrderId": cid, "newOrderRespType": "ACK"})
    return Order(bot=bot, key=key, market="BTC/USDT", side="buy", quantity=Decimal("0.0001"),
                 reference_price=Decimal(1), client_order_id=cid, state=Order.State.FILLED,
                 exchange_order_id=str(answer["id"]), purpose="bench")


def run(paper, lengths):
    from decimal import Decimal

    from django.contrib.auth import get_user_model

    from keys.services import key_link
    from paperexchange.client import make_ccxt
    from exchanges import Credentials
    from portfolios.models import Bot, Fill, Order
    from portfolios.reconcile import key_reconcile
    from strategies.services import strategy_create

    strategy = strategy_create(name="History", kind="trend", markets=["BTC/USDT"])
    lines = [f"machine: {machine()}; SQLite database; paper exchange on loopback; {PASSES} ordinary passes each"]
    ordinary = {}
    for n, length in enumerate(lengths):
        owner = get_user_model().objects.create_user(username=f"h{n}", email=f"h{n}@example.com", password="x")
        made = paper.key(paper.account(USDT=10_000_000))
        key = key_link(owner=owner, exchange="paper", label="history",
                       credentials=Credentials(api_key=made["api_key"], secret=made["secret"]))
        bot = Bot.objects.create(owner=owner, name="history", key=key, strategy=strategy, markets=["BTC/USDT"],
                                 allocation=Decimal("1000000"), position_cap=Decimal("100000000"))
        client = make_ccxt(paper.url, made["api_key"], secret=made["secret"])
        client.load_markets()
        Order.objects.bulk_create([_trade(client, bot, key, Order) for _ in range(length)], batch_size=1000)

        started = time.perf_counter()
        key_reconcile(key_id=key.pk)
        catch_up = time.perf_counter() - started
        assert Fill.objects.filter(key=key).count() == length

        times = []
        for _ in range(PASSES):
            _trade(client, bot, key, Order).save()
            started = time.perf_counter()
            key_reconcile(key_id=key.pk)
            times.append(time.perf_counter() - started)
        assert Fill.objects.filter(key=key, foreign=False).count() == length + PASSES
        ordinary[length] = statistics.median(times)
        lines.append(f"history {length:>6} trades: catch-up pass {catch_up * 1000:8.0f} ms, "
                     f"ordinary pass median {ordinary[length] * 1000:6.1f} ms")
    for shorter, longer in zip(lengths, lengths[1:]):
        lines.append(f"ordinary pass, {longer} vs {shorter} trades of history: ratio "
                     f"{ordinary[longer] / ordinary[shorter]:.2f} (flat = about 1)")
    record("reconcile_history", "\n".join(lines))


if __name__ == "__main__":
    main()
