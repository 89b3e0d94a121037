import json

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from strategies import bounds, selectors, services
from strategies import track_record as track_records
from strategies.backtest import trades_csv
from strategies.forms import BacktestForm
from strategies.models import Backtest, Signal, Strategy
from strategies.registry import REGISTRY

# (metrics key, label as Freqtrade prints it, how to show it)
METRIC_ROWS = [
    ("total_return", "Total profit %", "pct"),
    ("total_profit_abs", "Absolute profit", "money"),
    ("cagr", "CAGR %", "pct"),
    ("max_drawdown", "Max % of account underwater", "pct"),
    ("max_drawdown_abs", "Absolute drawdown", "money"),
    ("drawdown_start", "Drawdown start", "time"),
    ("drawdown_end", "Drawdown end", "time"),
    ("sharpe", "Sharpe", "num"),
    ("sortino", "Sortino", "num"),
    ("calmar", "Calmar", "num"),
    ("profit_factor", "Profit factor", "num"),
    ("expectancy", "Expectancy", "money"),
    ("expectancy_ratio", "Expectancy ratio", "num"),
    ("win_rate", "Win%", "pct"),
    ("trades", "Total trades", "int"),
    ("fees_paid", "Fees paid", "money"),
    ("exposure", "Market exposure", "pct"),
    ("market_change", "Market change (buy and hold)", "pct"),
    ("refused_orders", "Orders refused by sizing", "int"),
]


def metric_text(value, kind):
    if value is None or value == "":
        return "–"
    if kind == "pct":
        return f"{float(value) * 100:.2f}%"
    if kind == "money":
        return f"{float(value):,.2f}"
    if kind == "num":
        return f"{float(value):.3f}"
    if kind == "time":
        return str(value).replace("T", " ").replace("+00:00", " UTC")
    return str(value)


def metric_rows(metrics):
    return [(label, metric_text(metrics.get(key), kind)) for key, label, kind in METRIC_ROWS]


# --- signals ---------------------------------------------------------------------------


def _market_filter(request, markets):
    """The ``?market=`` filter: empty, or one of ``markets`` (anything else, a NUL byte included, is a 404)."""
    market = request.GET.get("market", "").strip()
    if market and market not in markets:
        raise Http404("No such market.")
    return market



@login_required
def signal_list(request):
    strategies = list(selectors.strategy_all())
    strategy = None
    if request.GET.get("strategy"):
        strategy = next((s for s in strategies if str(s.pk) == request.GET["strategy"]), None)
        if strategy is None:
            raise Http404("No such strategy.")
    markets = sorted({m for s in strategies for m in s.markets})
    market = _market_filter(request, markets)
    page = Paginator(selectors.signals_recent(strategy=strategy, market=market or None), 50).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "strategies/signal_list.html",
        {"page": page, "strategies": strategies, "strategy": strategy, "market": market, "markets": markets},
    )


@login_required
def signal_detail(request, pk):
    signal = get_object_or_404(Signal.objects.select_related("strategy", "run"), pk=pk)
    payload = services.signal_payload_bytes(signal).decode("utf-8")
    signature_ok = services.verify_bytes(
        payload=payload.encode("utf-8"), signature_hex=signal.signature, public_key_hex=signal.strategy.public_key
    )
    return render(
        request,
        "strategies/signal_detail.html",
        {
            "signal": signal,
            "payload": payload,
            "payload_pretty": json.dumps(json.loads(payload), indent=2, ensure_ascii=False),
            "signature_ok": signature_ok,
            "expired": timezone.now() >= signal.expires,
        },
    )


# --- strategies ------------------------------------------------------------------------


@login_required
def strategy_list(request):
    strategies = list(selectors.strategy_list())
    latest = selectors.signals_latest_by_strategy(strategies)
    rows = []
    for strategy in strategies:
        summary = selectors.backtest_summary(strategy=strategy, user=request.user)
        rows.append(
            {
                "strategy": strategy,
                "kind": REGISTRY.get(strategy.kind),
                "signals": latest.get(strategy.pk, []),
                "backtest": summary,
                "backtest_rows": metric_rows(summary.metrics)[:4] if summary else [],
            }
        )
    return render(request, "strategies/strategy_list.html", {"rows": rows})


@login_required
def strategy_detail(request, pk):
    strategy = get_object_or_404(Strategy, pk=pk)
    market = _market_filter(request, strategy.markets)
    signals = selectors.signals_recent(strategy=strategy, market=market or None, limit=60)
    return render(
        request,
        "strategies/strategy_detail.html",
        {
            "strategy": strategy,
            "kind": REGISTRY.get(strategy.kind),
            "signals": signals,
            "market": market,
            "runs": selectors.runs_recent(strategy=strategy),
            "backtests": selectors.backtests_visible(user=request.user)
            .filter(strategy=strategy)
            .defer("equity", "trades")[:10],
            "artifact": strategy.artifacts.defer("blob").first(),
            "form": BacktestForm(strategy=strategy),
            "backtest_limits": backtest_limits(),
        },
    )


# --- the public track record (no sign-in) --------------------------------------------------

TRACK_RECORD_PAGE = 100


@require_http_methods(["GET", "HEAD"])
def track_record(request, pk):
    """Every chained signal of the strategy with its hash and signature, and what following them made."""
    strategy = get_object_or_404(Strategy, pk=pk)
    signals = track_records.chained_signals(strategy)
    page = Paginator(signals.order_by("-pk"), TRACK_RECORD_PAGE).get_page(request.GET.get("page"))
    return render(request, "strategies/track_record.html", {
        "strategy": strategy,
        "page": page,
        "count": page.paginator.count,
        "head": strategy.chain_head or services.CHAIN_GENESIS,
        "following": track_records.follow(signals.only("market", "action", "fraction", "price")),
        "fee_percent": track_records.FOLLOW_FEE * 100,
    })


@require_http_methods(["GET", "HEAD"])
def track_record_json(request, pk):
    strategy = get_object_or_404(Strategy, pk=pk)
    response = HttpResponse(json.dumps(track_records.track_record_export(strategy), ensure_ascii=False, indent=1),
                            content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="track-record-{strategy.pk}.json"'
    return response


# --- backtests --------------------------------------------------------------------------


def backtest_limits():
    return {"per_day": settings.BACKTESTS_PER_DAY, "max_days": settings.BACKTEST_MAX_DAYS, "earliest": bounds.EARLIEST}


def _visible_backtest(request, pk):
    return get_object_or_404(
        Backtest.objects.select_related("strategy"), Q(user=request.user) | Q(user__isnull=True), pk=pk
    )


@login_required
@require_http_methods(["GET", "POST"])
def backtest_new(request, pk):
    strategy = get_object_or_404(Strategy, pk=pk)
    form = BacktestForm(request.POST or None, strategy=strategy)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            backtest = services.backtest_create(
                user=request.user,
                strategy=strategy,
                market=data["market"],
                start=data["start_at"],
                end=data["end_at"],
                fee=data["fee"],
                allocation=data["allocation"],
            )
        except ValidationError as error:
            for field, errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            messages.info(request, "Backtest queued: this page shows the result when it is done.")
            return redirect("strategy_pages:backtest_detail", pk=backtest.pk)
    return render(request, "strategies/backtest_new.html",
                  {"strategy": strategy, "form": form, "backtest_limits": backtest_limits()})


@login_required
def backtest_list(request):
    return render(request, "strategies/backtest_list.html", {"backtests": selectors.backtests_for_user(user=request.user)})


@login_required
def backtest_detail(request, pk):
    backtest = _visible_backtest(request, pk)
    return render(
        request,
        "strategies/backtest_detail.html",
        {
            "backtest": backtest,
            "rows": metric_rows(backtest.metrics) if backtest.status == Backtest.Status.DONE else [],
            "pending": backtest.status in (Backtest.Status.QUEUED, Backtest.Status.RUNNING),
            "chart": {"points": backtest.equity, "quote": backtest.market.split("/")[-1]},
        },
    )


@login_required
def backtest_trades_csv(request, pk):
    backtest = _visible_backtest(request, pk)
    if backtest.status != Backtest.Status.DONE:
        raise Http404("The backtest has not finished.")
    response = HttpResponse(trades_csv(backtest.trades), content_type="text/csv; charset=utf-8")
    name = f"backtest-{backtest.pk}-{backtest.market.replace('/', '')}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
