"""django-q2 entry points for bots: ids in, services do the work.

``signal_bots_execute(signal_id, bot_ids)`` is the fan-out's task: the bots of
a few exchange keys, one thread per key, so a worker keeps many orders in
flight while each key's bots go in turn. Each bot's part is
``bot_signal_execute(bot_id, signal_id)``, also queued alone for retries and
redelivery: idempotent, it yields at most one order per (bot, signal) however
often it is delivered.
"""

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connections
from django.dispatch import receiver
from django_q.models import Schedule
from django_q.signals import post_spawn
from django_q.tasks import async_task, schedule

from exchanges import ExchangeError
from keys.models import ExchangeKey
from oneclick.health import clock_check
from oneclick.lib.clock import db_now
from portfolios import rules
from portfolios.execution import Deferred, fills_missing, orders_recover, signal_execute, signals_redeliver
from portfolios.queueing import RECONCILE_QUEUED, reconcile_soon, reconciles_after_burst
from portfolios.models import Bot, Order
from portfolios.reconcile import key_reconcile

log = logging.getLogger(__name__)

RETRY_DELAYS_SECONDS = (5, 15, 60, 180)
# Orders this recent whose fills are not all stored queue a reconciliation in the recovery pass.
RECONCILES_OWED_WITHIN = timedelta(hours=1)
# A signal waiting for the bot's earlier order in the market is tried again after these (about 4 minutes in
# all); the last try gives up and says why.
DEFER_DELAYS_SECONDS = (3, 5, 10, 20, 30, 60, 60, 60)


def _retry_later(bot_id, signal_id, name, delay, **kwargs):
    # Due by the database's clock, as every schedule the platform writes.
    try:
        schedule("portfolios.tasks.bot_signal_execute", bot_id, signal_id, name=name, schedule_type=Schedule.ONCE,
                 next_run=db_now() + timedelta(seconds=delay), cluster=settings.ORDERS_QUEUE, **kwargs)
    except IntegrityError:
        pass  # a second delivery of this task planned the same retry already


def bot_signal_execute(bot_id, signal_id, attempt=0, waited=0):
    try:
        order = signal_execute(bot_id=bot_id, signal_id=signal_id, last_try=waited >= len(DEFER_DELAYS_SECONDS))
    except Deferred as deferred:
        _retry_later(bot_id, signal_id, f"bot {bot_id} signal {signal_id} waits #{waited + 1}",
                     DEFER_DELAYS_SECONDS[waited], attempt=attempt, waited=waited + 1)
        return f"waits: {deferred.reason}"
    except ExchangeError as error:
        # Nothing was written yet (market data could not be read): try again later.
        if not error.retryable or attempt >= len(RETRY_DELAYS_SECONDS):
            raise
        delay = max(RETRY_DELAYS_SECONDS[attempt], getattr(error, "retry_after", 0) or 0)
        _retry_later(bot_id, signal_id, f"retry bot {bot_id} signal {signal_id} #{attempt + 1}", delay,
                     attempt=attempt + 1, waited=waited)
        return None
    return getattr(order, "pk", None)


def _bots_execute(signal_id, bot_ids):
    with reconciles_after_burst():  # one reconciliation per key, after its last bot
        for bot_id in bot_ids:
            try:
                bot_signal_execute(bot_id, signal_id)
            except Exception:
                # This bot only: the others go on. With no decision recorded, the recovery pass queues it again.
                log.exception("bot %s signal %s: the bot's task failed", bot_id, signal_id)


def _key_bots_execute(signal_id, bot_ids):
    try:
        _bots_execute(signal_id, bot_ids)
    finally:
        connections.close_all()  # this thread's own connections


def signal_bots_execute(signal_id, bot_ids):
    """The bots of one signal: one thread per exchange key (``ORDER_THREADS`` at most), a key's bots in turn.

    Every bot goes through :func:`bot_signal_execute` unchanged (write-ahead row, claim, lookup by client
    order id), all drawing from the one shared request budget.
    """
    by_key = {}
    keys = dict(Bot.objects.filter(pk__in=bot_ids).values_list("pk", "key_id"))
    for bot_id in bot_ids:  # in the fan-out's (random) order
        if bot_id in keys:
            by_key.setdefault(keys[bot_id], []).append(bot_id)
    groups = list(by_key.values())
    threads = min(settings.ORDER_THREADS, len(groups))
    if threads <= 1:
        for group in groups:
            _bots_execute(signal_id, group)
        return len(keys)
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="orders") as pool:
        list(pool.map(lambda group: _key_bots_execute(signal_id, group), groups))
    return len(keys)


# One reconciliation of a key at a time; a second waits this long for the first to finish.
RECONCILE_LOCK_SECONDS = 120
RECONCILE_WAIT_SECONDS = 60


def key_reconcile_task(key_id):
    # Orders recorded from now on queue another pass.
    cache.delete(RECONCILE_QUEUED.format(key_id))
    lock = f"portfolios:reconcile-running:{key_id}"
    deadline = time.monotonic() + RECONCILE_WAIT_SECONDS
    while not cache.add(lock, 1, timeout=RECONCILE_LOCK_SECONDS):
        if time.monotonic() > deadline:
            break  # the other pass is stuck or gone: reconciling twice is harmless, never reconciling is not
        time.sleep(0.2)
    try:
        return key_reconcile(key_id=key_id)
    finally:
        cache.delete(lock)


def reconcile_all():
    """Queue a reconciliation of every key with bots, disabled ones included (read only), every 5 minutes."""
    live = [ExchangeKey.Status.ACTIVE, ExchangeKey.Status.DISABLED]
    ids = list(ExchangeKey.objects.filter(status__in=live, bots__isnull=False)
               .distinct().values_list("pk", flat=True))
    for key_id in ids:
        async_task("portfolios.tasks.key_reconcile_task", key_id, group="reconcile",
                   task_name=f"reconcile-key-{key_id}", cluster=settings.TASKS_QUEUE)
    return len(ids)


def orders_recover_task():
    """Resolve orders a crash left pending or sent; queue again the bot tasks a crash lost.

    Every minute, so it also re-measures the clock of the worker that runs it.
    """
    clock_check(role="worker")
    return {"orders": orders_recover(), "redelivered": len(signals_redeliver()), "reconciles": reconciles_owed()}


def reconciles_owed():
    """Queue the reconciliations a lost task owes: keys with a recent order whose fills are not all stored.

    An order whose fills could not be read queues its key's reconciliation; a flushed queue or a dead cluster
    can lose that task, and nothing else would queue it before the 5-minute pass.
    """
    recent = Order.objects.filter(created__gte=db_now() - RECONCILES_OWED_WITHIN)
    owed = sorted(set(fills_missing(recent).values_list("key_id", flat=True)))
    for key_id in owed:
        reconcile_soon(key_id)
    return len(owed)


@receiver(post_spawn, dispatch_uid="portfolios_recover_on_worker_start")
def _recover_on_worker_start(sender, proc_name, **kwargs):
    """When a worker that may run orders starts (after a crash too), queue one recovery pass on the main queue."""
    if settings.Q_QUEUE != "backtests" and cache.add("portfolios:recovery-on-start", proc_name, timeout=30):
        async_task("portfolios.tasks.orders_recover_task", group="recovery", cluster=settings.TASKS_QUEUE)


def rules_run_all():
    return rules.rules_run_all()


def signals_ignored_digests():
    return rules.signals_ignored_digest_all()


def daily_summaries():
    return rules.daily_summaries()
