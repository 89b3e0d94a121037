"""Orders right under faults a single worker can show: a worker clock off by a minute, a request that may still
execute, a sell right after (or during) a buy, orders no longer wanted, a key disabled mid-flight, stuck orders."""

import logging
import time
from contextlib import contextmanager
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal
from unittest import mock

import pytest
from django.utils import timezone
from django_q.models import Schedule

from alerts.models import Alert, Kind
from keys.services import key_disable, key_exchange
from oneclick.health import clock_check, health_report
from oneclick.lib.clock import clock_offset, db_now
from portfolios import queueing
from portfolios.execution import orders_recover, signal_execute
from portfolios.models import Balance, Order, Position, SignalDecision
from portfolios.reconcile import key_reconcile
from portfolios.services import bot_pause
from portfolios.tasks import bot_signal_execute, reconcile_all
from strategies.models import Signal
from tests.conftest import enable_two_factor, login_verified
from tests.portfolios.conftest import issue_signal

pytestmark = pytest.mark.django_db

STEP = Decimal("0.00001")  # the paper exchange's BTC lot step


@contextmanager
def worker_clock(seconds):
    """This process's clock shifted, as on a worker whose machine's time is off (the database's is not)."""
    real_time, real_now = time.time, timezone.now
    with mock.patch("time.time", lambda: real_time() + seconds), \
            mock.patch.object(timezone, "now", lambda: real_now() + timedelta(seconds=seconds)):
        yield


def _exchange_orders(paper, account):
    return paper.account(account.id)["orders"]


def _written(bot, signal, *, quantity="0.001", state=Order.State.SENT, deadline_in_ms=None, created=None):
    """An order row as a worker leaves it between sending and recording the answer (``state=sent``), or
    right after writing it (``pending``). ``deadline_in_ms``: from the exchange's clock now."""
    _key, exchange = key_exchange(key_id=bot.key_id, read_only=True)
    fields = {}
    if state == Order.State.SENT:
        fields = {"attempts": 1, "sent_at": db_now(),
                  "request_deadline_ms": exchange.exchange_clock_ms() + (deadline_in_ms or 0)}
    if created is not None:
        fields["created"] = created
    order = Order.objects.create(
        bot=bot, key=bot.key, signal=signal, market=signal.market, side=signal.action, quantity=Decimal(quantity),
        reference_price=Decimal("100"), state=state,
        client_order_id=exchange.client_order_id(bot_id=bot.pk, tag=f"s{signal.pk}", salt=signal.signature),
        **fields)
    SignalDecision.objects.create(bot=bot, signal=signal, outcome="ordered", reason="test")
    return order


def _executed_elsewhere(paper, account, order):
    """The order's request reached the exchange and executed; its answer is not recorded (yet)."""
    paper.ccxt(account.key).create_order(order.market, "market", order.side, float(order.quantity),
                                         params={"newClientOrderId": order.client_order_id})


# --- one clock ------------------------------------------------------------------------------------


def test_the_database_clock_is_the_one_clock_whatever_the_worker_clock_says():
    real = db_now()
    with worker_clock(3600):
        assert abs((db_now() - real).total_seconds()) < 5
        assert clock_offset() == pytest.approx(3600, abs=5)
    assert abs(clock_offset()) < 2


def test_a_worker_clock_a_minute_behind_still_acts_on_a_fresh_signal(alice_bot, strategy, paper, paper_account):
    signal = issue_signal(strategy, "BTC/USDT", "buy", "0.3")
    with worker_clock(-60):
        order = signal_execute(bot_id=alice_bot.pk, signal_id=signal.pk)
    order.refresh_from_db()
    assert order.state == Order.State.FILLED, SignalDecision.objects.filter(signal=signal).values_list("reason")
    assert [o["clientOrderId"] for o in _exchange_orders(paper, paper_account)] == [order.client_order_id]


def test_a_worker_clock_a_minute_ahead_never_resends_an_order_whose_request_may_still_execute(
        alice_bot, strategy, paper, paper_account):
    signal = issue_signal(strategy, "BTC/USDT", "buy", "0.3")
    # Another worker sent it a moment ago; its request can execute for 20 s more by the exchange's clock.
    order = _written(alice_bot, signal, deadline_in_ms=20_000)
    with worker_clock(60):
        orders_recover()
        orders_recover(older_than=timedelta(0))
    order.refresh_from_db()
    assert order.state == Order.State.SENT and order.attempts == 1
    assert _exchange_orders(paper, paper_account) == []

    # Once the request can no longer execute and the exchange does not have it, it is sent once, same id.
    Order.objects.filter(pk=order.pk).update(request_deadline_ms=order.request_deadline_ms - 60_000)
    with worker_clock(60):
        orders_recover(older_than=timedelta(0))
        orders_recover(older_than=timedelta(0))
    order.refresh_from_db()
    assert order.state == Order.State.FILLED and order.attempts == 2
    assert [o["clientOrderId"] for o in _exchange_orders(paper, paper_account)] == [order.client_order_id]


def test_a_worker_whose_clock_is_off_says_so_at_start_and_in_healthz(client, caplog):
    with caplog.at_level(logging.WARNING, logger="oneclick.health"), worker_clock(60):
        clock_check(role="worker")
    assert "clock is 60.0 s ahead of the database's" in caplog.text
    _ok, checks = health_report()
    assert checks["clock"]["ok"] is False
    assert "(worker): clock 60.0 s ahead of the database's" in checks["clock"]["detail"]
    body = client.get("/healthz").json()
    assert body["status"] == "fail" and body["checks"]["clock"]["ok"] is False

    clock_check(role="worker")  # the machine's time was fixed: the next reading says so
    _ok, checks = health_report()
    assert checks["clock"] == {"ok": True, "detail": "2 process(es) within 2 s of the database's clock"}


# --- sizing from the books ------------------------------------------------------------------------


def test_a_sell_right_after_a_buy_sells_what_the_buy_got(alice_bot, strategy, paper, paper_account):
    buy = signal_execute(bot_id=alice_bot.pk, signal_id=issue_signal(strategy, "BTC/USDT", "buy", "0.5").pk)
    buy.refresh_from_db()
    # No reconciliation in between: the position and the free balance come from the buy's own fills.
    got = Position.objects.get(bot=alice_bot, market="BTC/USDT").quantity
    assert got == buy.filled_quantity * Decimal("0.999")  # 0.1 % fee in BTC
    sell = signal_execute(bot_id=alice_bot.pk, signal_id=issue_signal(strategy, "BTC/USDT", "sell", "1").pk)
    sell.refresh_from_db()
    assert sell.state == Order.State.FILLED, sell
    assert sell.quantity == got.quantize(STEP, rounding=ROUND_DOWN)
    assert Position.objects.get(bot=alice_bot, market="BTC/USDT").quantity == got - sell.quantity
    assert len(_exchange_orders(paper, paper_account)) == 2


def test_a_sell_refused_for_funds_reads_the_balance_once_and_sells_what_the_account_holds(alice_bot, strategy,
                                                                                         paper, paper_account):
    signal_execute(bot_id=alice_bot.pk, signal_id=issue_signal(strategy, "BTC/USDT", "buy", "0.5").pk)
    got = Position.objects.get(bot=alice_bot, market="BTC/USDT").quantity
    paper.foreign_trade(paper_account.id, "BTCUSDT", "0.0005", side="SELL")  # sold on the exchange's own site
    sell = signal_execute(bot_id=alice_bot.pk, signal_id=issue_signal(strategy, "BTC/USDT", "sell", "1").pk)
    sell.refresh_from_db()
    assert sell.state == Order.State.FILLED
    assert sell.quantity == (got - Decimal("0.0005")).quantize(STEP, rounding=ROUND_DOWN)
    assert [o["side"] for o in _exchange_orders(paper, paper_account)] == ["BUY", "SELL", "SELL"]
    assert paper.counters()["orders_by_client_order_id"][sell.client_order_id] == 1


def test_a_sell_waits_for_the_buy_still_in_flight_and_sells_what_it_got(alice_bot, strategy, paper, paper_account):
    buy_signal = issue_signal(strategy, "BTC/USDT", "buy", "0.3")
    buy = _written(alice_bot, buy_signal, quantity="0.002", deadline_in_ms=1500)
    _executed_elsewhere(paper, paper_account, buy)
    sell = signal_execute(bot_id=alice_bot.pk, signal_id=issue_signal(strategy, "BTC/USDT", "sell", "1").pk)
    buy.refresh_from_db()
    sell.refresh_from_db()
    assert buy.state == Order.State.FILLED and buy.attempts == 1
    assert sell.state == Order.State.FILLED
    assert sell.quantity == (Decimal("0.002") * Decimal("0.999")).quantize(STEP, rounding=ROUND_DOWN)
    assert [o["side"] for o in _exchange_orders(paper, paper_account)] == ["BUY", "SELL"]


def test_a_sell_blocked_by_an_unresolved_order_waits_then_says_so_at_once(alice_bot, strategy, paper, paper_account):
    _written(alice_bot, issue_signal(strategy, "BTC/USDT", "buy", "0.3"), deadline_in_ms=60_000)
    sell_signal = issue_signal(strategy, "BTC/USDT", "sell", "1")

    assert bot_signal_execute(alice_bot.pk, sell_signal.pk).startswith("waits: The bot's earlier buy order")
    [retry] = Schedule.objects.filter(func="portfolios.tasks.bot_signal_execute")
    assert retry.name == f"bot {alice_bot.pk} signal {sell_signal.pk} waits #1"
    assert retry.kwargs == "{'attempt': 0, 'waited': 1}"
    assert not SignalDecision.objects.filter(signal=sell_signal).exists()

    # The last try gives up: the decision says why, and the owner hears it now, not in a digest.
    bot_signal_execute(alice_bot.pk, sell_signal.pk, waited=8)
    decision = SignalDecision.objects.get(signal=sell_signal)
    assert decision.outcome == "ignored" and "earlier buy order in BTC/USDT is not resolved yet" in decision.reason
    [alert] = Alert.objects.filter(kind=Kind.SELL_NOT_PLACED)
    assert alert.bot == alice_bot and alert.title == "Sell not placed: BTC/USDT"
    assert len(_exchange_orders(paper, paper_account)) == 0


# --- orders no longer wanted ----------------------------------------------------------------------


@pytest.mark.parametrize("case, reason", [
    ("superseded", "Not sent: a newer signal superseded it"),
    ("paused", "Not sent: the bot is paused"),
    ("disabled", "Not sent: the exchange key is disabled"),
    ("expired", "Not sent: its signal expired"),
])
def test_an_order_no_longer_wanted_is_canceled_with_the_reason_not_sent_late(case, reason, alice_bot, strategy,
                                                                             paper, paper_account):
    signal = issue_signal(strategy, "BTC/USDT", "buy", "0.3")
    order = _written(alice_bot, signal, state=Order.State.PENDING)
    if case == "superseded":
        issue_signal(strategy, "BTC/USDT", "hold", "0")
    elif case == "paused":
        bot_pause(bot=alice_bot, reason="Paused by the owner")
    elif case == "disabled":
        key_disable(key=alice_bot.key)
    else:
        Signal.objects.filter(pk=signal.pk).update(expires=db_now() - timedelta(seconds=1))

    orders_recover(older_than=timedelta(0))
    order.refresh_from_db()
    assert (order.state, order.error) == (Order.State.CANCELED, reason)
    [alert] = Alert.objects.filter(order=order)
    assert alert.kind == Kind.ORDER_NOT_SENT and alert.text == f"Bot {alice_bot.name}: {reason}"
    orders_recover(older_than=timedelta(0))
    assert _exchange_orders(paper, paper_account) == []


def test_a_key_disabled_mid_flight_resolves_its_orders_by_lookup(alice_bot, strategy, paper, paper_account):
    executed = _written(alice_bot, issue_signal(strategy, "BTC/USDT", "buy", "0.3"), quantity="0.002")
    _executed_elsewhere(paper, paper_account, executed)
    never_arrived = _written(alice_bot, issue_signal(strategy, "ETH/USDT", "buy", "0.3"), quantity="0.01")
    key_disable(key=alice_bot.key)

    orders_recover(older_than=timedelta(0))
    executed.refresh_from_db()
    never_arrived.refresh_from_db()
    assert executed.state == Order.State.FILLED  # looked up with the disabled key, read only
    assert Position.objects.get(bot=alice_bot, market="BTC/USDT").quantity == Decimal("0.002") * Decimal("0.999")
    assert (never_arrived.state, never_arrived.error) == (Order.State.CANCELED,
                                                          "Not sent: the exchange key is disabled")
    assert [o["clientOrderId"] for o in _exchange_orders(paper, paper_account)] == [executed.client_order_id]


# --- positions true within seconds ----------------------------------------------------------------


def test_the_recovery_pass_updates_the_position_from_the_orders_fills(alice_bot, strategy, paper,
                                                                     paper_account, monkeypatch):
    queued = []
    monkeypatch.setattr(queueing, "async_task", lambda func, *args, **kwargs: queued.append((func, args)))
    order = _written(alice_bot, issue_signal(strategy, "BTC/USDT", "buy", "0.3"), quantity="0.002")
    _executed_elsewhere(paper, paper_account, order)

    orders_recover(older_than=timedelta(0))
    assert Position.objects.get(bot=alice_bot, market="BTC/USDT").quantity == Decimal("0.002") * Decimal("0.999")
    assert queued == []  # its fills were read: the books are exact, the 5-minute pass reads the account


def test_a_disabled_keys_balances_are_still_read(alice_bot, paper, paper_account, monkeypatch):
    queued = []
    monkeypatch.setattr("portfolios.tasks.async_task", lambda func, *args, **kwargs: queued.append((func, args)))
    key_disable(key=alice_bot.key)
    paper.foreign_trade(paper_account.id, "BTCUSDT", "0.001")

    assert reconcile_all() == 1
    assert queued == [("portfolios.tasks.key_reconcile_task", (alice_bot.key_id,))]
    key_reconcile(key_id=alice_bot.key_id)
    theirs = paper.account(paper_account.id)["balances"]
    assert Balance.objects.get(key=alice_bot.key, asset="BTC").total == (
        Decimal(theirs["BTC"]["free"]) + Decimal(theirs["BTC"]["locked"]))
    assert [o["clientOrderId"][:4] for o in _exchange_orders(paper, paper_account)] == ["web_"]  # the foreign one


# --- nothing stuck in silence ---------------------------------------------------------------------


def test_an_order_unresolved_for_minutes_raises_one_warning_and_is_in_the_stuck_list(client, staff, bob,
                                                                                    alice_bot, strategy, paper,
                                                                                    paper_account):
    signal = issue_signal(strategy, "BTC/USDT", "buy", "0.3")
    stuck = _written(alice_bot, signal, deadline_in_ms=60_000, created=db_now() - timedelta(minutes=4))
    fresh = _written(alice_bot, issue_signal(strategy, "ETH/USDT", "buy", "0.3"), deadline_in_ms=60_000)

    orders_recover()
    orders_recover()
    [alert] = Alert.objects.filter(kind=Kind.ORDER_STUCK)
    assert alert.order == stuck and alert.severity == "warning"
    assert alert.title == "Order waiting for 4 min: buy 0.001 BTC/USDT"
    assert "looked up by its client order id until the exchange can tell" in alert.text

    device, _codes = enable_two_factor(staff)
    login_verified(client, staff, device)
    page = client.get("/admin/portfolios/stuckorder/").content.decode()
    assert stuck.client_order_id in page and fresh.client_order_id not in page
    client.force_login(bob)
    assert client.get("/admin/portfolios/stuckorder/").status_code == 302  # not staff: to the admin sign-in


def test_the_recovery_pass_queues_the_reconciliation_a_flushed_queue_lost(alice_bot, strategy, paper, paper_account,
                                                                         monkeypatch):
    from django.core.cache import cache

    from exchanges import Transient
    from exchanges.base import Exchange
    from portfolios.tasks import bot_signal_execute, reconciles_owed

    queued = []
    monkeypatch.setattr(queueing, "async_task", lambda func, *args, **kwargs: queued.append((func, args)))

    def unreadable(self, **kwargs):
        raise Transient("Exchange unavailable")

    # The answer is lost and the order's fills cannot be read after its lookup: a reconciliation is queued.
    with monkeypatch.context() as patch:
        patch.setattr(Exchange, "order_fills", unreadable)
        paper.fault(lost_response={"count": 1})
        bot_signal_execute(alice_bot.pk, issue_signal(strategy, "BTC/USDT", "buy", "0.3").pk)
    assert queued == [("portfolios.tasks.key_reconcile_task", (alice_bot.key_id,))]
    cache.clear()  # the queue and its marks flushed: that task is gone
    assert reconciles_owed() == 1
    assert queued[-1] == ("portfolios.tasks.key_reconcile_task", (alice_bot.key_id,))
    key_reconcile(key_id=alice_bot.key_id)
    assert reconciles_owed() == 0
