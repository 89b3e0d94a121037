"""Liveness of the parts the platform needs: database, task broker, workers."""

from django.db import connections
from django_q.brokers import get_broker
from django_q.conf import Conf
from django_q.status import Stat


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


CHECKS = {"database": _check_database, "broker": _check_broker, "cluster": _check_cluster}


def health_report():
    """Return (all_ok, {name: {"ok": bool, "detail": str}}).

    Details name the failing part and the kind of error, never a connection
    string (it may hold a password).
    """
    results = {}
    for name, check in CHECKS.items():
        try:
            results[name] = {"ok": True, "detail": check()}
        except Exception as error:  # every failure is reported, none hidden
            results[name] = {"ok": False, "detail": f"{type(error).__name__}"}
    results["broker"]["name"] = Conf.CLUSTER_NAME
    return all(r["ok"] for r in results.values()), results
