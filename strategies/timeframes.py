"""Candle timeframes ("1m" ... "1w") and the candle closes they define, in UTC."""

from datetime import UTC, datetime, timedelta

UNITS = {"m": 60, "h": 3600, "d": 86400, "w": 604800}
TIMEFRAMES = ("1m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def timeframe_seconds(timeframe):
    try:
        count, unit = int(timeframe[:-1]), timeframe[-1]
        seconds = count * UNITS[unit]
    except (ValueError, KeyError, IndexError, TypeError):
        raise ValueError(f"Unknown timeframe {timeframe!r}") from None
    if seconds <= 0:
        raise ValueError(f"Unknown timeframe {timeframe!r}")
    return seconds


def timeframe_delta(timeframe):
    return timedelta(seconds=timeframe_seconds(timeframe))


def floor_time(moment, timeframe):
    """The latest candle boundary at or before ``moment`` (boundaries are multiples of the timeframe since the epoch)."""
    step = timeframe_seconds(timeframe)
    seconds = int((moment - EPOCH).total_seconds())
    return EPOCH + timedelta(seconds=seconds - seconds % step)


def last_closed(moment, timeframe):
    """The close time of the last candle that had closed at ``moment``."""
    return floor_time(moment, timeframe)


def to_ms(moment):
    return int((moment - EPOCH).total_seconds() * 1000)


def from_ms(ms):
    return EPOCH + timedelta(milliseconds=int(ms))
