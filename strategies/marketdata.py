"""Candles from the exchange gateway into the Candle table, incrementally.

``candles_sync`` makes sure every closed candle of a window is stored: it
asks the exchange only for the candles that are missing (the tail since the
last stored one, and any gap inside the window), never for what it already has.
"""

import logging
import time
from dataclasses import dataclass, field
from decimal import Decimal

from django.utils import timezone

from exchanges import ExchangeRejected, public_exchange
from strategies.models import Candle
from strategies.registry import Series
from strategies.timeframes import floor_time, from_ms, timeframe_delta, timeframe_seconds, to_ms

log = logging.getLogger(__name__)

FETCH_LIMIT = 1000  # candles per request (Binance's maximum)


class UnknownMarket(Exception):
    """The exchange has no such spot market. ``str()`` is safe to show."""


@dataclass
class SyncResult:
    stored: int = 0
    requests: int = 0
    gaps: int = 0  # missing runs found inside the window (not counting the tail)
    still_missing: int = 0  # candles the exchange did not have
    seconds: float = 0.0
    runs: list = field(default_factory=list)


def _missing_runs(present, start, end, step):
    """Contiguous runs [(first_open, count)] of candle opens in [start, end) not in ``present``."""
    runs = []
    moment = start
    current = None
    while moment < end:
        if moment in present:
            current = None
        elif current is None:
            current = [moment, 1]
            runs.append(current)
        else:
            current[1] += 1
        moment += step
    return [tuple(run) for run in runs]


def _decimal(value):
    return Decimal(repr(float(value))) if value is not None else Decimal(0)


def market_check(*, exchange, symbol, gateway=None):
    """The ccxt market dict of ``symbol``, or UnknownMarket."""
    gateway = gateway or public_exchange(exchange)
    try:
        return gateway.market(symbol)
    except ExchangeRejected as error:
        raise UnknownMarket(str(error)) from None


def candles_sync(*, exchange, symbol, timeframe, start, end, gateway=None, now=None):
    """Store every closed candle opening in ``[start, end)``; return what it took.

    ``start`` is rounded down to the timeframe. Candles that have not closed by
    ``now`` are never stored. Raises the gateway's ExchangeError subclasses.
    """
    began = time.monotonic()
    now = now or timezone.now()
    step = timeframe_delta(timeframe)
    start = floor_time(start, timeframe)
    end = min(end, floor_time(now, timeframe))  # the open of the candle in progress is excluded
    result = SyncResult()
    if end <= start:
        return result
    present = set(
        Candle.objects.filter(
            exchange=exchange, symbol=symbol, timeframe=timeframe, open_time__gte=start, open_time__lt=end
        ).values_list("open_time", flat=True)
    )
    runs = _missing_runs(present, start, end, step)
    if not runs:
        result.seconds = time.monotonic() - began
        return result
    last_present = max(present) if present else None
    result.gaps = sum(1 for first, _ in runs if last_present is not None and first < last_present)
    gateway = gateway or public_exchange(exchange)
    step_ms = timeframe_seconds(timeframe) * 1000
    for first, count in runs:
        result.runs.append((first, count))
        run_end = first + count * step
        since = to_ms(first)
        while since < to_ms(run_end):
            wanted = min(FETCH_LIMIT, (to_ms(run_end) - since) // step_ms)
            rows = gateway.call("fetch_ohlcv", symbol, timeframe, since, int(wanted))
            result.requests += 1
            candles = []
            last_open = None
            for row in rows or ():
                open_ms = int(row[0])
                last_open = open_ms if last_open is None else max(last_open, open_ms)
                if not (since <= open_ms < to_ms(run_end)):
                    continue
                candles.append(
                    Candle(
                        exchange=exchange,
                        symbol=symbol,
                        timeframe=timeframe,
                        open_time=from_ms(open_ms),
                        open=_decimal(row[1]),
                        high=_decimal(row[2]),
                        low=_decimal(row[3]),
                        close=_decimal(row[4]),
                        volume=_decimal(row[5]),
                    )
                )
            if candles:
                Candle.objects.bulk_create(candles, ignore_conflicts=True)
                result.stored += len(candles)
            if last_open is None or last_open + step_ms <= since:
                break  # the exchange has nothing more here
            since = max(last_open + step_ms, since + step_ms)
    present_after = Candle.objects.filter(
        exchange=exchange, symbol=symbol, timeframe=timeframe, open_time__gte=start, open_time__lt=end
    ).count()
    result.still_missing = len(_expected(start, end, step)) - present_after
    result.seconds = time.monotonic() - began
    if result.still_missing:
        log.warning(
            "Candles missing at the exchange",
            extra={"exchange": exchange, "symbol": symbol, "timeframe": timeframe, "missing": result.still_missing},
        )
    return result


def _expected(start, end, step):
    out = []
    moment = start
    while moment < end:
        out.append(moment)
        moment += step
    return out


def candles_load(*, exchange, symbol, timeframe, start, end):
    """Stored candles opening in ``[start, end)`` as a :class:`Series`."""
    rows = Candle.objects.filter(
        exchange=exchange, symbol=symbol, timeframe=timeframe, open_time__gte=start, open_time__lt=end
    ).order_by("open_time").values_list("open_time", "open", "high", "low", "close", "volume")
    data = [(to_ms(t), float(o), float(h), float(lo), float(c), float(v)) for t, o, h, lo, c, v in rows]
    return Series.from_rows(data, timeframe_seconds(timeframe) * 1000)


def last_close_price(*, exchange, symbol, timeframe, candle_close):
    """The close price (Decimal) of the candle closing at ``candle_close``."""
    candle = Candle.objects.filter(
        exchange=exchange, symbol=symbol, timeframe=timeframe, open_time=candle_close - timeframe_delta(timeframe)
    ).first()
    return candle.close if candle else None


def series_window(*, exchange, symbol, timeframe, candle_close, count, gateway=None, now=None):
    """Sync then load the ``count`` candles up to the one closing at ``candle_close``."""
    step = timeframe_delta(timeframe)
    start = candle_close - count * step
    sync = candles_sync(
        exchange=exchange, symbol=symbol, timeframe=timeframe, start=start, end=candle_close, gateway=gateway, now=now
    )
    series = candles_load(exchange=exchange, symbol=symbol, timeframe=timeframe, start=start, end=candle_close)
    return series, sync

