"""Positions, realized and unrealized PnL and max drawdown against figures worked out by hand.

Fills (BTC/USDT, allocation 1,000 USDT), average cost with fees included:
1. buy 2 BTC at 100 = 200, fee 0.2 USDT          -> 2 BTC, cost 200.2
2. buy 1.001 BTC at 130 = 130.13, fee 0.001 BTC  -> 3 BTC, cost 330.33, average 110.11
3. sell 1 BTC at 150 = 150, fee 0.15 USDT        -> realized 150 - 0.15 - 110.11 = 39.74;
                                                    2 BTC left at 110.11
Last price 120: unrealized (120 - 110.11) x 2 = 19.78; fees 0.2 + 0.13 + 0.15 = 0.48;
equity 1,000 + 39.74 + 19.78 = 1,059.52.

Daily equity 1000, 1100, 990, 1050, 1210, 968, 1059.52: the worst fall is
1210 -> 968, 242 USDT or 20 % (the earlier 1100 -> 990 is 10 %).
"""

from datetime import timedelta
from decimal import Decimal
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from portfolios.metrics import chart_points, drawdown_series, max_drawdown
from portfolios.models import EquitySnapshot, Order
from portfolios.reconcile import bot_equity, fills_store, position_recompute
from portfolios.pnl import daily as daily_equity, day_start
from portfolios.selectors import account_summary
from tests.portfolios.conftest import make_bot

pytestmark = pytest.mark.django_db

D = Decimal
EQUITY = [D("1000"), D("1100"), D("990"), D("1050"), D("1210"), D("968"), D("1059.52")]


def _trade(trade_id, side, price, amount, cost, fee, fee_asset, minutes):
    return {"id": str(trade_id), "order": "E-1", "side": side, "price": price, "amount": amount, "cost": cost,
            "fee": {"cost": fee, "currency": fee_asset},
            "timestamp": int((timezone.now() - timedelta(minutes=100 - minutes)).timestamp() * 1000)}


@pytest.fixture
def traded_bot(alice, alice_offline_key, strategy):
    bot = make_bot(alice, alice_offline_key, strategy, allocation="1000", cap="1000")
    order = Order.objects.create(bot=bot, key=alice_offline_key, market="BTC/USDT", side="buy", quantity=D("4"),
                                 reference_price=D("100"), client_order_id="oc-test-pnl", exchange_order_id="E-1",
                                 purpose="test", state="filled")
    fills_store(key=alice_offline_key, market="BTC/USDT", orders={"E-1": order}, trades=[
        _trade(1, "buy", "100", "2", "200", "0.2", "USDT", 1),
        _trade(2, "buy", "130", "1.001", "130.13", "0.001", "BTC", 2),
        _trade(3, "sell", "150", "1", "150", "0.15", "USDT", 3),
    ])
    position_recompute(bot=bot, market="BTC/USDT", last_price=D("120"))
    today = timezone.localdate()
    for days_ago, equity in zip(range(6, -1, -1), EQUITY, strict=True):
        realized, unrealized = (D("39.74"), D("19.78")) if days_ago == 0 else (equity - 1000, D(0))
        EquitySnapshot.objects.create(key=alice_offline_key, bot=bot, quote_asset="USDT", equity=equity,
                                      realized_pnl=realized, unrealized_pnl=unrealized,
                                      taken=day_start(today - timedelta(days=days_ago)) + timedelta(minutes=5))
    return bot


def test_position_and_pnl_follow_average_cost_with_fees(traded_bot):
    position = traded_bot.positions.get(market="BTC/USDT")
    assert position.quantity == D("2")
    assert position.average_entry == D("110.11")
    assert position.realized_pnl == D("39.74")
    assert position.unrealized_pnl == D("19.78")
    assert position.fees_paid == D("0.48")
    assert bot_equity(bot=traded_bot) == (D("1059.52"), D("39.74"), D("19.78"))


def test_max_drawdown_of_the_hand_computed_sequence():
    worst = max_drawdown(EQUITY)
    assert (worst.fraction, worst.amount, worst.peak, worst.trough) == (D("0.2"), D("242"), 4, 5)
    assert drawdown_series(EQUITY)[:3] == [D(0), D(0), D("0.1")]
    assert max_drawdown([D(5), D(6), D(7)]).fraction == 0
    assert max_drawdown([]).trough is None


def test_daily_equity_and_pnl_per_day(traded_bot):
    rows = daily_equity(bots=[traded_bot])
    assert [r.equity for r in rows] == EQUITY
    assert [r.daily_pnl for r in rows] == [D(0), D(100), D(-110), D(60), D(160), D(-242), D("91.52")]
    today = timezone.localdate()
    window = daily_equity(bots=[traded_bot], start=today - timedelta(days=2), end=today - timedelta(days=1))
    # The first day of a window counts from the last snapshot before it (1050 - 1000 = +50 PnL).
    assert [(r.day, r.equity, r.daily_pnl) for r in window] == [
        (today - timedelta(days=2), D("1210"), D("160")), (today - timedelta(days=1), D("968"), D("-242"))]


def test_dashboard_figures(traded_bot, alice):
    [usdt] = account_summary(owner=alice).quotes
    assert usdt.equity == D("1059.52")
    assert usdt.pnl == D("59.52")
    assert usdt.today_pnl == D("91.52")  # from -32 at yesterday's close to +59.52
    assert usdt.max_drawdown.fraction == D("0.2")


def test_the_pages_show_the_hand_computed_figures(client, alice, traded_bot):
    client.force_login(alice)
    dashboard = unescape(client.get(reverse("dashboard")).content.decode())
    for text in ("1,059.52", "+59.52", "+91.52", "20.00%", "242.00 USDT"):
        assert text in dashboard, text
    page = unescape(client.get(reverse("portfolios:bot_detail", args=[traded_bot.pk])).content.decode())
    for text in ("1,059.52", "+39.74", "+19.78", "110.11", "0.48", "20.00%", "242.00 USDT below a peak",
                 "average cost", "fees included"):
        assert text in page, text


def test_the_chart_keeps_troughs_when_it_thins_a_long_curve():
    start = timezone.now() - timedelta(days=60)
    values = [D(1000) + (i % 50) for i in range(20000)]
    values[12345] = D(700)  # one deep, short fall
    points, worst = chart_points(((start + timedelta(minutes=5 * i), v) for i, v in enumerate(values)),
                                 max_points=1000)
    assert len(points) <= 1001
    assert min(p[1] for p in points) == 700.0
    assert worst.trough == 12345 and worst.fraction == (D(1049) - D(700)) / D(1049)
    assert points[-1][1] == float(values[-1])
