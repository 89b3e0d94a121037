"""Orders have a queue of their own: a signal's bot tasks, their retries and redeliveries go there and nothing
else does, so reconciliations, alerts, training and backtests never delay an order."""

from datetime import timedelta

import pytest
from django.conf import settings
from django_q.conf import Conf
from django_q.models import Schedule

from alerts.models import Kind, Severity
from alerts.services import alert_raise
from portfolios.execution import signals_redeliver
from portfolios.queueing import reconcile_soon
from portfolios.services import BATCH_TASK, signals_fan_out
from portfolios.tasks import bot_signal_execute
from tests.portfolios.conftest import issue_signal
from tests.strategies.conftest import empty_queue, queued_tasks  # noqa: F401 (fixture)
from tests.strategies.test_backtest_limits import _conf_in_child

pytestmark = pytest.mark.django_db


def test_a_qcluster_serves_the_orders_queue_only_when_told():
    name = settings.Q_CLUSTER["name"]
    assert settings.ORDERS_QUEUE == f"{name}-orders"
    orders = _conf_in_child(Q_QUEUE="orders", Q_WORKERS="3", Q_ORDER_WORKERS="2")
    # Its own queue, the same signing salt (the main workers' payloads read there), its own worker count.
    assert orders.stdout.split() == [f"{name}-orders", name, "2"], orders.stderr[-2000:]
    wrong = _conf_in_child(Q_QUEUE="order")
    assert wrong.returncode != 0 and "'orders' or 'backtests'" in wrong.stderr


def test_a_fan_out_and_its_redelivery_go_to_the_orders_queue(alice_bot, strategy, empty_queue):
    signal = issue_signal(strategy, "BTC/USDT", "buy", "0.3")
    signals_fan_out(signal_ids=[signal.pk])
    assert queued_tasks() == []
    assert queued_tasks(settings.ORDERS_QUEUE) == [(BATCH_TASK, (signal.pk, [alice_bot.pk]))]

    # Redelivery waits while the orders queue holds tasks (not the main queue: that one may be busy for minutes).
    signals_fan_out(signal_ids=[signal.pk])
    assert signals_redeliver(older_than=timedelta(0)) == []
    queued_tasks(settings.ORDERS_QUEUE)
    reconcile_soon(alice_bot.key_id)  # a busy main queue does not hold it up
    assert signals_redeliver(older_than=timedelta(0)) == [(alice_bot.pk, signal.pk)]
    assert queued_tasks(settings.ORDERS_QUEUE) == [("portfolios.tasks.bot_signal_execute", (alice_bot.pk, signal.pk))]


def test_work_an_order_task_queues_goes_to_the_main_queue_and_its_retries_to_the_orders_one(
        alice, alice_bot, strategy, paper, empty_queue, monkeypatch, django_capture_on_commit_callbacks):
    # Inside an orders worker, django-q2 would queue a task without a named queue on the orders queue itself.
    monkeypatch.setattr(Conf, "CLUSTER_NAME", settings.ORDERS_QUEUE)
    reconcile_soon(alice_bot.key_id)
    with django_capture_on_commit_callbacks(execute=True):
        alert_raise(user=alice, kind=Kind.ORDER_FILLED, severity=Severity.CRITICAL, title="Bought")
    main = [func for func, _args in queued_tasks(settings.TASKS_QUEUE)]
    assert "portfolios.tasks.key_reconcile_task" in main and "alerts.tasks.alert_deliver" in main
    assert queued_tasks(settings.ORDERS_QUEUE) == []

    # A bot whose market data cannot be read yet is tried again later, on the orders queue's scheduler.
    signal = issue_signal(strategy, "BTC/USDT", "buy", "0.3")
    paper.fault(error={"status": 503, "count": 20})
    assert bot_signal_execute(alice_bot.pk, signal.pk) is None
    retry = Schedule.objects.get(func="portfolios.tasks.bot_signal_execute")
    assert retry.cluster == settings.ORDERS_QUEUE
    assert "attempt" in retry.kwargs
