"""Execution quality: each order's slippage against the signal's price and its time from signal to fill, per
order, per bot (median, 95th percentile), per strategy for staff and in the CSV; bots served in a new order."""

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest

from portfolios import selectors, services
from portfolios.execution import signal_execute
from portfolios.models import Order
from tests.conftest import enable_two_factor, login_verified
from tests.portfolios.conftest import issue_signal, make_bot

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("side, average, expected", [
    ("buy", "100.5", Decimal("50.0")),   # paid more than the signal saw: against the user
    ("buy", "99.75", Decimal("-25.0")),  # paid less: in the user's favour
    ("sell", "99.5", Decimal("50.0")),   # sold for less: against the user
    ("sell", "100.1", Decimal("-10.0")),
])
def test_slippage_is_signed_against_the_user_in_basis_points(side, average, expected):
    order = Order(side=side, signal_price=Decimal("100"), average_price=Decimal(average))
    assert order.slippage_bps == expected


def test_percentiles_are_nearest_rank():
    values = list(range(1, 21))
    assert selectors.percentile(values, 0.5) == 10
    assert selectors.percentile(values, 0.95) == 19
    assert selectors.percentile([7], 0.95) == 7
    assert selectors.percentile([], 0.5) is None


def test_an_order_records_the_signal_price_its_fill_time_and_shows_them(client, bob, alice, alice_bot, strategy,
                                                                        paper, paper_account):
    from keys.services import key_exchange

    _key, exchange = key_exchange(key_id=alice_bot.key_id)
    seen = exchange.ticker_price("BTC/USDT")
    signal = issue_signal(strategy, "BTC/USDT", "buy", "0.3", price=str(seen))
    order = signal_execute(bot_id=alice_bot.pk, signal_id=signal.pk)
    order = Order.objects.select_related("signal").get(pk=order.pk)
    assert order.signal_price == seen
    expected = ((order.average_price - seen) / seen * 10_000).quantize(Decimal("0.1"))
    assert order.slippage_bps == expected
    [trade] = paper.account(paper_account.id)["trades"]
    assert int(order.filled_at.timestamp() * 1000) == trade["time"]  # the exchange's time of the fill
    assert timedelta(0) < order.signal_to_fill < timedelta(minutes=5)

    client.force_login(alice)
    page = client.get(f"/bots/{alice_bot.pk}/").content.decode()
    assert f"Execution over the last 1 filled order: slippage median {expected} bps" in page
    assert f"{order.signal_to_fill.total_seconds():.1f} s" in page
    detail = client.get(f"/bots/orders/{order.pk}/").content.decode()
    assert f"{expected} bps" in detail and "Price the signal saw" in detail
    report = client.get(f"/bots/{alice_bot.pk}/report/?kind=orders&start={order.created:%Y-%m-%d}"
                        f"&end={order.created:%Y-%m-%d}")
    [row] = list(csv.DictReader(io.StringIO(b"".join(report.streaming_content).decode())))
    assert Decimal(row["slippage_bps"]) == expected and Decimal(row["signal_price"]) == seen
    assert float(row["signal_to_fill_seconds"]) == pytest.approx(order.signal_to_fill.total_seconds(), abs=0.001)

    client.force_login(bob)
    assert client.get(f"/bots/orders/{order.pk}/").status_code == 404
    assert client.get(f"/bots/{alice_bot.pk}/report/?kind=orders&start={order.created:%Y-%m-%d}"
                      f"&end={order.created:%Y-%m-%d}").status_code == 404


def test_staff_see_execution_quality_per_strategy(client, staff, alice, alice_bot, strategy, paper, paper_account):
    for bps, market in (("0", "BTC/USDT"), ("0", "ETH/USDT")):
        signal = issue_signal(strategy, market, "buy", "0.1")
        Order.objects.create(bot=alice_bot, key=alice_bot.key, signal=signal, market=market, side="buy",
                             quantity=Decimal("1"), reference_price=Decimal("100"), signal_price=Decimal("100"),
                             average_price=Decimal("100") + Decimal(bps), filled_quantity=Decimal("1"),
                             state="filled", client_order_id=f"q-{market}", filled_at=signal.created
                             + timedelta(seconds=12))
    Order.objects.filter(client_order_id="q-ETH/USDT").update(average_price=Decimal("101"))  # +100 bps
    device, _codes = enable_two_factor(staff)
    login_verified(client, staff, device)
    page = client.get("/admin/portfolios/strategyexecution/").content.decode()
    assert strategy.name in page
    cells = page[page.index(strategy.name):]
    assert '<td class="field-orders">2</td>' in cells
    assert '<td class="field-slippage_median">0.0</td>' in cells
    assert '<td class="field-slippage_p95">100.0</td>' in cells
    assert '<td class="field-latency_median">12.0</td>' in cells
    client.force_login(alice)
    assert client.get("/admin/portfolios/strategyexecution/").status_code == 302


def test_each_signal_serves_the_bots_in_a_new_order(alice, alice_paper_key, strategy, monkeypatch):
    bots = [make_bot(alice, alice_paper_key, strategy, markets=("BTC/USDT",), name=f"Bot {n}") for n in range(30)]
    queued = []
    monkeypatch.setattr(services, "async_task", lambda func, signal_id, bot_ids, **kw: queued.extend(
        (signal_id, bot_id) for bot_id in bot_ids))
    first = issue_signal(strategy, "BTC/USDT", "buy", "0.1")
    second = issue_signal(strategy, "BTC/USDT", "buy", "0.1")
    services.signals_fan_out(signal_ids=[first.pk])
    services.signals_fan_out(signal_ids=[second.pk])
    orders = {signal_id: [b for s, b in queued if s == signal_id] for signal_id in (first.pk, second.pk)}
    assert sorted(orders[first.pk]) == sorted(orders[second.pk]) == sorted(b.pk for b in bots)
    assert orders[first.pk] != orders[second.pk]  # 1 chance in 30! of the same order twice
