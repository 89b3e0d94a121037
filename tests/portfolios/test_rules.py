"""Each rule fires on the scenario the paper exchange's fault knobs set up, and pauses what it must."""

from decimal import Decimal

import pytest
from django.core.cache import caches

from alerts.models import Alert
from alerts.services import preference_for
from keys.services import key_reprobe
from portfolios.execution import signal_execute
from portfolios.models import EquitySnapshot
from portfolios.reconcile import key_reconcile
from portfolios.rules import daily_summaries, signals_ignored_digest
from tests.alerts.conftest import smtp, smtp_down  # noqa: F401
from tests.portfolios.conftest import issue_signal, make_bot

pytestmark = pytest.mark.django_db


def _alerts(user, kind):
    return list(Alert.objects.filter(user=user, kind=kind))


def _price(paper, symbol):
    return Decimal(paper.prices()[symbol.replace("/", "")])


def _fresh_tickers():
    caches["local"].clear()  # the few seconds of tickers a process keeps


def _worth(paper, symbol, quote_amount, step="0.0001"):
    return (Decimal(quote_amount) / _price(paper, symbol)).quantize(Decimal(step))


def test_a_trade_no_bot_placed_in_a_bot_market_is_a_warning(alice, alice_bot, paper, paper_account):
    paper.foreign_trade(paper_account.id, "ETHUSDT", _worth(paper, "ETH/USDT", 50))
    key_reconcile(key_id=alice_bot.key_id)
    [alert] = _alerts(alice, "foreign_trade")
    assert alert.severity == "warning" and "buy" in alert.text and "ETH/USDT" in alert.text
    alice_bot.refresh_from_db()
    assert alice_bot.state == "running"
    key_reconcile(key_id=alice_bot.key_id)
    assert len(_alerts(alice, "foreign_trade")) == 1


def test_a_trade_in_a_market_no_bot_trades_is_critical_and_pauses_the_bots_once(alice, alice_bot, paper,
                                                                                 paper_account):
    paper.foreign_trade(paper_account.id, "SOLUSDT", _worth(paper, "SOL/USDT", 60, "0.01"))
    key_reconcile(key_id=alice_bot.key_id)
    [alert] = _alerts(alice, "foreign_trade_severe")
    assert alert.severity == "critical" and "a market no bot trades" in alert.text
    assert alice_bot.name in alert.text  # the paused bots are named
    alice_bot.refresh_from_db()
    assert alice_bot.state == "paused"
    [paused] = _alerts(alice, "bot_paused")
    assert paused.severity == "warning" and "Changed by OneClick" in paused.text
    key_reconcile(key_id=alice_bot.key_id)
    assert len(_alerts(alice, "foreign_trade_severe")) == 1 and len(_alerts(alice, "bot_paused")) == 1


def test_a_buy_in_a_thin_market_is_critical_and_pauses_the_bot(alice, alice_paper_key, strategy, paper,
                                                               paper_account):
    bot = make_bot(alice, alice_paper_key, strategy, markets=("PUMP/USDT",))
    paper.foreign_trade(paper_account.id, "PUMPUSDT", _worth(paper, "PUMP/USDT", 30, "1"))
    key_reconcile(key_id=alice_paper_key.pk)
    [alert] = _alerts(alice, "foreign_trade_severe")
    assert "a thin market" in alert.text
    bot.refresh_from_db()
    assert bot.state == "paused"


def test_a_key_that_can_now_withdraw_is_critical_disabled_and_its_bots_paused(alice, alice_bot, paper,
                                                                             paper_account):
    paper.set_withdraw(paper_account.api_key, on=True)
    key_reprobe(key=alice_bot.key)
    [withdraw] = _alerts(alice, "key_withdraw")
    assert withdraw.severity == "critical" and withdraw.key_id == alice_bot.key_id
    [disabled] = _alerts(alice, "key_disabled")
    assert disabled.severity == "critical"
    alice_bot.refresh_from_db()
    assert alice_bot.state == "paused" and _alerts(alice, "bot_paused")
    # No alert carries the key or its secret.
    for alert in Alert.objects.all():
        for secret in (paper_account.api_key, paper_account.secret):
            assert secret not in alert.title and secret not in alert.text


def test_repeated_authentication_failures_are_critical_then_the_key_is_disabled(alice, alice_bot, paper,
                                                                              paper_account):
    paper.control("DELETE", f"/_paper/keys/{paper_account.api_key}")
    key_reprobe(key=alice_bot.key)
    [first] = _alerts(alice, "key_auth_failure")
    assert first.severity == "warning"
    alice_bot.key.refresh_from_db()
    key_reprobe(key=alice_bot.key)
    repeated = [a for a in _alerts(alice, "key_auth_failure") if a.severity == "critical"]
    assert len(repeated) == 1 and "Repeated authentication failures" in repeated[0].title
    alice_bot.key.refresh_from_db()
    key_reprobe(key=alice_bot.key)
    assert _alerts(alice, "key_disabled")[0].severity == "critical"


def test_daily_volume_over_ten_times_the_position_cap_is_critical_and_pauses_the_bot(alice, alice_bot, paper,
                                                                                    paper_account):
    # The bot's position cap is 400 USDT: 4,500 USDT traded in ETH/USDT in a day is over 10x.
    paper.foreign_trade(paper_account.id, "ETHUSDT", _worth(paper, "ETH/USDT", 4500))
    key_reconcile(key_id=alice_bot.key_id)
    [alert] = _alerts(alice, "volume_10x")
    assert alert.severity == "critical" and alert.bot_id == alice_bot.pk and "ETH/USDT" in alert.title
    alice_bot.refresh_from_db()
    assert alice_bot.state == "paused"
    # The owner checks and resumes: the same day's volume does not pause it again.
    from portfolios.services import bot_resume

    bot_resume(bot=alice_bot, by=alice)
    key_reconcile(key_id=alice_bot.key_id)
    alice_bot.refresh_from_db()
    assert alice_bot.state == "running"
    assert len(_alerts(alice, "volume_10x")) == 1 and _alerts(alice, "volume_10x")[0].count == 2


def test_a_market_volume_jump_is_unusual(alice, alice_bot, paper, paper_account):
    key_reconcile(key_id=alice_bot.key_id)  # learns the usual volume
    assert not _alerts(alice, "volume_unusual")
    paper.add_volume("ETHUSDT", "3000000")
    _fresh_tickers()
    key_reconcile(key_id=alice_bot.key_id)
    [alert] = _alerts(alice, "volume_unusual")
    assert alert.severity == "warning" and alert.title == "Unusual volume in ETH/USDT"


def test_unusual_volume_against_the_candle_history(alice, alice_bot, paper, paper_account):
    from datetime import timedelta

    from django.utils import timezone

    from strategies.models import Candle

    # A stored history of tiny days: today's ordinary volume is far above it.
    now = timezone.now()
    for hours in range(30, 30 + 48, 4):
        Candle.objects.create(exchange="paper", symbol="BTC/USDT", timeframe="4h",
                              open_time=now - timedelta(hours=hours), open=1, high=1, low=1, close=Decimal("100"),
                              volume=Decimal("1"))
    key_reconcile(key_id=alice_bot.key_id)
    [alert] = _alerts(alice, "volume_unusual")
    assert alert.title == "Unusual volume in BTC/USDT"


def test_order_filled_and_order_failed(alice, alice_bot, strategy, paper, paper_account):
    order = signal_execute(bot_id=alice_bot.pk, signal_id=issue_signal(strategy, "BTC/USDT", "buy", "0.2").pk)
    [filled] = _alerts(alice, "order_filled")
    assert filled.order_id == order.pk and filled.severity == "info" and "BTC/USDT" in filled.title
    paper.fault(reject_order={"count": 1, "code": -2010, "msg": "Account has insufficient balance"})
    signal_execute(bot_id=alice_bot.pk, signal_id=issue_signal(strategy, "ETH/USDT", "buy", "0.2").pk)
    [failed] = _alerts(alice, "order_failed")
    assert failed.severity == "warning" and "insufficient balance" in failed.text
    key_reconcile(key_id=alice_bot.key_id)
    assert len(_alerts(alice, "order_filled")) == 1


def test_ignored_signals_come_as_one_digest(alice, alice_bot, strategy, paper, paper_account):
    from portfolios.services import bot_pause

    bot_pause(bot=alice_bot, by=alice, reason="Holiday")
    for market in ("BTC/USDT", "ETH/USDT", "BTC/USDT"):
        signal_execute(bot_id=alice_bot.pk, signal_id=issue_signal(strategy, market, "buy", "0.1").pk)
    digest = signals_ignored_digest(user=alice)
    assert digest.title == "3 signal(s) ignored"
    assert "Bot, BTC/USDT: Bot is paused (x2)" in digest.text
    assert signals_ignored_digest(user=alice) is None
    assert len(_alerts(alice, "signals_ignored")) == 1


def test_drawdown_beyond_the_users_threshold_alerts_once(alice, alice_bot, strategy, paper, paper_account):
    pref = preference_for(user=alice)
    pref.drawdown_threshold = Decimal("10")
    pref.save()
    signal_execute(bot_id=alice_bot.pk, signal_id=issue_signal(strategy, "BTC/USDT", "buy", "0.8").pk)
    key_reconcile(key_id=alice_bot.key_id)
    assert not _alerts(alice, "drawdown")
    paper.move_price("BTCUSDT", factor=0.5)
    _fresh_tickers()
    key_reconcile(key_id=alice_bot.key_id)
    [alert] = _alerts(alice, "drawdown")
    assert alert.severity == "warning" and "below its peak" in alert.text
    _fresh_tickers()
    key_reconcile(key_id=alice_bot.key_id)
    assert len(_alerts(alice, "drawdown")) == 1


def test_a_failed_strategy_run_alerts_staff_only(alice, staff, strategy, settings):
    from strategies.services import strategy_run
    from tests.plugins import free_port

    settings.PAPEREXCHANGE_URL = f"http://127.0.0.1:{free_port()}"  # the exchange is unreachable
    outcome = strategy_run(strategy=strategy)
    assert outcome.status == "failed"
    [alert] = _alerts(staff, "strategy_run_failed")
    assert alert.severity == "warning" and strategy.name in alert.title
    assert not _alerts(alice, "strategy_run_failed")


def test_the_daily_summary_goes_to_those_who_opted_in(alice, bob, alice_bot, paper, paper_account, smtp):
    from alerts.services import deliveries_send_due

    key_reconcile(key_id=alice_bot.key_id)
    pref = preference_for(user=alice)
    pref.daily_summary = True
    pref.save()
    preference_for(user=bob)
    assert daily_summaries() == 1
    [summary] = _alerts(alice, "daily_summary")
    # 10,000 USDT and 10,000 USDC, the USDC at its USDC/USDT price, as the reconciliation valued them.
    account = EquitySnapshot.objects.get(key=alice_bot.key, bot=None)
    assert f"Account equity: {account.equity.quantize(Decimal('0.01'))} USDT" in summary.text
    assert "Trades in 24 h: 0" in summary.text
    assert not _alerts(bob, "daily_summary")
    deliveries_send_due()
    assert any(m["Subject"].startswith("[OneClick] Info: Daily summary") for m in smtp.to("alice@example.com"))
