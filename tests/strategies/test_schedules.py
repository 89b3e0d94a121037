from datetime import UTC, datetime

from django.core.management import call_command
from django_q.models import Schedule

from strategies.models import Strategy
from strategies.services import schedules_sync, strategy_update

from .conftest import SMALL_LEARNED


def test_each_active_strategy_gets_a_schedule_on_its_candle_closes(trend, learned):
    now = datetime(2026, 3, 5, 13, 17, tzinfo=UTC)
    schedules_sync(now=now)
    run = Schedule.objects.get(name=f"strategy-run:{trend.pk}")
    assert run.func == "strategies.tasks.strategy_run_task"
    assert run.args == repr(trend.pk)
    assert run.schedule_type == Schedule.MINUTES and run.minutes == 240
    assert run.next_run == datetime(2026, 3, 5, 16, 0, 5, tzinfo=UTC)  # just after the 16:00 close
    assert run.intended_date_kwarg == "intended"
    retrain = Schedule.objects.get(name=f"strategy-retrain:{learned.pk}")
    assert retrain.func == "strategies.tasks.model_retrain_task" and retrain.minutes == 7 * 1440
    assert not Schedule.objects.filter(name=f"strategy-retrain:{trend.pk}").exists()


def test_changing_or_deactivating_a_strategy_updates_its_schedule(trend, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        strategy_update(strategy=trend, timeframe="1h")
    assert Schedule.objects.get(name=f"strategy-run:{trend.pk}").minutes == 60
    with django_capture_on_commit_callbacks(execute=True):
        strategy_update(strategy=trend, active=False)
    assert not Schedule.objects.filter(name=f"strategy-run:{trend.pk}").exists()


def test_sync_removes_schedules_of_deleted_strategies_and_is_idempotent(trend):
    schedules_sync()
    first = list(Schedule.objects.values_list("name", "next_run"))
    schedules_sync()
    assert list(Schedule.objects.values_list("name", "next_run")) == first
    Strategy.objects.filter(pk=trend.pk).delete()
    call_command("sync_schedules")
    assert not Schedule.objects.filter(name__startswith="strategy-").exists()


def test_bad_params_are_a_validation_error_not_a_crash_later(db):
    import pytest
    from django.core.exceptions import ValidationError

    from strategies.services import strategy_create

    with pytest.raises(ValidationError) as error:
        strategy_create(name="Bad", kind="trend", markets=["BTC/USDT"], params={"fast": 50, "slow": 10})
    assert "fast must be shorter than slow" in str(error.value)
    with pytest.raises(ValidationError):
        strategy_create(name="Bad", kind="learned", markets=["BTC/USDT"], params={**SMALL_LEARNED, "estimator": "gpt"})
    with pytest.raises(ValidationError):
        strategy_create(name="Bad", kind="nope", markets=["BTC/USDT"])
    with pytest.raises(ValidationError):
        strategy_create(name="Bad", kind="trend", markets=[])
    assert not Strategy.objects.filter(name="Bad").exists()
