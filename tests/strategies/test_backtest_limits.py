"""Backtests are bounded work: one at a time per user, so many a day, a bounded range, in a queue of their own.

A refusal is a clear error on the form and creates nothing; another user's backtest is a 404.
"""

import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse

from strategies.models import Backtest
from strategies.services import BACKTEST_TASK, backtest_create
from tests.conftest import subprocess_env

from .conftest import queued_tasks

FORM = {"market": "BTC/USDT", "start": "2025-04-01", "end": "2025-05-01", "fee": "0.001", "allocation": "1000"}


def _at(day):
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def _backtest(user, strategy, status=Backtest.Status.DONE, **fields):
    fields = {"start": _at("2025-04-01"), "end": _at("2025-05-01"), **fields}
    return Backtest.objects.create(user=user, strategy=strategy, market="BTC/USDT", status=status, **fields)


def _post(client, strategy, **changes):
    return client.post(reverse("strategy_pages:backtest_new", args=[strategy.pk]), {**FORM, **changes})


def _refused(response, message):
    page = response.content.decode()
    assert response.status_code == 200
    assert message in page, page[:3000]


@pytest.mark.parametrize("status", [Backtest.Status.QUEUED, Backtest.Status.RUNNING])
def test_a_second_backtest_while_one_is_queued_or_running_is_refused(client, alice, bob, trend, status):
    mine = _backtest(alice, trend, status=status)
    client.force_login(alice)
    response = _post(client, trend)
    _refused(response, f"Your backtest #{mine.pk}")
    _refused(response, f"is still {status.label.lower()}: one backtest at a time")
    assert list(Backtest.objects.values_list("pk", flat=True)) == [mine.pk]

    # Bob's own limit is his: he may queue one, and still cannot open Alice's.
    client.force_login(bob)
    assert _post(client, trend).status_code == 302
    assert Backtest.objects.filter(user=bob).count() == 1
    assert client.get(reverse("strategy_pages:backtest_detail", args=[mine.pk])).status_code == 404

    # Once hers is done, Alice may run the next.
    Backtest.objects.filter(pk=mine.pk).update(status=Backtest.Status.DONE)
    client.force_login(alice)
    assert _post(client, trend).status_code == 302
    assert Backtest.objects.filter(user=alice).count() == 2


def test_the_database_holds_one_queued_or_running_backtest_per_user(alice, trend):
    _backtest(alice, trend, status=Backtest.Status.RUNNING)
    with pytest.raises(IntegrityError), transaction.atomic():
        _backtest(alice, trend, status=Backtest.Status.QUEUED)
    # The platform's own backtests (no user) are not limited.
    _backtest(None, trend, status=Backtest.Status.QUEUED)
    _backtest(None, trend, status=Backtest.Status.QUEUED)


def test_a_lost_backtest_no_longer_blocks_its_owner(client, alice, bob, trend):
    lost = _backtest(alice, trend, status=Backtest.Status.QUEUED)
    Backtest.objects.filter(pk=lost.pk).update(created=lost.created - timedelta(hours=2))
    client.force_login(alice)
    response = _post(client, trend)
    assert response.status_code == 302
    lost.refresh_from_db()
    assert lost.status == Backtest.Status.FAILED and "Run it again" in lost.error
    page = client.get(reverse("strategy_pages:backtest_detail", args=[lost.pk])).content.decode()
    assert "Not finished 1 hour after it was asked for" in page
    client.force_login(bob)
    assert client.get(reverse("strategy_pages:backtest_detail", args=[lost.pk])).status_code == 404


def test_the_daily_count_reached_is_refused(client, alice, bob, staff, trend, settings):
    settings.BACKTESTS_PER_DAY = 2
    yesterday = _backtest(alice, trend)
    Backtest.objects.filter(pk=yesterday.pk).update(created=yesterday.created - timedelta(days=1, hours=1))
    client.force_login(alice)
    for _ in range(2):
        assert _post(client, trend).status_code == 302
        Backtest.objects.filter(user=alice).update(status=Backtest.Status.DONE)  # the worker ran it
    before = Backtest.objects.count()
    response = _post(client, trend)
    _refused(response, "You have run 2 backtests today, the most a day allows.")
    _refused(response, "after midnight UTC")
    assert Backtest.objects.count() == before

    # Failed ones count too: they took the worker's time as well.
    for user in (bob, staff):  # staff are limited like everyone: the backtest workers are shared
        _backtest(user, trend, status=Backtest.Status.FAILED)
        _backtest(user, trend, status=Backtest.Status.DONE)
        client.force_login(user)
        _refused(_post(client, trend), "You have run 2 backtests today")
        assert Backtest.objects.filter(user=user).count() == 2
    client.force_login(bob)
    mine = Backtest.objects.filter(user=alice).first()
    assert client.get(reverse("strategy_pages:backtest_detail", args=[mine.pk])).status_code == 404


def test_a_range_longer_than_the_maximum_is_refused(client, alice, trend, settings):
    settings.BACKTEST_MAX_DAYS = 30
    client.force_login(alice)
    response = _post(client, trend, start="2025-04-01", end="2025-05-02")  # 31 days
    _refused(response, "At most 30 days per backtest.")
    assert not Backtest.objects.exists()
    assert _post(client, trend, start="2025-04-01", end="2025-05-01").status_code == 302  # 30 days


@pytest.mark.parametrize("changes, message", [
    ({"start": "2008-12-31"}, "Ensure this value is greater than or equal to 2009-01-01."),
    ({"end": "9999-12-31"}, "Choose a date on or before"),
    ({"allocation": "1e40"}, "At most 1,000,000,000,000."),
    ({"allocation": "0.001"}, "At least 0.01."),
    ({"allocation": "NaN"}, "Enter a number."),
    ({"fee": "0.11"}, "Ensure this value is less than or equal to 0.1."),
    ({"fee": "-0.001"}, "Ensure this value is greater than or equal to 0."),
])
def test_out_of_bounds_input_is_refused_on_the_form(client, alice, trend, changes, message):
    client.force_login(alice)
    _refused(_post(client, trend, **changes), message)
    assert not Backtest.objects.exists()


def test_the_service_holds_the_same_bounds(alice, trend):
    from django.core.exceptions import ValidationError

    cases = [
        ({"allocation": 10 ** 40}, "allocation"), ({"fee": "0.2"}, "fee"), ({"start": _at("2008-06-01")}, "start"),
        ({"end": _at("2100-01-02"), "start": _at("2099-12-01")}, "end"),
    ]
    for changes, field in cases:
        arguments = {"user": alice, "strategy": trend, "market": "BTC/USDT", "start": _at("2025-04-01"),
                     "end": _at("2025-05-01"), "fee": "0.001", "allocation": "1000", **changes}
        with pytest.raises(ValidationError) as error:
            backtest_create(**arguments)
        assert field in error.value.message_dict
    assert not Backtest.objects.exists()


@pytest.mark.parametrize("fields", [
    {"allocation": 10 ** 40}, {"allocation": 10 ** 12 + 1}, {"allocation": 0}, {"fee": "0.2"}, {"fee": "-0.1"},
    {"start": _at("2008-12-31")}, {"end": _at("2100-01-02")},
], ids=["1e40", "above-a-trillion", "zero", "fee-20pc", "fee-negative", "before-2009", "after-2100"])
def test_a_backtest_outside_the_bounds_cannot_be_stored(alice, trend, fields):
    from django.db import DataError

    with pytest.raises((IntegrityError, DataError)), transaction.atomic():
        _backtest(alice, trend, **fields)
    assert not Backtest.objects.exists()


def test_every_backtest_that_can_exist_shows_and_runs(staff_client, alice, bob, paper, trend):
    """The extremes the constraints allow: the pages, the staff's list and the worker's task all work."""
    from django.test import Client

    from strategies.tasks import backtest_execute_task

    client = Client()

    extremes = [
        _backtest(alice, trend, status=Backtest.Status.QUEUED, allocation=10 ** 12, fee="0.1"),
        _backtest(alice, trend, allocation="0.01", fee="0", start=_at("2009-01-01"), end=_at("2100-01-01"),
                  error="x" * 5000),
        _backtest(None, trend, status=Backtest.Status.QUEUED, allocation="999999999999.99999999",
                  start=_at("2025-04-01"), end=_at("2025-04-01") + timedelta(hours=4)),
    ]
    for backtest in (extremes[0], extremes[2]):
        assert backtest_execute_task(backtest.pk) in (Backtest.Status.DONE, Backtest.Status.FAILED)
    extremes[0].refresh_from_db()
    assert extremes[0].status == Backtest.Status.DONE, extremes[0].error

    client.force_login(alice)
    for backtest in extremes:
        detail = reverse("strategy_pages:backtest_detail", args=[backtest.pk])
        assert client.get(detail).status_code == 200
        if backtest.status == Backtest.Status.DONE:
            assert client.get(detail + "trades.csv").status_code == 200
    for url in (reverse("strategy_pages:backtest_list"), reverse("strategy_pages:strategy_detail", args=[trend.pk]),
                reverse("strategy_pages:strategy_list")):
        assert client.get(url).status_code == 200
    changelist = staff_client.get(reverse("admin:strategies_backtest_changelist"))
    assert changelist.status_code == 200 and changelist.content.decode().count("BTC/USDT") >= 3
    for backtest in extremes:
        assert staff_client.get(reverse("admin:strategies_backtest_change", args=[backtest.pk])).status_code == 200
    client.force_login(bob)
    assert client.get(reverse("strategy_pages:backtest_detail", args=[extremes[0].pk])).status_code == 404


# --- the backtests' own queue ---------------------------------------------------------------------------------------


def test_a_backtest_lands_in_the_backtests_queue_not_the_main_one(client, alice, trend, empty_queue,
                                                                  django_capture_on_commit_callbacks):
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        assert _post(client, trend).status_code == 302
    backtest = Backtest.objects.get()
    if not settings.REDIS_URL:  # the ORM broker: one row per task, its key the queue's name
        from django_q.models import OrmQ

        assert list(OrmQ.objects.values_list("key", flat=True)) == [settings.BACKTEST_QUEUE]
    assert settings.BACKTEST_QUEUE == f"{settings.Q_CLUSTER['name']}-backtests"
    assert queued_tasks() == []
    assert queued_tasks(settings.BACKTEST_QUEUE) == [(BACKTEST_TASK, (backtest.pk,))]


def _conf_in_child(**env):
    script = ("import django; django.setup(); from django_q.conf import Conf; "
              "print(Conf.CLUSTER_NAME, Conf.PREFIX, Conf.WORKERS)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                            env=subprocess_env(DJANGO_SETTINGS_MODULE="oneclick.settings", LOG_LEVEL="CRITICAL",
                                               **env))
    return result


@pytest.mark.django_db
def test_a_qcluster_serves_the_backtests_queue_only_when_told():
    name = settings.Q_CLUSTER["name"]
    main = _conf_in_child(Q_WORKERS="3")
    assert main.stdout.split() == [name, name, "3"], main.stderr[-2000:]
    backtests = _conf_in_child(Q_QUEUE="backtests", Q_WORKERS="3", Q_BACKTEST_WORKERS="1")
    # Its own queue, the same signing salt (the web process's payloads read there), its own worker count.
    assert backtests.stdout.split() == [f"{name}-backtests", name, "1"], backtests.stderr[-2000:]
    wrong = _conf_in_child(Q_QUEUE="bots")
    assert wrong.returncode != 0 and "Q_QUEUE='bots'" in wrong.stderr


@pytest.mark.slow
def test_the_backtests_qcluster_runs_backtests_and_leaves_the_main_queue_alone(transactional_db, paper, alice, trend):
    from django_q.brokers import get_broker
    from django_q.tasks import async_task

    get_broker().purge_queue()
    get_broker(settings.BACKTEST_QUEUE).purge_queue()
    backtest = backtest_create(user=alice, strategy=trend, market="BTC/USDT", start=_at("2025-04-01"),
                               end=_at("2025-04-15"))  # committed: queued at once
    async_task("strategies.tasks.strategy_run_task", trend.pk, task_name="main-queue-task")
    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        env=subprocess_env(Q_QUEUE="backtests", LOG_LEVEL="WARNING", PAPEREXCHANGE_URL=paper.url),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and cluster.poll() is None:
            backtest.refresh_from_db()
            if backtest.status in (Backtest.Status.DONE, Backtest.Status.FAILED):
                break
            time.sleep(0.5)
        assert backtest.status == Backtest.Status.DONE, (backtest.status, backtest.error, cluster.poll())
        # The main queue's task is still waiting for a main worker.
        assert get_broker().queue_size() == 1
    finally:
        cluster.terminate()
        try:
            cluster.wait(timeout=30)
        except subprocess.TimeoutExpired:
            cluster.kill()
        get_broker().purge_queue()
