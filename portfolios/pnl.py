"""One PnL: every profit figure the platform shows, computed here and nowhere else.

The dashboard, the bot pages, Telegram's ``/status``, the daily summary email
and the CSV reports all call this module, so they cannot disagree:

- **PnL** of a bot = realised + unrealised, from its positions (average cost,
  every fee included, valued in the bot's quote). **Equity** = allocation + PnL.
- **Daily PnL** of a UTC day = the PnL at the day's end (now, for today) less
  the PnL at the end of the day before (the last snapshot before midnight UTC;
  0 for a bot started that day). Being a change of PnL, never of equity, an
  allocation raised or lowered is not profit, and neither is a deposit or a
  withdrawal on the account (they change balances, not positions).
- **Returns are time-weighted**: each day's return is its PnL over the equity
  it started with plus the allocation added that day (allocation changes are
  read from the snapshots: equity less PnL); the days are chained, and the
  **drawdown** is the largest fall of that chained index from a running peak,
  so money added or taken out never shows as a gain or a fall.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from django.db.models import F, Window
from django.db.models.functions import RowNumber, TruncDate

from portfolios.metrics import period_return, twr_drawdown
from portfolios.models import EquitySnapshot, Position

ZERO = Decimal(0)


def day_start(day):
    """The first instant of a UTC day."""
    return datetime.combine(day, time.min, tzinfo=UTC)


# --- now ----------------------------------------------------------------------------------------


@dataclass
class Pnl:
    """A bot's figures now (or the sum over bots of one quote asset)."""

    quote: str
    allocation: Decimal = ZERO
    realized: Decimal = ZERO
    unrealized: Decimal = ZERO
    fees: Decimal = ZERO
    held: Decimal = ZERO  # market value of the open positions
    open_positions: int = 0
    today: Decimal = ZERO  # daily PnL of the current UTC day

    @property
    def pnl(self):
        return self.realized + self.unrealized

    @property
    def equity(self):
        return self.allocation + self.pnl

    def add(self, other):
        for name in ("allocation", "realized", "unrealized", "fees", "held", "open_positions", "today"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def _positions(bot):
    cache = getattr(bot, "_prefetched_objects_cache", {})
    return cache["positions"] if "positions" in cache else Position.objects.filter(bot=bot)


def bots_pnl(bots, *, now):
    """``{bot id: Pnl}`` now, today's PnL included: the bots' positions (prefetched, or one query each) and one
    query for the last snapshot of each bot before today (UTC)."""
    bots = list(bots)
    midnight = day_start(now.astimezone(UTC).date())
    before = {bot_id: realized + unrealized for bot_id, _day, _equity, realized, unrealized in _last_snapshots(
        EquitySnapshot.objects.filter(bot_id__in=[b.pk for b in bots], taken__lt=midnight), per_day=False)}
    result = {}
    for bot in bots:
        figures = Pnl(quote=bot.quote_asset, allocation=bot.allocation)
        for position in _positions(bot):
            figures.realized += position.realized_pnl
            figures.unrealized += position.unrealized_pnl
            figures.fees += position.fees_paid
            figures.held += position.value
            figures.open_positions += position.quantity > 0
        figures.today = figures.pnl - before.get(bot.pk, ZERO)
        result[bot.pk] = figures
    return result


def totals_by_quote(bots, figures):
    """Sum the bots' :class:`Pnl` per quote asset: ``{quote: Pnl}``."""
    totals = {}
    for bot in bots:
        totals.setdefault(bot.quote_asset, Pnl(quote=bot.quote_asset)).add(figures[bot.pk])
    return dict(sorted(totals.items()))


# --- day by day -----------------------------------------------------------------------------------


@dataclass
class DailyRow:
    day: object
    quote: str
    equity: Decimal
    realized: Decimal
    unrealized: Decimal
    daily_pnl: Decimal
    twr: Decimal = ZERO  # time-weighted return since the first day, at this day's end

    @property
    def pnl(self):
        return self.realized + self.unrealized

    @property
    def allocation(self):
        return self.equity - self.pnl


def _last_snapshots(snapshots, per_day):
    """The last snapshot of each bot (and of each UTC day, when ``per_day``), one query."""
    partition = [F("bot_id"), TruncDate("taken", tzinfo=UTC)] if per_day else [F("bot_id")]
    ranked = snapshots.annotate(
        day=TruncDate("taken", tzinfo=UTC),
        rank=Window(RowNumber(), partition_by=partition, order_by=[F("taken").desc(), F("id").desc()]),
    ).filter(rank=1)
    return ranked.values_list("bot_id", "day", "equity", "realized_pnl", "unrealized_pnl")


def daily(*, bots, start=None, end=None):
    """Per UTC day and quote asset: the bots' summed equity and PnL at the day's last snapshot, the day's PnL
    and the time-weighted return so far.

    A bot without a snapshot on a day counts with its last known figures.
    ``start``/``end`` are dates, inclusive; two queries at most.
    """
    quote_of = {bot.pk: bot.quote_asset for bot in bots}
    if not quote_of:
        return []
    snapshots = EquitySnapshot.objects.filter(bot_id__in=list(quote_of))
    known = {}  # bot id -> (equity, realized, unrealized)
    if start is not None:
        for bot_id, _day, equity, realized, unrealized in _last_snapshots(
            snapshots.filter(taken__lt=day_start(start)), per_day=False
        ):
            known[bot_id] = (equity, realized, unrealized)
        snapshots = snapshots.filter(taken__gte=day_start(start))
    if end is not None:
        snapshots = snapshots.filter(taken__lt=day_start(end + timedelta(days=1)))
    by_day = defaultdict(list)
    for bot_id, day, equity, realized, unrealized in _last_snapshots(snapshots, per_day=True):
        by_day[day].append((bot_id, equity, realized, unrealized))
    if not by_day:
        return []
    quotes = sorted(set(quote_of.values()))

    def totals():
        out = {q: [ZERO, ZERO, ZERO] for q in quotes}
        for bot_id, (equity, realized, unrealized) in known.items():
            row = out[quote_of[bot_id]]
            row[0] += equity
            row[1] += realized
            row[2] += unrealized
        return out

    previous = totals()
    growth = {q: Decimal(1) for q in quotes}
    rows = []
    day, last = min(by_day), max(by_day)
    while day <= last:
        for bot_id, equity, realized, unrealized in by_day.get(day, ()):
            known[bot_id] = (equity, realized, unrealized)
        today = totals()
        for quote in quotes:
            equity, realized, unrealized = today[quote]
            if not any(quote_of[b] == quote for b in known):
                continue
            before_equity, before_realized, before_unrealized = previous[quote]
            before = before_realized + before_unrealized
            growth[quote] *= 1 + period_return(equity_before=before_equity, pnl_before=before, equity=equity,
                                               pnl=realized + unrealized)
            rows.append(DailyRow(day=day, quote=quote, equity=equity, realized=realized, unrealized=unrealized,
                                 daily_pnl=realized + unrealized - before, twr=growth[quote] - 1))
        previous = today
        day += timedelta(days=1)
    return rows


def quote_drawdown(rows, quote, now_figures=None):
    """Drawdown of one quote asset's daily rows, today's live figures appended."""
    points = [(r.equity, r.pnl) for r in rows if r.quote == quote]
    if now_figures is not None:
        points.append((now_figures.equity, now_figures.pnl))
    return twr_drawdown(points)


def day_pnl(bots, *, now):
    """Today's PnL (UTC) of the bots, summed per quote asset: ``{quote: Decimal}``."""
    figures = bots_pnl(bots, now=now)
    return {quote: total.today for quote, total in totals_by_quote(bots, figures).items()}
