"""Drawdown and equity-curve figures. Pure: no database, Decimal in and out.

The backtest engine (``strategies.backtest``) has its own float/numpy version
for simulated curves; the figures here are for what really happened on the
account, from stored equity snapshots, and stay in Decimal.
"""

from dataclasses import dataclass
from decimal import Decimal

ZERO = Decimal(0)


@dataclass(frozen=True)
class Drawdown:
    """The largest fall from a running peak: as a fraction of that peak and in the quote asset."""

    fraction: Decimal = ZERO
    amount: Decimal = ZERO
    peak: int | None = None  # index of the peak it fell from
    trough: int | None = None  # index of the lowest point of that fall

    @property
    def percent(self):
        return self.fraction * 100


def drawdown_series(values):
    """The fall below the running peak at each point, as a fraction of that peak (0 at a new high)."""
    peak = None
    out = []
    for value in values:
        if peak is None or value > peak:
            peak = value
        out.append((peak - value) / peak if peak > 0 else ZERO)
    return out


def max_drawdown(values):
    """The largest relative fall from a running peak to a later point (Freqtrade's "max % underwater")."""
    best = Drawdown()
    peak_value = peak_index = None
    for index, value in enumerate(values):
        if peak_value is None or value > peak_value:
            peak_value, peak_index = value, index
            continue
        if peak_value > 0:
            fraction = (peak_value - value) / peak_value
            if fraction > best.fraction:
                best = Drawdown(fraction=fraction, amount=peak_value - value, peak=peak_index, trough=index)
    return best


def period_return(*, equity_before, pnl_before, equity, pnl):
    """One period's time-weighted return: its PnL over the equity it started with plus the allocation added
    in it (the allocation is equity less PnL, so money in or out is never a gain or a loss)."""
    flow = (equity - pnl) - (equity_before - pnl_before)
    base = equity_before + flow
    return (pnl - pnl_before) / base if base > 0 else ZERO


def twr_index(pairs):
    """The chained time-weighted growth of 1 over ``(equity, pnl)`` pairs in time order."""
    pairs = list(pairs)
    index = [Decimal(1)] if pairs else []
    for (equity_before, pnl_before), (equity, pnl) in zip(pairs, pairs[1:]):
        index.append(index[-1] * (1 + period_return(equity_before=equity_before, pnl_before=pnl_before,
                                                    equity=equity, pnl=pnl)))
    return index


def twr_drawdown(pairs):
    """The largest fall of the time-weighted index from a running peak, as a fraction of the peak, with the fall
    of PnL over the same stretch as the amount."""
    pairs = list(pairs)
    worst = max_drawdown(twr_index(pairs))
    if worst.peak is None:
        return worst
    return Drawdown(fraction=worst.fraction, amount=pairs[worst.peak][1] - pairs[worst.trough][1],
                    peak=worst.peak, trough=worst.trough)


def chart_points(points, max_points=1200):
    """``[[ms, equity, drawdown %], ...]`` for the equity chart, and the curve's max drawdown.

    ``points`` are ``(datetime, equity)`` or ``(datetime, equity, pnl)`` in time
    order. With PnL, the drawdown is that of the time-weighted index (an
    allocation change is neither a gain nor a fall); without, of the equity
    itself. It is taken over every point; the chart keeps at most about
    ``max_points`` of them, the lowest and highest of each stretch (min/max
    decimation), so no trough or peak disappears from the picture.
    """
    points = list(points)
    values = [point[1] for point in points]
    if points and len(points[0]) > 2:
        pairs = [(point[1], point[2]) for point in points]
        drawdowns, worst = drawdown_series(twr_index(pairs)), twr_drawdown(pairs)
    else:
        drawdowns, worst = drawdown_series(values), max_drawdown(values)
    keep = range(len(points))
    if len(points) > max_points:
        buckets = max(max_points // 2, 1)
        size = len(points) / buckets
        kept = set()
        for bucket in range(buckets):
            start, end = int(bucket * size), int((bucket + 1) * size)
            stretch = range(start, max(end, start + 1))
            kept.add(min(stretch, key=lambda i: values[i]))
            kept.add(max(stretch, key=lambda i: values[i]))
        kept.add(len(points) - 1)
        keep = sorted(kept)
    chart = [
        [int(points[i][0].timestamp() * 1000), float(values[i]), round(float(drawdowns[i] * 100), 4)] for i in keep
    ]
    return chart, worst
