"""Download report: CSV of orders, fills with fees and daily PnL/equity, per bot or for the account, streamed."""

import csv
import io
from datetime import timedelta
from decimal import Decimal
from html import unescape

import pytest
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone

from portfolios.execution import signal_execute
from portfolios.models import EquitySnapshot, Fill, Order
from portfolios.reconcile import key_reconcile
from portfolios.pnl import day_start
from tests.portfolios.conftest import issue_signal, make_bot

pytestmark = pytest.mark.django_db


def _csv(response):
    assert response.status_code == 200
    assert isinstance(response, StreamingHttpResponse)
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment;")
    return list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))


def _period(kind, start=None, end=None):
    today = timezone.localdate()
    return {"kind": kind, "start": str(start or today - timedelta(days=1)), "end": str(end or today)}


def test_orders_and_fills_of_a_bot_with_their_fees(client, alice, alice_bot, strategy, paper, paper_account):
    signal_execute(bot_id=alice_bot.pk, signal_id=issue_signal(strategy, "BTC/USDT", "buy", "0.5").pk)
    key_reconcile(key_id=alice_bot.key_id)
    order = Order.objects.get(bot=alice_bot)
    client.force_login(alice)
    url = reverse("portfolios:bot_report", args=[alice_bot.pk])

    [row] = _csv(client.get(url, _period("orders")))
    assert row["client_order_id"] == order.client_order_id
    assert row["exchange_order_id"] == order.exchange_order_id
    assert (row["market"], row["side"], row["state"]) == ("BTC/USDT", "buy", "filled")
    assert Decimal(row["quantity"]) == order.quantity and Decimal(row["filled_quantity"]) == order.quantity

    fills = _csv(client.get(url, _period("fills")))
    stored = {f.exchange_trade_id: f for f in Fill.objects.filter(bot=alice_bot)}
    assert {r["exchange_trade_id"] for r in fills} == set(stored)
    for r in fills:
        fill = stored[r["exchange_trade_id"]]
        assert Decimal(r["price"]) == fill.price and Decimal(r["quantity"]) == fill.quantity
        assert Decimal(r["fee"]) == fill.fee > 0 and r["fee_asset"] == "BTC"
        assert Decimal(r["fee_in_quote"]) == fill.fee_in_quote and r["foreign"] == "no"
    assert sum(Decimal(r["fee"]) for r in fills) == order.quantity * Decimal("0.001")


def test_daily_pnl_and_equity(client, alice, alice_offline_key, strategy):
    bot = make_bot(alice, alice_offline_key, strategy, allocation="1000")
    today = timezone.localdate()
    for days_ago, equity, hour in [(3, "1000", 1), (3, "1040", 20), (2, "1010", 9), (0, "1100", 0)]:
        day = today - timedelta(days=days_ago)
        EquitySnapshot.objects.create(
            key=alice_offline_key, bot=bot, quote_asset="USDT", equity=Decimal(equity),
            realized_pnl=Decimal(equity) - 1000, taken=day_start(day) + timedelta(hours=hour))
    client.force_login(alice)
    rows = _csv(client.get(reverse("portfolios:bot_report", args=[bot.pk]),
                           _period("daily", today - timedelta(days=3), today)))
    assert [(r["day"], r["equity"], r["daily_pnl"]) for r in rows] == [
        (str(today - timedelta(days=3)), "1040", "40"),  # the day's last snapshot
        (str(today - timedelta(days=2)), "1010", "-30"),
        (str(today - timedelta(days=1)), "1010", "0"),  # no snapshot: the last one counts
        (str(today), "1100", "90"),
    ]
    assert rows[0]["quote_asset"] == "USDT" and rows[-1]["total_pnl"] == "100"


def test_the_account_report_covers_every_bot_and_trades_no_bot_placed(client, alice, alice_offline_key, strategy):
    first = make_bot(alice, alice_offline_key, strategy, name="First")
    second = make_bot(alice, alice_offline_key, strategy, name="Second")
    now = timezone.now()
    for n, bot in enumerate([first, second, None]):
        Fill.objects.create(key=alice_offline_key, bot=bot, market="BTC/USDT", side="buy", price=Decimal("100"),
                            quantity=Decimal("1"), cost=Decimal("100"), fee=Decimal("0.1"), fee_asset="USDT",
                            fee_in_quote=Decimal("0.1"), exchange_trade_id=str(n), foreign=bot is None,
                            traded_at=now)
    client.force_login(alice)
    rows = _csv(client.get(reverse("portfolios:account_report"), _period("fills")))
    assert sorted((r["bot"], r["foreign"]) for r in rows) == [("", "yes"), ("First", "no"), ("Second", "no")]
    per_bot = _csv(client.get(reverse("portfolios:bot_report", args=[first.pk]), _period("fills")))
    assert [r["bot"] for r in per_bot] == ["First"]


def test_the_period_bounds_the_rows(client, alice, alice_offline_key, strategy):
    bot = make_bot(alice, alice_offline_key, strategy)
    old, recent = [
        Order.objects.create(bot=bot, key=alice_offline_key, market="BTC/USDT", side="buy", quantity=Decimal("1"),
                             reference_price=Decimal("1"), client_order_id=f"oc-period-{n}", purpose="test")
        for n in range(2)
    ]
    Order.objects.filter(pk=old.pk).update(created=timezone.now() - timedelta(days=40))
    client.force_login(alice)
    rows = _csv(client.get(reverse("portfolios:account_report"), _period("orders")))
    assert [r["client_order_id"] for r in rows] == [recent.client_order_id]
    today = timezone.localdate()
    rows = _csv(client.get(reverse("portfolios:account_report"),
                           _period("orders", today - timedelta(days=41), today - timedelta(days=39))))
    assert [r["client_order_id"] for r in rows] == [old.client_order_id]


def test_the_report_form_explains_a_bad_period(client, alice):
    client.force_login(alice)
    page = client.get(reverse("portfolios:account_report"))
    assert "Download CSV" in page.content.decode()
    today = timezone.localdate()
    response = client.get(reverse("portfolios:account_report"), _period("orders", today, today - timedelta(days=3)))
    assert response.status_code == 200 and not response.streaming
    assert "The end comes before the start." in unescape(response.content.decode())


def test_free_text_cannot_become_a_spreadsheet_formula(client, alice, alice_offline_key, strategy):
    bot = make_bot(alice, alice_offline_key, strategy, name="=HYPERLINK(\"http://evil\")")
    Order.objects.create(bot=bot, key=alice_offline_key, market="BTC/USDT", side="buy", quantity=Decimal("1"),
                         reference_price=Decimal("1"), client_order_id="oc-formula", purpose="test",
                         error="-2010 insufficient balance")
    client.force_login(alice)
    [row] = _csv(client.get(reverse("portfolios:account_report"), _period("orders")))
    assert row["bot"] == "'=HYPERLINK(\"http://evil\")" and row["error"] == "'-2010 insufficient balance"


def test_bob_gets_404_on_alices_bot_report_and_sees_none_of_her_rows(client, alice, bob, alice_offline_key,
                                                                      strategy):
    bot = make_bot(alice, alice_offline_key, strategy)
    Order.objects.create(bot=bot, key=alice_offline_key, market="BTC/USDT", side="buy", quantity=Decimal("1"),
                         reference_price=Decimal("1"), client_order_id="oc-alice", purpose="test")
    client.force_login(bob)
    assert client.get(reverse("portfolios:bot_report", args=[bot.pk]), _period("orders")).status_code == 404
    assert client.get(reverse("portfolios:bot_report", args=[bot.pk])).status_code == 404
    for kind in ("orders", "fills", "daily"):
        assert _csv(client.get(reverse("portfolios:account_report"), _period(kind))) == []
