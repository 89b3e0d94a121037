"""After the signals commit: one task per (running bot on that strategy and market, signal), ids only."""

from datetime import timedelta

from strategies.models import Signal
from strategies.services import BOT_TASK, signals_fan_out, strategy_create, strategy_run

from .conftest import CLOSE, make_bot, queued_tasks


def test_fan_out_queues_one_task_per_subscribed_running_bot(paper, trend, alice, bob, empty_queue, django_capture_on_commit_callbacks):
    both = make_bot(alice, trend, ["BTC/USDT", "ETH/USDT"])
    btc_only = make_bot(bob, trend, ["BTC/USDT"])
    make_bot(alice, trend, ["BTC/USDT", "ETH/USDT"], state="paused")
    make_bot(bob, trend, ["SOL/USDT"])
    other = strategy_create(name="Other", kind="trend", markets=["BTC/USDT"])
    make_bot(alice, other, ["BTC/USDT"])

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        outcome = strategy_run(strategy=trend, candle_close=CLOSE, now=CLOSE + timedelta(seconds=5))
    assert outcome.status == "succeeded"
    assert callbacks  # the fan-out waits for the commit

    btc = Signal.objects.get(strategy=trend, market="BTC/USDT").pk
    eth = Signal.objects.get(strategy=trend, market="ETH/USDT").pk
    tasks = queued_tasks()
    assert sorted(tasks) == sorted(
        [(BOT_TASK, (both.pk, btc)), (BOT_TASK, (both.pk, eth)), (BOT_TASK, (btc_only.pk, btc))]
    )
    # Ids only: nothing but integers travels in a task.
    assert all(isinstance(arg, int) for _, args in tasks for arg in args)


def test_no_signal_no_task_for_a_failed_run(paper, trend, alice, empty_queue, django_capture_on_commit_callbacks):
    from strategies.services import strategy_update

    make_bot(alice, trend, ["BTC/USDT"])
    strategy_update(strategy=trend, markets=["BTC/USDT", "NOPE/USDT"])
    with django_capture_on_commit_callbacks(execute=True):
        outcome = strategy_run(strategy=trend, candle_close=CLOSE, now=CLOSE + timedelta(seconds=5))
    assert outcome.status == "failed"
    assert queued_tasks() == []


def test_fan_out_is_idempotent_in_what_it_selects(paper, trend, alice, empty_queue):
    bot = make_bot(alice, trend, ["BTC/USDT"])
    strategy_run(strategy=trend, candle_close=CLOSE, now=CLOSE + timedelta(seconds=5))
    signal = Signal.objects.get(strategy=trend, market="BTC/USDT")
    assert signals_fan_out(signal_ids=[signal.pk]) == [(bot.pk, signal.pk)]
    assert signals_fan_out(signal_ids=[]) == []
