"""Read-only queries for the bot pages, the dashboard and the reports.

Each costs a constant number of queries whatever the history length: lists are
paginated querysets with their ``select_related``; figures come from one query
over positions and one windowed query over equity snapshots (the last snapshot
of each bot per day).
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.db.models import F, Prefetch, Window
from django.db.models.functions import RowNumber, TruncDate
from django.shortcuts import get_object_or_404
from django.utils import timezone

from portfolios.metrics import max_drawdown
from portfolios.models import Bot, BotStateChange, EquitySnapshot, Fill, Order, Position, SignalDecision

ZERO = Decimal(0)


# --- bots ------------------------------------------------------------------------------------


def bots_for_owner(*, owner):
    """The owner's bots with key, strategy and positions (three queries in all)."""
    return (
        Bot.objects.filter(owner=owner)
        .select_related("key", "strategy")
        .prefetch_related(Prefetch("positions", queryset=Position.objects.order_by("market")))
        .order_by("state", "-created")
    )


def bots_for_daily(*, owner):
    """All the owner's bots (stopped ones too), with only what the daily figures need."""
    return list(Bot.objects.filter(owner=owner).only("id", "quote_asset"))


def bot_for_owner(*, owner, pk):
    """One of the owner's bots; anyone else's id is a 404."""
    return get_object_or_404(
        Bot.objects.select_related("key", "strategy").prefetch_related(
            Prefetch("positions", queryset=Position.objects.order_by("market"))
        ),
        pk=pk,
        owner=owner,
    )


@dataclass
class BotFigures:
    """What a bot is worth now, from its positions as the last reconciliation left them (average cost, fees in)."""

    equity: Decimal = ZERO
    realized: Decimal = ZERO
    unrealized: Decimal = ZERO
    fees: Decimal = ZERO
    held: Decimal = ZERO  # market value of the open positions
    open_positions: int = 0

    @property
    def pnl(self):
        return self.realized + self.unrealized


def bot_figures(bot):
    """Figures of a bot whose positions were prefetched (no query of its own)."""
    figures = BotFigures()
    for position in bot.positions.all():
        figures.realized += position.realized_pnl
        figures.unrealized += position.unrealized_pnl
        figures.fees += position.fees_paid
        figures.held += position.value
        figures.open_positions += position.quantity > 0
    figures.equity = bot.allocation + figures.realized + figures.unrealized
    return figures


def bot_orders(*, bot):
    return Order.objects.filter(bot=bot).order_by("-created", "-id")


def bot_fills(*, bot):
    return Fill.objects.filter(bot=bot).order_by("-traded_at", "-id")


def bot_decisions(*, bot):
    return SignalDecision.objects.filter(bot=bot).select_related("signal").order_by("-created", "-id")


def bot_state_changes(*, bot):
    return BotStateChange.objects.filter(bot=bot).select_related("by").order_by("-created", "-id")


def bot_equity_points(*, bot, since=None):
    """``(taken, equity)`` of the bot's snapshots in time order, streamed from one query."""
    snapshots = EquitySnapshot.objects.filter(bot=bot)
    if since is not None:
        snapshots = snapshots.filter(taken__gte=since)
    return snapshots.order_by("taken", "id").values_list("taken", "equity").iterator(chunk_size=5000)


# --- orders ----------------------------------------------------------------------------------


def order_for_owner(*, owner, pk):
    return get_object_or_404(Order.objects.select_related("bot", "signal", "key"), pk=pk, bot__owner=owner)


def order_fills(*, order):
    return Fill.objects.filter(order=order).order_by("traded_at", "id")


def orders_recent(*, owner, limit=10):
    return Order.objects.filter(bot__owner=owner).select_related("bot").order_by("-created", "-id")[:limit]


def orders_for_report(*, owner, bot=None, start, end):
    orders = Order.objects.filter(bot__owner=owner, created__gte=start, created__lt=end)
    if bot is not None:
        orders = orders.filter(bot=bot)
    return orders.select_related("bot").order_by("created", "id")


def fills_for_report(*, owner, bot=None, start, end):
    """Fills of the bot, or of every key of the owner (trades no bot placed included) for the account."""
    fills = Fill.objects.filter(key__owner=owner, traded_at__gte=start, traded_at__lt=end)
    if bot is not None:
        fills = fills.filter(bot=bot)
    return fills.select_related("bot").order_by("traded_at", "id")


# --- daily equity and PnL --------------------------------------------------------------------


def day_start(day):
    """The first instant of a calendar day in the portal's time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))


@dataclass
class DailyRow:
    day: object
    quote: str
    equity: Decimal
    realized: Decimal
    unrealized: Decimal
    daily_pnl: Decimal

    @property
    def pnl(self):
        return self.realized + self.unrealized


def _last_snapshots(snapshots, per_day):
    """The last snapshot of each bot (and of each day, when ``per_day``), one query."""
    partition = [F("bot_id"), TruncDate("taken")] if per_day else [F("bot_id")]
    ranked = snapshots.annotate(
        day=TruncDate("taken"),
        rank=Window(RowNumber(), partition_by=partition, order_by=[F("taken").desc(), F("id").desc()]),
    ).filter(rank=1)
    return ranked.values_list("bot_id", "day", "equity", "realized_pnl", "unrealized_pnl")


def daily_equity(*, bots, start=None, end=None):
    """Per day and quote asset: the summed equity and PnL of ``bots`` at the day's last snapshot.

    A bot without a snapshot on a day counts with its last known figures. Daily
    PnL is the change of realized + unrealized PnL from the day before (so an
    allocation change is not a profit). ``start``/``end`` are dates, inclusive;
    two queries at most.
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
            before = previous[quote][1] + previous[quote][2]
            rows.append(DailyRow(day=day, quote=quote, equity=equity, realized=realized, unrealized=unrealized,
                                 daily_pnl=realized + unrealized - before))
        previous = today
        day += timedelta(days=1)
    return rows


@dataclass
class QuoteSummary:
    """The dashboard's figures for the bots in one quote asset."""

    quote: str
    equity: Decimal = ZERO
    allocation: Decimal = ZERO
    pnl: Decimal = ZERO
    today_pnl: Decimal = ZERO
    max_drawdown: object = None  # metrics.Drawdown over the daily equity
    bots: int = 0
    running: int = 0


@dataclass
class AccountSummary:
    cards: list = field(default_factory=list)  # [(bot, BotFigures)]
    quotes: list = field(default_factory=list)  # [QuoteSummary]


def account_summary(*, owner, today=None):
    """Per-bot cards and per-quote totals: equity now, today's and total PnL, max drawdown (daily equity).

    Today's PnL is the PnL now less the PnL at the last snapshot before today.
    """
    today = today or timezone.localdate()
    bots = list(bots_for_owner(owner=owner))
    summary = AccountSummary(cards=[(bot, bot_figures(bot)) for bot in bots])
    per_quote = {}
    for bot, figures in summary.cards:
        row = per_quote.setdefault(bot.quote_asset, QuoteSummary(quote=bot.quote_asset))
        row.equity += figures.equity
        row.allocation += bot.allocation
        row.pnl += figures.pnl
        row.today_pnl += figures.pnl
        row.bots += 1
        row.running += bot.state == Bot.State.RUNNING
    rows = daily_equity(bots=bots)
    for quote, row in per_quote.items():
        series = [r for r in rows if r.quote == quote]
        row.max_drawdown = max_drawdown([r.equity for r in series] + [row.equity])
        before_today = [r for r in series if r.day < today]
        if before_today:
            row.today_pnl -= before_today[-1].pnl
    summary.quotes = [per_quote[q] for q in sorted(per_quote)]
    return summary
