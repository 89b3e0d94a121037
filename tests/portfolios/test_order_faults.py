"""Lost answers, server errors, rate limits and crashes: still exactly one order."""

import signal as signals
import subprocess
import sys
import textwrap
from datetime import timedelta
from decimal import Decimal

import pytest

from portfolios.execution import orders_recover, signal_execute
from portfolios.models import Order
from tests.conftest import subprocess_env
from tests.portfolios.conftest import issue_signal


def _exchange_orders(paper, paper_account):
    return paper.account(paper_account.id)["orders"]


@pytest.mark.django_db
def test_lost_response_is_found_by_client_order_id_not_resent(alice_bot, strategy, paper, paper_account):
    paper.fault(lost_response={"count": 1})
    signal = issue_signal(strategy, "BTC/USDT", "buy", "0.3")
    order = signal_execute(bot_id=alice_bot.pk, signal_id=signal.pk)
    order.refresh_from_db()
    assert order.state == "filled"
    assert order.attempts == 1
    orders = _exchange_orders(paper, paper_account)
    assert len(orders) == 1 and orders[0]["clientOrderId"] == order.client_order_id


@pytest.mark.django_db
def test_server_error_before_execution_is_sent_again_with_the_same_id(alice_bot, strategy, paper, paper_account):
    paper.fault(error={"count": 1, "status": 503, "scope": "orders", "execute": False})
    signal = issue_signal(strategy, "BTC/USDT", "buy", "0.3")
    order = signal_execute(bot_id=alice_bot.pk, signal_id=signal.pk)
    order.refresh_from_db()
    assert order.state == "filled"
    assert order.attempts == 2
    assert len(_exchange_orders(paper, paper_account)) == 1


@pytest.mark.django_db
def test_rate_limited_send_waits_for_the_recovery_pass(alice_bot, strategy, paper, paper_account):
    signal = issue_signal(strategy, "BTC/USDT", "buy", "0.3")
    paper.fault(force={"status": 429, "count": 1}, latency={"ms": 0})
    # Market data is read first; the 429 must hit the order itself.
    from portfolios import execution

    original = execution.order_send

    def send_after_fault(**kwargs):
        paper.fault(force={"status": 429, "count": 1})
        return original(**kwargs)

    execution.order_send = send_after_fault
    paper.clear_faults()
    try:
        order = signal_execute(bot_id=alice_bot.pk, signal_id=signal.pk)
    finally:
        execution.order_send = original
    order.refresh_from_db()
    assert order.state == "pending"
    assert _exchange_orders(paper, paper_account) == []
    orders_recover(older_than=timedelta(0))
    order.refresh_from_db()
    assert order.state == "filled"
    assert len(_exchange_orders(paper, paper_account)) == 1


CRASHING_WORKER = textwrap.dedent(
    """
    import os, signal, sys
    import django
    django.setup()
    from portfolios import execution

    point = sys.argv[3]

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    if point == "before_send":
        execution.order_send = die          # after the write-ahead commit, before the exchange call
    else:
        execution.order_record = die        # after the exchange accepted, before the answer is stored
    execution.signal_execute(bot_id=int(sys.argv[1]), signal_id=int(sys.argv[2]))
    """
)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("point", ["before_send", "before_record"])
def test_worker_killed_mid_order_leaves_exactly_one_order_after_recovery(point, alice_bot, strategy, paper, paper_account):
    signal = issue_signal(strategy, "BTC/USDT", "buy", "0.3")
    worker = subprocess.run(
        [sys.executable, "-c", CRASHING_WORKER, str(alice_bot.pk), str(signal.pk), point],
        env=subprocess_env(PAPEREXCHANGE_URL=paper.url, LOG_LEVEL="WARNING"),
        capture_output=True, text=True, timeout=120,
    )
    assert worker.returncode == -signals.SIGKILL, worker.stderr[-2000:]
    order = Order.objects.get(bot=alice_bot, signal=signal)
    assert order.state == ("pending" if point == "before_send" else "sent")
    assert len(_exchange_orders(paper, paper_account)) == (0 if point == "before_send" else 1)

    # The same task delivered again meanwhile does not send a second order.
    signal_execute(bot_id=alice_bot.pk, signal_id=signal.pk)
    assert len(_exchange_orders(paper, paper_account)) == (0 if point == "before_send" else 1)

    assert orders_recover(older_than=timedelta(0)) == 1
    order.refresh_from_db()
    assert order.state == "filled"
    orders = _exchange_orders(paper, paper_account)
    assert len(orders) == 1 and orders[0]["clientOrderId"] == order.client_order_id


@pytest.mark.django_db
def test_a_reconciliation_while_an_order_is_in_flight_does_not_call_its_trade_foreign(
        alice_bot, strategy, paper, paper_account, monkeypatch):
    from alerts.models import Alert
    from portfolios import execution, reconcile
    from portfolios.models import Fill, Position

    # A reconciliation of the account has looked up the orders it knew; then a bot's order
    # executes at the exchange, and the pass reads the trades before that order's answer is recorded.
    record, resolve = execution.order_record, reconcile._resolve_open_orders
    answers = []
    signal = issue_signal(strategy, "BTC/USDT", "buy", "0.3")

    def resolve_then_an_order_executes(key, exchange):
        blocked = resolve(key, exchange)
        monkeypatch.setattr(execution, "order_record", lambda **kwargs: answers.append(kwargs) or kwargs["order"])
        signal_execute(bot_id=alice_bot.pk, signal_id=signal.pk)
        return blocked

    monkeypatch.setattr(reconcile, "_resolve_open_orders", resolve_then_an_order_executes)
    report = reconcile.key_reconcile(key_id=alice_bot.key_id)
    assert len(answers) == 1 and report["new_fills"] == 0  # the trade waits for the order's answer
    monkeypatch.undo()

    order = record(**answers[0])
    reconcile.key_reconcile(key_id=alice_bot.key_id)
    fills = Fill.objects.filter(key=alice_bot.key)
    assert fills.exists() and not fills.filter(foreign=True).exists()
    assert {fill.order_id for fill in fills} == {order.pk}
    assert Position.objects.get(bot=alice_bot, market="BTC/USDT").quantity == order.quantity * Decimal("0.999")
    assert not Alert.objects.filter(kind__startswith="foreign").exists()
