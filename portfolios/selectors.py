"""Read-only queries for the bot pages, the dashboard and the reports.

Each costs a constant number of queries whatever the history length: lists are
paginated querysets with their ``select_related``; every PnL figure comes from
:mod:`portfolios.pnl` (one query over positions and windowed queries over
equity snapshots: the last snapshot of each bot per day).
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from django.db.models import F, OuterRef, Prefetch, Subquery
from django.shortcuts import get_object_or_404
from django.utils import timezone

from keys.models import ExchangeKey
from portfolios import pnl
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


def bot_orders(*, bot):
    return Order.objects.filter(bot=bot).select_related("signal").order_by("-created", "-id")


# --- execution quality --------------------------------------------------------------------------

EXECUTION_WINDOW = 500  # the last filled signal orders a summary covers


def percentile(values, share):
    """The nearest-rank percentile of ``values`` (``share`` in 0..1), or None when there is none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))  # ceil(n * share), at least the first
    return ordered[int(rank) - 1]


@dataclass
class ExecutionQuality:
    orders: int
    slippage_median: Decimal | None
    slippage_p95: Decimal | None
    latency_median: float | None  # seconds from the signal to the last fill
    latency_p95: float | None


def execution_quality(orders):
    """Median and 95th percentile of slippage (bps, against the user) and signal-to-fill time over ``orders``."""
    slips = [o.slippage_bps for o in orders if o.slippage_bps is not None]
    waits = [o.signal_to_fill.total_seconds() for o in orders if o.signal_to_fill is not None]
    return ExecutionQuality(orders=len(slips), slippage_median=percentile(slips, 0.5),
                            slippage_p95=percentile(slips, 0.95), latency_median=percentile(waits, 0.5),
                            latency_p95=percentile(waits, 0.95))


def filled_signal_orders(**filters):
    return (Order.objects.filter(signal__isnull=False, filled_quantity__gt=0, **filters)
            .select_related("signal").order_by("-created", "-id")[:EXECUTION_WINDOW])


def bot_execution_quality(*, bot):
    return execution_quality(list(filled_signal_orders(bot=bot)))


def bot_fills(*, bot):
    return Fill.objects.filter(bot=bot).order_by("-traded_at", "-id")


def bot_decisions(*, bot):
    return SignalDecision.objects.filter(bot=bot).select_related("signal").order_by("-created", "-id")


def bot_state_changes(*, bot):
    return BotStateChange.objects.filter(bot=bot).select_related("by").order_by("-created", "-id")


def bot_equity_points(*, bot, since=None):
    """``(taken, equity, pnl)`` of the bot's snapshots in time order, streamed from one query."""
    snapshots = EquitySnapshot.objects.filter(bot=bot)
    if since is not None:
        snapshots = snapshots.filter(taken__gte=since)
    return (snapshots.order_by("taken", "id").annotate(pnl=F("realized_pnl") + F("unrealized_pnl"))
            .values_list("taken", "equity", "pnl").iterator(chunk_size=5000))


# --- orders ----------------------------------------------------------------------------------


def order_for_owner(*, owner, pk):
    return get_object_or_404(Order.objects.select_related("bot", "signal", "key"), pk=pk, bot__owner=owner)


def order_fills(*, order):
    return Fill.objects.filter(order=order).order_by("traded_at", "id")


@dataclass
class AccountEquity:
    key: object
    equity: Decimal
    reference: str
    taken: datetime
    unvalued: dict  # asset -> amount (a Decimal), held but valued by no market
    pegs_off: dict  # stablecoin -> (price, against)


def accounts_equity(*, owner):
    """Each linked account's last valuation in its venue's main quote (two queries)."""
    latest = (EquitySnapshot.objects.filter(key=OuterRef("pk"), bot__isnull=True)
              .order_by("-taken", "-id").values("pk")[:1])
    keys = list(ExchangeKey.objects.filter(owner=owner).exclude(status=ExchangeKey.Status.REVOKED)
                .annotate(snapshot_id=Subquery(latest)).filter(snapshot_id__isnull=False).order_by("label", "pk"))
    snapshots = EquitySnapshot.objects.in_bulk([key.snapshot_id for key in keys])
    rows = []
    for key in keys:
        snap = snapshots[key.snapshot_id]
        rows.append(AccountEquity(
            key=key, equity=snap.equity, reference=snap.quote_asset, taken=snap.taken,
            unvalued={asset: Decimal(amount) for asset, amount in snap.unvalued.items()},
            pegs_off={asset: (Decimal(price), against) for asset, (price, against) in snap.pegs_off.items()}))
    return rows


def orders_recent(*, owner, limit=10):
    return Order.objects.filter(bot__owner=owner).select_related("bot").order_by("-created", "-id")[:limit]


def orders_for_report(*, owner, bot=None, start, end):
    orders = Order.objects.filter(bot__owner=owner, created__gte=start, created__lt=end)
    if bot is not None:
        orders = orders.filter(bot=bot)
    return orders.select_related("bot", "signal").order_by("created", "id")


def fills_for_report(*, owner, bot=None, start, end):
    """Fills of the bot, or of every key of the owner (trades no bot placed included) for the account."""
    fills = Fill.objects.filter(key__owner=owner, traded_at__gte=start, traded_at__lt=end)
    if bot is not None:
        fills = fills.filter(bot=bot)
    return fills.select_related("bot").order_by("traded_at", "id")


# --- the dashboard's figures (all from portfolios.pnl) ----------------------------------------


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
    cards: list = field(default_factory=list)  # [(bot, pnl.Pnl)]
    quotes: list = field(default_factory=list)  # [QuoteSummary]


def account_summary(*, owner, now=None):
    """Per-bot cards and per-quote totals: equity now, today's and total PnL, max drawdown (:mod:`portfolios.pnl`)."""
    now = now or timezone.now()
    bots = list(bots_for_owner(owner=owner))
    figures = pnl.bots_pnl(bots, now=now)
    summary = AccountSummary(cards=[(bot, figures[bot.pk]) for bot in bots])
    rows = pnl.daily(bots=bots)
    for quote, total in pnl.totals_by_quote(bots, figures).items():
        mine = [bot for bot in bots if bot.quote_asset == quote]
        summary.quotes.append(QuoteSummary(
            quote=quote, equity=total.equity, allocation=total.allocation, pnl=total.pnl, today_pnl=total.today,
            max_drawdown=pnl.quote_drawdown(rows, quote, total), bots=len(mine),
            running=sum(bot.state == Bot.State.RUNNING for bot in mine)))
    return summary
