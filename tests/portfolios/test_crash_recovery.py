"""What a killed worker leaves behind is finished by the recovery pass: lost tasks, unrecorded answers, alerts."""

import signal as signals
import subprocess
import sys
import textwrap
from datetime import timedelta

import pytest

from alerts.models import Alert, Kind
from portfolios.execution import orders_recover, signals_redeliver
from portfolios.models import Order, SignalDecision
from tests.conftest import subprocess_env
from tests.portfolios.conftest import issue_signal, make_bot


@pytest.mark.django_db
def test_a_lost_bot_task_is_queued_again_once_the_queue_is_empty(alice_bot, strategy, paper, paper_account, q_sync):
    # The fan-out's task was taken by a worker that died: nothing was written for the pair.
    signal = issue_signal(strategy, "BTC/USDT", "buy", "0.3")

    assert signals_redeliver(older_than=timedelta(0), queue_size=3) == []  # tasks still queued: wait
    assert signals_redeliver(older_than=timedelta(minutes=5), queue_size=0) == []  # too young: first delivery
    assert signals_redeliver(older_than=timedelta(0), queue_size=0) == [(alice_bot.pk, signal.pk)]

    order = Order.objects.get(bot=alice_bot, signal=signal)
    assert order.state == "filled"
    assert len(paper.account(paper_account.id)["orders"]) == 1
    assert signals_redeliver(older_than=timedelta(0), queue_size=0) == []  # decided: never again


@pytest.mark.django_db
def test_redelivery_skips_superseded_signals_and_bots_started_later(alice, alice_paper_key, strategy, paper,
                                                                   paper_account, q_sync):
    older = issue_signal(strategy, "BTC/USDT", "buy", "0.3")
    newer = issue_signal(strategy, "BTC/USDT", "hold", "0")
    bot = make_bot(alice, alice_paper_key, strategy, markets=("BTC/USDT",))
    bot.created = newer.created - timedelta(seconds=1)
    bot.save(update_fields=["created"])
    late = make_bot(alice, alice_paper_key, strategy, markets=("BTC/USDT",), name="Started later")
    late.created = newer.created + timedelta(seconds=2)
    late.save(update_fields=["created"])

    assert signals_redeliver(older_than=timedelta(0), queue_size=0) == [(bot.pk, newer.pk)]
    assert not SignalDecision.objects.filter(signal=older).exists()
    assert not SignalDecision.objects.filter(bot=late).exists()
    assert SignalDecision.objects.get(bot=bot, signal=newer).outcome == "hold"


KILLED_WHILE_ALERTING = textwrap.dedent(
    """
    import os, signal, sys
    import django
    django.setup()
    from portfolios import alerting, execution

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    alerting.order_state_alert = die    # the answer is being recorded when the worker dies
    execution.signal_execute(bot_id=int(sys.argv[1]), signal_id=int(sys.argv[2]))
    """
)


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_worker_killed_while_recording_an_answer_still_raises_the_filled_alert_once(alice_bot, strategy, paper,
                                                                                   paper_account):
    signal = issue_signal(strategy, "BTC/USDT", "buy", "0.3")
    worker = subprocess.run(
        [sys.executable, "-c", KILLED_WHILE_ALERTING, str(alice_bot.pk), str(signal.pk)],
        env=subprocess_env(PAPEREXCHANGE_URL=paper.url, LOG_LEVEL="WARNING"),
        capture_output=True, text=True, timeout=120,
    )
    assert worker.returncode == -signals.SIGKILL, worker.stderr[-2000:]
    order = Order.objects.get(bot=alice_bot, signal=signal)
    # Nothing of the answer was kept without its alert: the order still waits for recovery.
    assert order.state == "sent"
    assert not Alert.objects.filter(order=order).exists()

    assert orders_recover(older_than=timedelta(0)) == 1
    order.refresh_from_db()
    assert order.state == "filled"
    assert Alert.objects.filter(order=order, kind=Kind.ORDER_FILLED).count() == 1
    assert len(paper.account(paper_account.id)["orders"]) == 1
