import threading

import pytest
from django.db import connection

from alerts.models import Delivery, TelegramLink
from alerts.services import alert_raise, deliveries_claim, deliveries_send_due


def _needs_skip_locked():
    if not connection.features.has_select_for_update_skip_locked:
        pytest.skip("SQLite has no row locks (SELECT ... FOR UPDATE SKIP LOCKED); run on PostgreSQL "
                    "(DATABASE_URL=postgres://...) to prove concurrent workers")


@pytest.mark.django_db(transaction=True)
def test_two_workers_never_send_the_same_delivery_twice(alice, telegram):
    _needs_skip_locked()
    TelegramLink.objects.create(user=alice, chat_id=31337)
    for n in range(40):
        alert_raise(user=alice, kind="test", severity="critical", title=f"Alert {n}", channels=["telegram"])
    assert Delivery.objects.filter(state="pending").count() == 40

    start = threading.Barrier(2)
    results = []

    def worker():
        try:
            start.wait()
            results.append(deliveries_send_due())
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(r.get("sent", 0) for r in results) == 40
    texts = [m["text"].splitlines()[0] for m in telegram.messages(31337)]
    assert len(texts) == 40 and len(set(texts)) == 40
    assert set(Delivery.objects.values_list("state", "attempts")) == {("sent", 1)}


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_take_disjoint_rows(alice, smtp):
    _needs_skip_locked()
    for n in range(30):
        alert_raise(user=alice, kind="test", severity="info", title=f"Alert {n}")
    claimed = []
    start = threading.Barrier(3)

    def worker():
        try:
            start.wait()
            claimed.append([d.pk for d in deliveries_claim(limit=15)])
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    every = [pk for batch in claimed for pk in batch]
    assert len(every) == len(set(every)) == 30
