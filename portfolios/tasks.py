"""django-q2 entry points for bots: ids in, services do the work.

``bot_signal_execute(bot_id, signal_id)`` is the fan-out's task: idempotent,
it yields at most one order per (bot, signal) however often it is delivered.
"""

from datetime import timedelta

from django.db import IntegrityError
from django.dispatch import receiver
from django.utils import timezone
from django_q.models import Schedule
from django_q.signals import post_spawn
from django_q.tasks import async_task, schedule

from keys.models import ExchangeKey
from oneclick.lib.cache import shared_cache
from portfolios.execution import orders_recover, signal_execute, signals_redeliver
from portfolios.gateway import ExchangeError
from portfolios.reconcile import key_reconcile, position_recompute


RETRY_DELAYS_SECONDS = (5, 15, 60, 180)


def bot_signal_execute(bot_id, signal_id, attempt=0):
    try:
        order = signal_execute(bot_id=bot_id, signal_id=signal_id)
    except ExchangeError as error:
        # Nothing was written yet (market data could not be read): try again later.
        if not error.retryable or attempt >= len(RETRY_DELAYS_SECONDS):
            raise
        delay = max(RETRY_DELAYS_SECONDS[attempt], getattr(error, "retry_after", 0) or 0)
        try:
            schedule(
                "portfolios.tasks.bot_signal_execute", bot_id, signal_id, attempt + 1,
                name=f"retry bot {bot_id} signal {signal_id} #{attempt + 1}",
                schedule_type=Schedule.ONCE, next_run=timezone.now() + timedelta(seconds=delay),
            )
        except IntegrityError:
            pass  # a second delivery of this task failed alike: the same retry is planned already
        return None
    if order is not None and getattr(order, "key_id", None):
        # The answer's fills are stored already: show the position at once,
        # and let the full reconciliation follow when the burst is over.
        position_recompute(bot=order.bot, market=order.market)
        reconcile_soon(order.key_id)
    return getattr(order, "pk", None)


# Reconciliation after orders waits this long, so that a burst of orders (a
# fan-out) is served before the bookkeeping it causes.
RECONCILE_DELAY = timedelta(seconds=10)


def reconcile_soon(key_id):
    """Plan one reconciliation of the key shortly, unless one is already planned."""
    if shared_cache().add(f"portfolios:reconcile-queued:{key_id}", 1, timeout=300):
        next_run = timezone.now() + RECONCILE_DELAY
        # The name carries the time: the schedule that just fired may not be
        # deleted yet when its task already runs and lets the next one be planned.
        schedule("portfolios.tasks.key_reconcile_task", key_id,
                 name=f"reconcile key {key_id} after orders, {next_run:%Y-%m-%d %H:%M:%S.%f}",
                 schedule_type=Schedule.ONCE, next_run=next_run)


def key_reconcile_task(key_id):
    # Orders recorded from now on queue another pass.
    shared_cache().delete(f"portfolios:reconcile-queued:{key_id}")
    return key_reconcile(key_id=key_id)


def reconcile_all():
    """Queue a reconciliation of every active key (the 5-minute schedule)."""
    ids = list(ExchangeKey.objects.filter(status=ExchangeKey.Status.ACTIVE, bots__isnull=False)
               .distinct().values_list("pk", flat=True))
    for key_id in ids:
        async_task("portfolios.tasks.key_reconcile_task", key_id, group="reconcile",
                   task_name=f"reconcile-key-{key_id}")
    return len(ids)


def orders_recover_task():
    """Resolve orders a crash left pending or sent; queue again the bot tasks a crash lost."""
    return {"orders": orders_recover(), "redelivered": len(signals_redeliver())}


@receiver(post_spawn, dispatch_uid="portfolios_recover_on_worker_start")
def _recover_on_worker_start(sender, proc_name, **kwargs):
    """When a worker starts (after a crash too), queue one recovery pass."""
    if shared_cache().add("portfolios:recovery-on-start", proc_name, timeout=30):
        async_task("portfolios.tasks.orders_recover_task", group="recovery")
