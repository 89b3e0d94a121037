"""The bounds of every number and date a backtest takes.

The form's validators, :func:`strategies.services.backtest_validate` and the
database's constraints all read them here, so a row outside them can never be
stored (and every stored row can be shown and run).
"""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

# In the quote asset: a cent up to a trillion.
ALLOCATION_MIN = Decimal("0.01")
ALLOCATION_MAX = Decimal("1000000000000")
# Per order, as a rate: 0 up to 10 %.
FEE_MIN = Decimal("0")
FEE_MAX = Decimal("0.1")
# No market has candles before 2009 (Bitcoin's first block is of 3 January 2009).
EARLIEST = date(2009, 1, 1)
EARLIEST_AT = datetime(2009, 1, 1, tzinfo=UTC)
# The form refuses an end after tomorrow (by the database's clock); the database refuses one after this,
# far enough from year 9999 that adding a timeframe or a day to it never overflows.
LATEST_AT = datetime(2100, 1, 1, tzinfo=UTC)
# An end at most this far past today (UTC): a backtest covers closed candles only.
END_AHEAD = timedelta(days=1)


def latest_end(now):
    """The latest end a backtest may ask for now: tomorrow's date (UTC), i.e. its midnight."""
    return datetime.combine(now.astimezone(UTC).date() + END_AHEAD, datetime.min.time(), tzinfo=UTC)
