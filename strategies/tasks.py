"""django-q2 entry points: load by id, call a service. Never raise for a failed run."""

from datetime import UTC, datetime

from django.utils import timezone

from oneclick.lib.clock import db_now
from strategies import services
from strategies.models import Backtest, Strategy
from strategies.timeframes import last_closed


def strategy_run_task(strategy_id, intended=None):
    """Run a strategy for the candle that closed at the schedule's intended time.

    ``intended`` is the ISO time the schedule meant to fire (django-q2's
    ``intended_date_kwarg``): a late or duplicated firing still maps to the
    same candle close, so the one-run-per-candle constraint holds.
    """
    strategy = Strategy.objects.filter(pk=strategy_id, active=True).first()
    if strategy is None:
        return "inactive or deleted"
    now = db_now()
    moment = datetime.fromisoformat(intended) if intended else now
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    candle_close = last_closed(min(moment, now), strategy.timeframe)
    outcome = services.strategy_run(strategy=strategy, candle_close=candle_close, now=now, trigger="schedule")
    return f"{outcome.status}: {len(outcome.signals)} signals" + (f" ({outcome.error})" if outcome.error else "")


def model_retrain_task(strategy_id):
    """Train a new model version on the candles up to the last close."""
    strategy = Strategy.objects.filter(pk=strategy_id, active=True).first()
    if strategy is None:
        return "inactive or deleted"
    artifact = services.model_train(strategy=strategy)
    return artifact.version


def backtest_execute_task(backtest_id):
    backtest = Backtest.objects.select_related("strategy").filter(pk=backtest_id).first()
    if backtest is None or backtest.status not in (Backtest.Status.QUEUED, Backtest.Status.RUNNING):
        return "nothing to do"
    if backtest.status == Backtest.Status.RUNNING:
        # Delivered again: the worker that ran it was stopped before it finished (killed by the task
        # timeout or a restart). Running it again could end the same way, unseen: say so instead.
        Backtest.objects.filter(pk=backtest.pk, status=Backtest.Status.RUNNING).update(
            status=Backtest.Status.FAILED, finished=timezone.now(),
            error="The worker stopped while running this backtest; run it again, or choose a shorter range.",
        )
        return "failed"
    backtest = services.backtest_execute(backtest=backtest, time_limit=services.backtest_time_limit())
    return backtest.status
