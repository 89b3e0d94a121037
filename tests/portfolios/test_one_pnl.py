"""One PnL: an allocation raised mid-day is not profit, returns are time-weighted and the drawdown uses them,
and the portal, Telegram's /status and the daily summary email show the same figures for the same day."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from alerts.models import Alert, Kind
from portfolios import pnl
from portfolios.metrics import twr_drawdown, twr_index
from portfolios.models import Bot, EquitySnapshot, Position
from portfolios.rules import daily_summary
from tests.alerts.test_telegram import _say, linked  # noqa: F401 (fixture)
from tests.portfolios.conftest import make_bot

pytestmark = pytest.mark.django_db


def test_returns_are_time_weighted_and_money_added_is_neither_gain_nor_fall():
    # (equity, pnl) at each day's end: 500 allocated; +50 on 1,000 (500 added that day); -50; 500 taken out.
    days = [(Decimal(500), Decimal(0)), (Decimal(1050), Decimal(50)), (Decimal(1000), Decimal(0)),
            (Decimal(500), Decimal(0))]
    index = twr_index(days)
    assert index[1] == Decimal("1.05")                       # 50 / (500 + 500 added)
    assert index[2] == Decimal("1.05") * (1 - Decimal(50) / Decimal(1050))
    assert index[3] == index[2]                              # the withdrawal is not a loss
    worst = twr_drawdown(days)
    assert worst.fraction == Decimal(50) / Decimal(1050) and worst.amount == Decimal(50)


def _bot_with_a_day_behind(alice, key, strategy, *, allocation="500"):
    """A bot that made +20 yesterday and holds 0.01 BTC bought at 60,000, now at 61,000 (+10)."""
    bot = make_bot(alice, key, strategy, name="Alpha", allocation=allocation)
    yesterday = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(hours=2)
    EquitySnapshot.objects.create(key=key, bot=bot, quote_asset="USDT", equity=Decimal(allocation) + 20,
                                  realized_pnl=Decimal(20), taken=yesterday)
    Position.objects.create(bot=bot, market="BTC/USDT", quantity=Decimal("0.01"), average_entry=Decimal("60000"),
                            last_price=Decimal("61000"), realized_pnl=Decimal(20))
    return bot


def test_an_allocation_raised_mid_day_is_not_profit(alice, alice_offline_key, strategy):
    bot = _bot_with_a_day_behind(alice, alice_offline_key, strategy)
    before = pnl.bots_pnl([bot], now=timezone.now())[bot.pk]
    assert (before.equity, before.pnl, before.today) == (Decimal(530), Decimal(30), Decimal(10))
    Bot.objects.filter(pk=bot.pk).update(allocation=Decimal(1500))  # the owner adds 1,000 at noon
    bot.refresh_from_db()
    after = pnl.bots_pnl([bot], now=timezone.now())[bot.pk]
    assert (after.equity, after.pnl, after.today) == (Decimal(1530), Decimal(30), Decimal(10))


def test_the_portal_telegram_and_the_email_show_the_same_day(client, alice, alice_offline_key, strategy, telegram,
                                                             linked):  # noqa: F811
    bot = _bot_with_a_day_behind(alice, alice_offline_key, strategy)
    now = timezone.now()
    figures = pnl.bots_pnl([bot], now=now)[bot.pk]
    assert figures.today == Decimal(10)

    client.force_login(alice)
    page = client.get("/").content.decode()
    assert ">+10.00</strong><small>USDT since midnight UTC" in page
    [status] = _say(telegram, "/status", chat=linked.chat_id)
    assert "Alpha: running, equity 530.00 USDT, today +10.00" in status
    daily_summary(user=alice, now=now)
    [email] = Alert.objects.filter(user=alice, kind=Kind.DAILY_SUMMARY)
    assert f"PnL of your bots today ({now:%Y-%m-%d} UTC): +10.00 USDT" in email.text
    assert "- Alpha (running): equity 530.00 USDT, today +10.00" in email.text
