"""Read-only queries for the pages, each at a constant number of queries."""

from django.db.models import Q

from strategies.models import Backtest, Signal, Strategy, StrategyRun


def strategy_list():
    return Strategy.objects.filter(active=True).order_by("name")


def strategy_all():
    return Strategy.objects.order_by("name")


def signals_recent(*, strategy=None, market=None, limit=None):
    qs = Signal.objects.select_related("strategy").order_by("-candle_close", "strategy__name", "market")
    if strategy is not None:
        qs = qs.filter(strategy=strategy)
    if market:
        qs = qs.filter(market=market)
    return qs[:limit] if limit else qs


def signals_latest_by_strategy(strategies, per_strategy=5):
    """The latest signals of each strategy, as {strategy_id: [signal, ...]} (one query per strategy at most)."""
    out = {}
    for strategy in strategies:
        out[strategy.pk] = list(
            Signal.objects.filter(strategy=strategy).order_by("-candle_close", "market")[:per_strategy]
        )
    return out


def runs_recent(*, strategy, limit=10):
    return StrategyRun.objects.filter(strategy=strategy).order_by("-candle_close")[:limit]


def backtests_visible(*, user):
    """The user's own backtests and the platform's (no user)."""
    return Backtest.objects.select_related("strategy", "user").filter(Q(user=user) | Q(user__isnull=True))


def backtest_summary(*, strategy, user):
    """The latest finished backtest the user may see for a strategy."""
    return (
        backtests_visible(user=user)
        .filter(strategy=strategy, status=Backtest.Status.DONE)
        .defer("equity", "trades")
        .order_by("-finished")
        .first()
    )


def backtests_for_user(*, user, limit=20):
    return backtests_visible(user=user).defer("equity", "trades").order_by("-created")[:limit]


def strategy_next_run(*, strategy):
    """When the strategy runs next (its next signals), by its schedule; None when it has none (inactive)."""
    from django_q.models import Schedule

    return Schedule.objects.filter(name=f"strategy-run:{strategy.pk}").values_list("next_run", flat=True).first()
