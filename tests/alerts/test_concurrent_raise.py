"""Raisers running at once: identical alerts merge into one; different alerts of one user never wait for each other."""

import threading

import pytest
from django.db import connection, transaction

from alerts.models import Alert
from alerts.services import alert_raise, preference_for


def _in_threads(count, work):
    start = threading.Barrier(count)
    errors = []

    def run(n):
        try:
            start.wait()
            work(n)
        except Exception as error:  # reported below, in the test's thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors


@pytest.mark.django_db(transaction=True)
def test_identical_alerts_raised_at_once_are_one_alert_counted_each_time(alice, smtp):
    _in_threads(4, lambda n: alert_raise(user=alice, kind="test", severity="warning", title="Same thing"))

    alert = Alert.objects.get(user=alice, title="Same thing")
    assert alert.count == 4


@pytest.mark.django_db(transaction=True)
def test_a_users_different_alerts_do_not_wait_for_each_others_transactions(alice, smtp):
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has one writer at a time by design; run on PostgreSQL (DATABASE_URL=postgres://...)")
    preference_for(user=alice)  # the user's preferences exist from their first alert on
    raised = threading.Event()
    other_done = threading.Event()
    seen_while_open = []

    def first(_n):
        # An order's record: the alert commits with the order's answer, in one transaction kept open here.
        with transaction.atomic():
            alert_raise(user=alice, kind="test", severity="info", title="Order 1 filled")
            raised.set()
            seen_while_open.append(other_done.wait(10))

    def second(_n):
        raised.wait(10)
        alert_raise(user=alice, kind="test", severity="info", title="Order 2 filled")
        other_done.set()

    _in_threads(2, lambda n: (first, second)[n](n))

    # The second raiser finished while the first transaction was still open (the first waited 10 s for it).
    assert seen_while_open == [True]
    assert set(Alert.objects.filter(user=alice).values_list("title", flat=True)) == {"Order 1 filled",
                                                                                     "Order 2 filled"}
