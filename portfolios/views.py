from datetime import timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from keys.models import ExchangeKey
from keys.selectors import keys_for_owner
from portfolios import pnl, reports, selectors, services
from portfolios.forms import BotForm, KillSwitchForm, ReportForm, StopForm
from portfolios.metrics import chart_points
from portfolios.models import Bot, Order
from strategies.selectors import strategy_next_run

PER_PAGE = 25
# Chart periods offered on the bot page, in days (None: the whole history).
PERIODS = {"7": 7, "30": 30, "90": 90, "365": 365, "all": None}
PERIOD_LABELS = {"7": "7 days", "30": "30 days", "90": "90 days", "365": "1 year", "all": "All"}
DEFAULT_PERIOD = "90"


def _paged(request, queryset, param, per_page=PER_PAGE):
    """One paginated list of a page that holds several: its own ``?<param>=`` keeps the others' pages."""
    page = Paginator(queryset, per_page).get_page(request.GET.get(param))

    def link(number):
        query = request.GET.copy()
        query[param] = number
        return f"?{query.urlencode()}#{param}"

    return {
        "page": page,
        "newer": link(page.previous_page_number()) if page.has_previous() else "",
        "older": link(page.next_page_number()) if page.has_next() else "",
    }


# --- bots -------------------------------------------------------------------------------------


@login_required
def bot_list(request):
    summary = selectors.account_summary(owner=request.user)
    return render(request, "portfolios/bot_list.html", {
        "summary": summary,
        "has_active_key": keys_for_owner(owner=request.user).filter(status=ExchangeKey.Status.ACTIVE).exists(),
    })


def _form_page(request, form, bot=None):
    return render(request, "portfolios/bot_form.html", {
        "form": form,
        "bot": bot,
        "strategy_markets": form.strategy_markets,
        "key_quotes": form.key_quotes,
        "has_keys": bot is not None or form.fields["key"].queryset.exists(),
    })


@login_required
@require_http_methods(["GET", "POST"])
def bot_create(request):
    form = BotForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            bot = services.bot_create(owner=request.user, by=request.user, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"Bot “{bot.name}” is running. It acts on the next signal of {bot.strategy}.")
            return redirect("portfolios:bot_detail", pk=bot.pk)
    return _form_page(request, form)


@login_required
@require_http_methods(["GET", "POST"])
def bot_edit(request, pk):
    bot = selectors.bot_for_owner(owner=request.user, pk=pk)
    if bot.state == Bot.State.STOPPED:
        messages.error(request, "A stopped bot cannot be changed. Create a new bot instead.")
        return redirect("portfolios:bot_detail", pk=bot.pk)
    form = BotForm(request.POST or None, user=request.user, bot=bot)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            services.bot_update(bot=bot, by=request.user, name=data["name"], markets=data["markets"],
                                allocation=data["allocation"], position_cap=data["position_cap"])
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"Bot “{bot.name}” saved.")
            return redirect("portfolios:bot_detail", pk=bot.pk)
    return _form_page(request, form, bot)


@login_required
def bot_detail(request, pk):
    bot = selectors.bot_for_owner(owner=request.user, pk=pk)
    period = request.GET.get("period", DEFAULT_PERIOD)
    if period not in PERIODS:
        period = DEFAULT_PERIOD
    since = timezone.now() - timedelta(days=PERIODS[period]) if PERIODS[period] else None
    points, drawdown = chart_points(selectors.bot_equity_points(bot=bot, since=since))
    return render(request, "portfolios/bot_detail.html", {
        "bot": bot,
        "next_signal": strategy_next_run(strategy=bot.strategy) if bot.state == "running" else None,
        "figures": pnl.bots_pnl([bot], now=timezone.now())[bot.pk],
        "positions": bot.positions.all(),
        "chart": {"quote": bot.quote_asset, "points": points},
        "drawdown": drawdown,
        "period": period,
        "period_label": PERIOD_LABELS[period].lower(),
        "periods": PERIOD_LABELS.items(),
        "orders": _paged(request, selectors.bot_orders(bot=bot), "orders"),
        "execution": selectors.bot_execution_quality(bot=bot),
        "fills": _paged(request, selectors.bot_fills(bot=bot), "fills"),
        "decisions": _paged(request, selectors.bot_decisions(bot=bot), "signals"),
        "history": _paged(request, selectors.bot_state_changes(bot=bot), "history"),
    })


@login_required
@require_POST
def bot_pause(request, pk):
    bot = selectors.bot_for_owner(owner=request.user, pk=pk)
    if services.bot_pause(bot=bot, by=request.user, reason="Paused by the owner"):
        messages.success(request, f"Bot “{bot.name}” is paused: it ignores signals until you resume it.")
    else:
        messages.info(request, f"Bot “{bot.name}” is {bot.get_state_display().lower()}: nothing changed.")
    return redirect("portfolios:bot_detail", pk=bot.pk)


@login_required
@require_POST
def bot_resume(request, pk):
    bot = selectors.bot_for_owner(owner=request.user, pk=pk)
    try:
        resumed = services.bot_resume(bot=bot, by=request.user, reason="Resumed by the owner")
    except services.BotError as error:
        messages.error(request, f"Bot “{bot.name}” is still paused: {error}")
    else:
        if resumed:
            messages.success(request, f"Bot “{bot.name}” is running again.")
        else:
            messages.info(request, f"Bot “{bot.name}” is {bot.get_state_display().lower()}: nothing changed.")
    return redirect("portfolios:bot_detail", pk=bot.pk)


@login_required
@require_http_methods(["GET", "POST"])
def bot_stop(request, pk):
    bot = selectors.bot_for_owner(owner=request.user, pk=pk)
    if bot.state == Bot.State.STOPPED:
        messages.info(request, f"Bot “{bot.name}” is already stopped.")
        return redirect("portfolios:bot_detail", pk=bot.pk)
    form = StopForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        sell = form.cleaned_data["sell_positions"]
        changed, orders = services.bot_stop(bot=bot, by=request.user, reason="Stopped by the owner",
                                            sell_positions=sell)
        if not changed:
            messages.info(request, f"Bot “{bot.name}” was already stopped.")
        elif sell:
            filled = sum(1 for order in orders if order.state == Order.State.FILLED)
            messages.success(request, f"Bot “{bot.name}” is stopped. {len(orders)} sell order(s) sent, "
                                      f"{filled} filled; see its orders below.")
        else:
            messages.success(request, f"Bot “{bot.name}” is stopped. Its positions stay on your exchange account.")
        return redirect("portfolios:bot_detail", pk=bot.pk)
    positions = [p for p in bot.positions.all() if p.quantity > 0]
    return render(request, "portfolios/bot_stop.html", {"bot": bot, "form": form, "positions": positions})


# --- orders -----------------------------------------------------------------------------------


@login_required
def order_detail(request, pk):
    order = selectors.order_for_owner(owner=request.user, pk=pk)
    return render(request, "portfolios/order_detail.html", {
        "order": order,
        "fills": selectors.order_fills(order=order),
    })


# --- reports ----------------------------------------------------------------------------------


def _report(request, bot=None):
    form = ReportForm(request.GET if "kind" in request.GET else None)
    if form.is_bound and form.is_valid():
        return reports.report_response(owner=request.user, bot=bot, **form.cleaned_data)
    return render(request, "portfolios/report.html", {"form": form, "bot": bot})


@login_required
def account_report(request):
    return _report(request)


@login_required
def bot_report(request, pk):
    return _report(request, selectors.bot_for_owner(owner=request.user, pk=pk))


# --- stop everything --------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def kill_switch(request):
    """Pause every bot; optionally cancel open orders and disable every key. No second-factor step-up."""
    form = KillSwitchForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        done = services.kill_switch(user=request.user, by=request.user, reason="Stop everything (owner)",
                                    **form.cleaned_data)
        parts = [f"{done['paused']} bot(s) paused"]
        if form.cleaned_data["cancel_orders"]:
            parts.append(f"{done['canceled']} open order(s) canceled")
        if form.cleaned_data["disable_keys"]:
            parts.append(f"{done['disabled']} key(s) disabled")
        messages.warning(request, "Stopped everything: " + ", ".join(parts) + ". The Resume page starts it all "
                                  "again.")
        return redirect("portfolios:kill_switch_resume")
    return render(request, "portfolios/kill_switch.html", {
        "form": form,
        "running": Bot.objects.filter(owner=request.user, state=Bot.State.RUNNING).count(),
        "open_orders": Order.objects.filter(bot__owner=request.user,
                                            state__in=[Order.State.OPEN, Order.State.PARTIAL]).count(),
        "active_keys": keys_for_owner(owner=request.user).filter(status=ExchangeKey.Status.ACTIVE).count(),
    })


@login_required
@require_http_methods(["GET", "POST"])
def kill_switch_resume(request):
    """What "Stop everything" stopped, and one button to resume the bots whose key is active."""
    if request.method == "POST":
        resumed, waiting = services.kill_switch_resume(user=request.user, by=request.user)
        text = f"{resumed} bot(s) resumed."
        if waiting:
            text += f" {waiting} wait for their key: re-enable it on its page, then resume them here."
        messages.success(request, text)
        return redirect("portfolios:kill_switch_resume" if waiting else "dashboard")
    bots, keys = services.kill_switch_stopped(user=request.user)
    return render(request, "portfolios/kill_switch_resume.html", {
        "bots": bots, "keys": keys, "resumable": sum(1 for bot in bots if bot.key.is_active),
    })
