"""One clock for every age and freshness decision: the database's.

Workers run on several machines whose clocks drift apart; the database is the
one thing they all share. Every "how old is this", "is this signal fresh",
"is this due" reads :func:`db_now` (one query, once per task or pass) instead
of the worker's own clock, so a worker whose clock is a minute off still
decides as every other worker does. :func:`clock_offset` says how far this
process's clock is from the database's, for the warning at a worker's start
and for ``/healthz``.
"""

import time
from datetime import datetime, timezone

from django.db import connections


def db_now(using="default"):
    """The database's clock now (UTC, aware). SQLite has no server: its clock is the machine's own."""
    connection = connections[using]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # clock_timestamp(), not now(): now() is frozen at the start of the transaction.
            cursor.execute("SELECT clock_timestamp()")
            return cursor.fetchone()[0].astimezone(timezone.utc)
        cursor.execute("SELECT strftime('%Y-%m-%d %H:%M:%f', 'now')")
        return datetime.fromisoformat(cursor.fetchone()[0]).replace(tzinfo=timezone.utc)


def clock_offset(using="default"):
    """Seconds this process's clock is ahead of the database's (negative: behind), to within the query's time."""
    before = time.time()
    database = db_now(using).timestamp()
    after = time.time()
    return (before + after) / 2 - database


def offset_text(seconds):
    return f"{abs(seconds):.1f} s {'ahead of' if seconds > 0 else 'behind'} the database's"
