"""Runs: one per (strategy, candle close), failures recorded, test runs sign nothing."""

import threading
from datetime import timedelta

import pytest
from django.db import connection

from strategies.models import Signal, StrategyRun
from strategies.services import strategy_run, strategy_update
from strategies.tasks import strategy_run_task
from strategies.timeframes import last_closed
from strategies.models import Candle

from .conftest import CLOSE

SOON = CLOSE + timedelta(seconds=10)


def test_trend_run_writes_one_signed_signal_per_market(paper, trend):
    outcome = strategy_run(strategy=trend, candle_close=CLOSE, now=SOON)
    assert outcome.status == "succeeded", outcome.error
    signals = Signal.objects.filter(strategy=trend).order_by("market")
    assert [s.market for s in signals] == ["BTC/USDT", "ETH/USDT"]
    for signal in signals:
        assert signal.candle_close == CLOSE
        assert signal.expires == CLOSE + trend.timeframe_delta
        assert signal.model_version.startswith("trend-1-")
        assert signal.reason and len(signal.signature) == 128
    run = StrategyRun.objects.get(strategy=trend)
    assert run.status == StrategyRun.Status.SUCCEEDED and run.fetch_seconds is not None


def test_a_second_firing_for_the_same_candle_does_nothing(paper, trend):
    assert strategy_run(strategy=trend, candle_close=CLOSE, now=SOON).status == "succeeded"
    again = strategy_run(strategy=trend, candle_close=CLOSE, now=SOON + timedelta(seconds=3))
    assert again.status == "skipped"
    assert StrategyRun.objects.filter(strategy=trend).count() == 1
    assert Signal.objects.filter(strategy=trend).count() == 2


def test_the_schedule_firing_twice_late_maps_to_the_same_candle(paper, trend):
    """django-q2 passes the intended time; a late duplicate still names the same candle close."""
    intended = (last_closed(SOON, "4h") + timedelta(seconds=5)).isoformat()
    first = strategy_run_task(trend.pk, intended=intended)
    second = strategy_run_task(trend.pk, intended=intended)
    assert first.startswith("succeeded")
    assert second.startswith("skipped")
    assert StrategyRun.objects.filter(strategy=trend).count() == 1


def test_the_database_refuses_a_second_run_row_for_a_candle(trend):
    from django.db import IntegrityError, transaction

    StrategyRun.objects.create(strategy=trend, candle_close=CLOSE, started=SOON)
    with pytest.raises(IntegrityError), transaction.atomic():
        StrategyRun.objects.create(strategy=trend, candle_close=CLOSE, started=SOON)


@pytest.mark.django_db(transaction=True)
def test_concurrent_firings_produce_one_run(paper):
    from strategies.services import strategy_create

    trend = strategy_create(name="Concurrent", kind="trend", markets=["BTC/USDT"], params={"fast": 5, "slow": 20, "vol_window": 10})
    # Warm the candles so both threads race on the run itself.
    strategy_run(strategy=trend, candle_close=CLOSE, test=True, now=SOON)
    outcomes, barrier = [], threading.Barrier(3)

    def fire():
        try:
            barrier.wait()
            outcomes.append(strategy_run(strategy=trend, candle_close=CLOSE, now=SOON).status)
        finally:
            connection.close()

    threads = [threading.Thread(target=fire) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["skipped", "skipped", "succeeded"]
    assert StrategyRun.objects.filter(strategy=trend).count() == 1
    assert Signal.objects.filter(strategy=trend).count() == 1


def test_a_test_run_signs_nothing_and_records_nothing(paper, trend):
    outcome = strategy_run(strategy=trend, candle_close=CLOSE, now=SOON, test=True)
    assert outcome.status == "test"
    assert [d.market for d in outcome.decisions] == ["BTC/USDT", "ETH/USDT"]
    assert not StrategyRun.objects.exists() and not Signal.objects.exists()
    # A real run for that candle is still possible afterwards.
    assert strategy_run(strategy=trend, candle_close=CLOSE, now=SOON).status == "succeeded"


def test_an_unknown_market_fails_the_run_with_the_reason(paper, trend):
    strategy_update(strategy=trend, markets=["BTC/USDT", "NOPE/USDT"])
    outcome = strategy_run(strategy=trend, candle_close=CLOSE, now=SOON)
    assert outcome.status == "failed"
    run = StrategyRun.objects.get(strategy=trend)
    assert run.status == StrategyRun.Status.FAILED and "NOPE/USDT" in run.error
    assert not Signal.objects.exists()


def test_too_little_history_fails_the_run(paper, trend):
    strategy_update(strategy=trend, params={"fast": 5, "slow": 20, "vol_window": 10})
    early = CLOSE.replace(year=2020, month=1, day=2)  # the paper exchange's history starts on 2020-01-01
    outcome = strategy_run(strategy=trend, candle_close=early, now=early + timedelta(seconds=5))
    assert outcome.status == "failed"
    assert "candles" in StrategyRun.objects.get(strategy=trend).error
    assert not Signal.objects.exists()


def test_an_unreachable_exchange_fails_the_run(settings, trend):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.PAPEREXCHANGE_URL = f"http://127.0.0.1:{port}"
    import exchanges

    exchanges.caches_clear()
    outcome = strategy_run(strategy=trend, candle_close=CLOSE, now=SOON)
    assert outcome.status == "failed"
    run = StrategyRun.objects.get(strategy=trend)
    assert run.status == StrategyRun.Status.FAILED and run.error
    assert str(port) not in run.error and "http" not in run.error
    assert not Signal.objects.exists()
    assert not Candle.objects.exists()
