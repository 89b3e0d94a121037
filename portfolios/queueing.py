"""What recording an order asks the task queue to do next: ids in, never a secret."""

import threading
from contextlib import contextmanager

from django.conf import settings
from django.core.cache import cache
from django_q.tasks import async_task

# Set while a reconciliation of the key is queued and not started; short-lived, so a task the broker lost
# (a flushed queue, a dead cluster) holds nothing up for long.
RECONCILE_QUEUED = "portfolios:reconcile-queued:{}"
RECONCILE_QUEUED_SECONDS = 20


_held = threading.local()


@contextmanager
def reconciles_after_burst():
    """Reconciliations asked for inside the block are queued once each, when it ends.

    A fan-out thread serves one key's bots in turn: its reconciliation comes after the key's last order,
    never beside them (a venue with nonces, Kraken, refuses a request that overtakes another of the key).
    """
    if getattr(_held, "keys", None) is not None:
        yield
        return
    _held.keys = set()
    try:
        yield
    finally:
        keys, _held.keys = _held.keys, None
        for key_id in sorted(keys):
            reconcile_soon(key_id)


def reconcile_soon(key_id):
    """Queue one reconciliation of the key, unless one is queued and has not started yet.

    The task clears the mark when it starts, so an order recorded while it
    runs queues the next pass: the last order of a burst is always followed by
    one. Queued behind the bot tasks already waiting, it runs once the burst is
    served.
    """
    held = getattr(_held, "keys", None)
    if held is not None:
        held.add(key_id)
        return
    if cache.add(RECONCILE_QUEUED.format(key_id), 1, timeout=RECONCILE_QUEUED_SECONDS):
        async_task("portfolios.tasks.key_reconcile_task", key_id, group="reconcile",
                   task_name=f"reconcile-key-{key_id}", cluster=settings.TASKS_QUEUE)
