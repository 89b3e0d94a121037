"""After the signals commit: tasks for every (running bot on that strategy and market, signal), ids only."""

from datetime import timedelta

from django.conf import settings

from strategies.models import Signal
from portfolios.models import Bot
from portfolios.services import BATCH_TASK, signals_fan_out
from strategies.services import strategy_create, strategy_run

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
    tasks = queued_tasks(settings.ORDERS_QUEUE)
    assert {func for func, _ in tasks} == {BATCH_TASK}
    assert queued_tasks() == []  # the orders' own queue: nothing of theirs waits behind other work
    pairs = [(bot_id, signal_id) for _, (signal_id, bot_ids) in tasks for bot_id in bot_ids]
    assert sorted(pairs) == sorted([(both.pk, btc), (both.pk, eth), (btc_only.pk, btc)])
    # Ids only: nothing but integers travels in a task.
    assert all(isinstance(arg, int) for _, (signal_id, bot_ids) in tasks for arg in [signal_id, *bot_ids])


def test_a_fan_out_task_takes_the_bots_of_as_many_keys_as_a_worker_runs_threads(paper, trend, alice, bob,
                                                                               empty_queue, settings):
    settings.ORDER_THREADS = 2
    # Five keys of two bots each.
    for n in range(5):
        bot = make_bot(alice if n % 2 else bob, trend, ["BTC/USDT"])
        Bot.objects.create(owner=bot.owner, name="Second", key=bot.key, strategy=trend, markets=["BTC/USDT"],
                           allocation=bot.allocation, position_cap=bot.position_cap)
    strategy_run(strategy=trend, candle_close=CLOSE, now=CLOSE + timedelta(seconds=5))
    signal = Signal.objects.get(strategy=trend, market="BTC/USDT")
    queued_tasks(settings.ORDERS_QUEUE)
    signals_fan_out(signal_ids=[signal.pk])
    tasks = queued_tasks(settings.ORDERS_QUEUE)
    # Three tasks: two keys, two keys, one key; a key's bots always in one task.
    assert sorted(len(bot_ids) for _, (_, bot_ids) in tasks) == [2, 4, 4]
    for _, (_, bot_ids) in tasks:
        assert len({Bot.objects.get(pk=bot_id).key_id for bot_id in bot_ids}) == len(bot_ids) // 2


def test_no_signal_no_task_for_a_failed_run(paper, trend, alice, empty_queue, django_capture_on_commit_callbacks):
    from strategies.services import strategy_update

    make_bot(alice, trend, ["BTC/USDT"])
    strategy_update(strategy=trend, markets=["BTC/USDT", "NOPE/USDT"])
    with django_capture_on_commit_callbacks(execute=True):
        outcome = strategy_run(strategy=trend, candle_close=CLOSE, now=CLOSE + timedelta(seconds=5))
    assert outcome.status == "failed"
    assert queued_tasks(settings.ORDERS_QUEUE) == []


def test_fan_out_is_idempotent_in_what_it_selects(paper, trend, alice, empty_queue):
    bot = make_bot(alice, trend, ["BTC/USDT"])
    strategy_run(strategy=trend, candle_close=CLOSE, now=CLOSE + timedelta(seconds=5))
    signal = Signal.objects.get(strategy=trend, market="BTC/USDT")
    assert signals_fan_out(signal_ids=[signal.pk]) == [(bot.pk, signal.pk)]
    assert signals_fan_out(signal_ids=[]) == []
