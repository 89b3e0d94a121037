from decimal import Decimal

import pytest

from portfolios.execution import signal_execute
from portfolios.models import Fill, Order, Position, SignalDecision
from portfolios.reconcile import key_reconcile
from portfolios.tasks import bot_signal_execute
from strategies.models import Signal
from tests.portfolios.conftest import issue_signal, make_bot

pytestmark = pytest.mark.django_db


def _exchange_orders(paper, paper_account):
    return paper.account(paper_account.id)["orders"]


def test_a_buy_signal_places_exactly_one_order_with_the_right_size_and_fees(alice_bot, strategy, paper, paper_account):
    signal = issue_signal(strategy, "BTC/USDT", "buy", "0.5")
    order = signal_execute(bot_id=alice_bot.pk, signal_id=signal.pk)
    order.refresh_from_db()
    assert order.state == "filled"
    assert order.exchange_order_id
    # 0.5 x 500 USDT at the current price, rounded down to the lot step (0.00001 BTC).
    assert order.quantity == (Decimal("250") / order.reference_price).quantize(Decimal("0.00001"), rounding="ROUND_DOWN")
    exchange_orders = _exchange_orders(paper, paper_account)
    assert len(exchange_orders) == 1
    assert exchange_orders[0]["clientOrderId"] == order.client_order_id

    key_reconcile(key_id=alice_bot.key_id)
    fills = list(Fill.objects.filter(order=order))
    assert fills and all(not f.foreign for f in fills)
    assert sum(f.quantity for f in fills) == order.quantity
    # The paper exchange charges 0.1 % in the asset received (BTC on a buy).
    assert all(f.fee_asset == "BTC" for f in fills)
    assert sum(f.fee for f in fills) == order.quantity * Decimal("0.001")
    position = Position.objects.get(bot=alice_bot, market="BTC/USDT")
    assert position.quantity == order.quantity * Decimal("0.999")
    decision = SignalDecision.objects.get(bot=alice_bot, signal=signal)
    assert decision.outcome == "ordered"


def test_a_sell_signal_sells_the_share_of_the_real_position(alice_bot, strategy, paper, paper_account):
    signal_execute(bot_id=alice_bot.pk, signal_id=issue_signal(strategy, "BTC/USDT", "buy", "0.5").pk)
    key_reconcile(key_id=alice_bot.key_id)
    held = Position.objects.get(bot=alice_bot, market="BTC/USDT").quantity
    sell = signal_execute(bot_id=alice_bot.pk, signal_id=issue_signal(strategy, "BTC/USDT", "sell", "1").pk)
    sell.refresh_from_db()
    assert sell.side == "sell" and sell.state == "filled"
    assert sell.quantity == held.quantize(Decimal("0.00001"), rounding="ROUND_DOWN")
    key_reconcile(key_id=alice_bot.key_id)
    position = Position.objects.get(bot=alice_bot, market="BTC/USDT")
    assert position.quantity < Decimal("0.00001")
    assert len(_exchange_orders(paper, paper_account)) == 2


def test_the_same_task_delivered_twice_places_one_order(alice_bot, strategy, paper, paper_account):
    signal = issue_signal(strategy, "ETH/USDT", "buy", "0.2")
    bot_signal_execute(alice_bot.pk, signal.pk)
    bot_signal_execute(alice_bot.pk, signal.pk)
    assert Order.objects.filter(bot=alice_bot, signal=signal).count() == 1
    assert len(_exchange_orders(paper, paper_account)) == 1


def test_orders_whose_answers_tell_their_fills_queue_no_reconciliation_one_whose_fills_cannot_be_read_does(
        alice_bot, strategy, paper, paper_account, monkeypatch):
    from exchanges import Transient
    from exchanges.base import Exchange
    from portfolios import queueing
    from portfolios.tasks import key_reconcile_task

    queued = []
    monkeypatch.setattr(queueing, "async_task", lambda func, *args, **kwargs: queued.append((func, args)))
    for market in ("ETH/USDT", "BTC/USDT"):
        bot_signal_execute(alice_bot.pk, issue_signal(strategy, market, "buy", "0.2").pk)
    # Each answer told its fills: the position is true and the books exact, no account read is queued.
    assert queued == []
    for order in Order.objects.filter(bot=alice_bot):
        assert order.state == "filled" and sum(f.quantity for f in order.fills.all()) == order.filled_quantity
        assert Position.objects.get(bot=alice_bot, market=order.market).quantity > 0

    # The answer is lost; the order is found by its client order id (a lookup tells no fills), and its
    # fills cannot be read now: the account's reconciliation is queued to find them.
    def unreadable(self, **kwargs):
        raise Transient("Exchange unavailable")

    monkeypatch.setattr(Exchange, "order_fills", unreadable)
    paper.fault(lost_response={"count": 1})
    bot_signal_execute(alice_bot.pk, issue_signal(strategy, "ETH/USDT", "sell", "0.5").pk)
    sell = Order.objects.get(bot=alice_bot, side="sell")
    assert sell.state == "filled" and not sell.fills.exists()
    assert queued == [("portfolios.tasks.key_reconcile_task", (alice_bot.key_id,))]

    monkeypatch.undo()
    key_reconcile_task(alice_bot.key_id)
    assert sum(f.quantity for f in sell.fills.all()) == sell.filled_quantity


@pytest.mark.parametrize(
    "case, expected",
    [
        ("oversize", "Beyond the bot's position cap"),
        ("wrong_market", "not one of the bot's markets"),
        ("expired", "expired"),
        ("tampered", "signature does not match"),
        ("paused", "Bot is paused"),
        ("disabled_key", "Exchange key is disabled"),
        ("below_min_notional", "min notional"),
    ],
)
def test_refused_signals_place_no_order_and_say_why(case, expected, alice_bot, strategy, paper, paper_account):
    from keys.services import key_disable
    from portfolios.services import bot_pause

    if case == "oversize":
        signal = issue_signal(strategy, "BTC/USDT", "buy", "1")  # 500 USDT > cap 400
    elif case == "wrong_market":
        signal = issue_signal(strategy, "BTC/USDC", "buy", "0.1")
    elif case == "expired":
        signal = issue_signal(strategy, "BTC/USDT", "buy", "0.1", expired=True)
    elif case == "tampered":
        signal = issue_signal(strategy, "BTC/USDT", "buy", "0.1")
        Signal.objects.filter(pk=signal.pk).update(fraction=Decimal("0.2"))
    elif case == "paused":
        bot_pause(bot=alice_bot, reason="test")
        signal = issue_signal(strategy, "BTC/USDT", "buy", "0.1")
    elif case == "disabled_key":
        key_disable(key=alice_bot.key, reason="test")
        alice_bot.refresh_from_db()
        from portfolios.services import bot_state_set

        bot_state_set(bot=alice_bot, to_state="running", reason="test: running on a disabled key")
        signal = issue_signal(strategy, "BTC/USDT", "buy", "0.1")
    else:
        signal = issue_signal(strategy, "ETH/USDT", "buy", "0.005")  # 2.5 USDT < 5 USDT
    assert signal_execute(bot_id=alice_bot.pk, signal_id=signal.pk) is None or case in ("paused", "disabled_key", "wrong_market", "expired")
    assert not Order.objects.filter(bot=alice_bot).exists()
    assert _exchange_orders(paper, paper_account) == []
    decision = SignalDecision.objects.get(bot=alice_bot, signal=signal)
    assert decision.outcome == "ignored"
    assert expected in decision.reason


def test_a_replayed_signal_is_refused(alice_bot, strategy, paper, paper_account):
    first = issue_signal(strategy, "BTC/USDT", "buy", "0.1")
    second = issue_signal(strategy, "BTC/USDT", "buy", "0.1")
    signal_execute(bot_id=alice_bot.pk, signal_id=second.pk)
    signal_execute(bot_id=alice_bot.pk, signal_id=first.pk)  # older, delivered late
    assert Order.objects.filter(bot=alice_bot).count() == 1
    late = SignalDecision.objects.get(bot=alice_bot, signal=first)
    assert late.outcome == "ignored"


def test_hold_places_nothing_and_is_recorded(alice_bot, strategy, paper, paper_account):
    signal = issue_signal(strategy, "BTC/USDT", "hold", "0")
    signal_execute(bot_id=alice_bot.pk, signal_id=signal.pk)
    assert SignalDecision.objects.get(bot=alice_bot, signal=signal).outcome == "hold"
    assert _exchange_orders(paper, paper_account) == []


def test_usdc_bot_refuses_usdt_markets(alice, alice_paper_key, strategy, paper, paper_account):
    bot = make_bot(alice, alice_paper_key, strategy, markets=("BTC/USDT",), quote="USDC")
    signal = issue_signal(strategy, "BTC/USDT", "buy", "0.1")
    signal_execute(bot_id=bot.pk, signal_id=signal.pk)
    assert "not quoted in USDC" in SignalDecision.objects.get(bot=bot, signal=signal).reason


def test_an_order_above_the_market_maximum_is_ignored_not_trimmed(alice, alice_paper_key, strategy, paper, paper_account):
    whale = make_bot(alice, alice_paper_key, strategy, allocation="100000000", cap="1000000000")
    signal = issue_signal(strategy, "BTC/USDT", "buy", "1")
    signal_execute(bot_id=whale.pk, signal_id=signal.pk)
    reason = SignalDecision.objects.get(bot=whale, signal=signal).reason
    assert "largest market order" in reason and "not trimmed" in reason
    assert _exchange_orders(paper, paper_account) == []
