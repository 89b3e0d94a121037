"""Liveness of the parts the platform needs: database, task broker, workers, and one clock."""

import logging
import os
import socket
from datetime import timedelta

from django.conf import settings
from django.db import connections
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.status import Stat

from oneclick.lib.clock import clock_offset, db_now, offset_text
from oneclick.models import ClockReading

log = logging.getLogger(__name__)

# A reading older than this says nothing about a process that may be gone.
CLOCK_READING_FRESH = timedelta(minutes=15)


class HealthProblem(Exception):
    """A failed check whose message is safe to show (no connection string, no secret)."""


def clock_check(*, role):
    """Measure this process's clock against the database's and record it; warn beyond the tolerance.

    Every worker does this at its start and the recovery pass every minute, so
    ``/healthz`` can name a worker whose clock is off.
    """
    offset = clock_offset()
    now = db_now()
    process = f"{socket.gethostname()}:{os.getpid()} ({role})"[:120]
    ClockReading.objects.update_or_create(process=process, defaults={"offset_seconds": offset, "checked": now})
    ClockReading.objects.filter(checked__lt=now - timedelta(days=1)).delete()
    if abs(offset) > settings.CLOCK_TOLERANCE_SECONDS:
        log.warning("%s: this process's clock is %s; ages, freshness and due times are judged by the database's "
                    "clock, but fix the machine's time (NTP)", process, offset_text(offset))
    return offset


def _check_database():
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return "reachable"


def _check_broker():
    broker = get_broker()
    if not broker.ping():
        raise ConnectionError("broker did not answer")
    # The ORM broker's ping always succeeds; its queue lives in the database.
    return f"{broker.info()}, {broker.queue_size()} queued"


def _check_cluster():
    clusters = Stat.get_all(broker=get_broker())
    if not clusters:
        raise LookupError("no task cluster has reported a heartbeat")
    return f"{len(clusters)} cluster(s) alive"


def _check_clock():
    tolerance = settings.CLOCK_TOLERANCE_SECONDS
    offsets = {"this web process": clock_offset()}
    fresh = ClockReading.objects.filter(checked__gte=db_now() - CLOCK_READING_FRESH)
    offsets.update({reading.process: reading.offset_seconds for reading in fresh})
    off = {name: offset for name, offset in offsets.items() if abs(offset) > tolerance}
    if off:
        raise HealthProblem("; ".join(f"{name}: clock {offset_text(offset)}" for name, offset in off.items()))
    return f"{len(offsets)} process(es) within {tolerance:g} s of the database's clock"


CHECKS = {"database": _check_database, "broker": _check_broker, "cluster": _check_cluster, "clock": _check_clock}


def health_report():
    """Return (all_ok, {name: {"ok": bool, "detail": str}}).

    Details name the failing part and the kind of error, never a connection
    string (it may hold a password).
    """
    results = {}
    for name, check in CHECKS.items():
        try:
            results[name] = {"ok": True, "detail": check()}
        except HealthProblem as error:
            results[name] = {"ok": False, "detail": str(error)}
        except Exception as error:  # every failure is reported, none hidden
            results[name] = {"ok": False, "detail": f"{type(error).__name__}"}
    results["broker"]["name"] = Conf.CLUSTER_NAME
    return all(r["ok"] for r in results.values()), results
