"""Staff views of bots and of what the exchange reported.

Bots change only through the services (pause, resume, stop, the kill switch),
each leaving a history row with the staff member's name. Orders, fills,
balances, positions, cursors and equity snapshots are records of the exchange
or derived from them: read-only.
"""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.template.response import TemplateResponse

from oneclick.lib.clock import db_now
from portfolios import selectors, services
from portfolios.execution import orders_stuck, waits_for
from portfolios.forms import KillSwitchForm
from portfolios.models import (
    Balance,
    Bot,
    BotStateChange,
    EquitySnapshot,
    Fill,
    Order,
    Position,
    SignalDecision,
    StrategyExecution,
    StuckOrder,
    TradeCursor,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows the platform writes from what the exchange says: staff read them, nobody edits them."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class StateChangeInline(ReadOnlyInline):
    model = BotStateChange
    fields = ("created", "from_state", "to_state", "by", "reason")
    readonly_fields = fields
    ordering = ("-created", "-id")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("by")


class PositionInline(ReadOnlyInline):
    model = Position
    fields = ("market", "quantity", "average_entry", "last_price", "realized_pnl", "fees_paid", "updated")
    readonly_fields = fields
    show_change_link = False


@admin.register(Bot)
class BotAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "owner", "state", "strategy", "key", "quote_asset", "allocation", "position_cap",
                    "market_list", "state_changed_at", "created")
    list_filter = ("state", "quote_asset", "strategy")
    search_fields = ("name", "owner__email")
    list_select_related = ("owner", "strategy", "key")
    # Settings change through the portal's form and its exchange checks; state through the actions.
    readonly_fields = ("owner", "name", "key", "strategy", "markets", "quote_asset", "allocation", "position_cap",
                       "state", "state_changed_at", "state_reason", "created")
    inlines = [PositionInline, StateChangeInline]
    actions = ["pause_bots", "resume_bots", "stop_bots", "stop_bots_and_sell", "kill_switch_owners"]

    def has_add_permission(self, request):
        return False

    @admin.display(description="Markets")
    def market_list(self, bot):
        return ", ".join(bot.markets or [])

    @admin.action(description="Pause selected bots")
    def pause_bots(self, request, queryset):
        paused = sum(services.bot_pause(bot=bot, by=request.user, reason="Paused by staff") for bot in queryset)
        self.message_user(request, f"{paused} bot(s) paused.", messages.SUCCESS)

    @admin.action(description="Resume selected bots")
    def resume_bots(self, request, queryset):
        resumed = 0
        for bot in queryset.select_related("key"):
            try:
                resumed += services.bot_resume(bot=bot, by=request.user, reason="Resumed by staff")
            except services.BotError as error:
                self.message_user(request, f"{bot}: {error}", messages.WARNING)
        self.message_user(request, f"{resumed} bot(s) resumed.", messages.SUCCESS)

    def _stop(self, request, queryset, sell):
        stopped = sent = 0
        for bot in queryset:
            changed, orders = services.bot_stop(bot=bot, by=request.user, reason="Stopped by staff",
                                                sell_positions=sell)
            stopped += changed
            sent += len(orders)
        text = f"{stopped} bot(s) stopped" + (f", {sent} sell order(s) sent." if sell else ".")
        self.message_user(request, text, messages.SUCCESS)

    @admin.action(description="Stop selected bots (keep positions)")
    def stop_bots(self, request, queryset):
        self._stop(request, queryset, sell=False)

    @admin.action(description="Stop selected bots and sell their positions")
    def stop_bots_and_sell(self, request, queryset):
        self._stop(request, queryset, sell=True)

    @admin.action(description="Kill switch: stop everything for the owners of the selected bots…")
    def kill_switch_owners(self, request, queryset):
        owners = get_user_model().objects.filter(pk__in=queryset.values("owner_id")).order_by("email")
        if "apply" in request.POST:
            form = KillSwitchForm(request.POST)
            if form.is_valid():
                for owner in owners:
                    done = services.kill_switch(user=owner, by=request.user, reason="Stop everything (staff)",
                                                **form.cleaned_data)
                    self.message_user(
                        request,
                        f"Stopped everything for {owner.email}: {done['paused']} bot(s) paused, {done['canceled']} order(s) canceled, "
                        f"{done['disabled']} key(s) disabled.",
                        messages.WARNING,
                    )
                return None
        else:
            form = KillSwitchForm()
        return TemplateResponse(request, "portfolios/admin_kill_switch.html", {
            **self.admin_site.each_context(request),
            "title": "Stop everything for these users?",
            "owners": owners,
            "bots": queryset,
            "form": form,
            "opts": self.model._meta,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        })


@admin.register(BotStateChange)
class BotStateChangeAdmin(ReadOnlyAdmin):
    list_display = ("created", "bot", "from_state", "to_state", "by", "reason")
    list_filter = ("to_state",)
    search_fields = ("bot__name", "bot__owner__email", "reason")
    list_select_related = ("bot", "by")


@admin.register(SignalDecision)
class SignalDecisionAdmin(ReadOnlyAdmin):
    list_display = ("created", "bot", "signal", "outcome", "reason")
    list_filter = ("outcome",)
    search_fields = ("bot__name", "bot__owner__email", "reason")
    list_select_related = ("bot", "signal", "signal__strategy")


class FillInline(ReadOnlyInline):
    model = Fill
    fk_name = "order"
    fields = ("traded_at", "price", "quantity", "fee", "fee_asset", "exchange_trade_id")
    readonly_fields = fields


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    list_display = ("created", "bot", "market", "side", "quantity", "state", "filled_quantity", "average_price",
                    "client_order_id", "exchange_order_id", "attempts", "error")
    list_filter = ("state", "side", "purpose")
    search_fields = ("client_order_id", "exchange_order_id", "bot__name", "bot__owner__email", "market")
    list_select_related = ("bot", "bot__owner")
    raw_id_fields = ("signal",)
    inlines = [FillInline]


@admin.register(StuckOrder)
class StuckOrderAdmin(OrderAdmin):
    """Orders not resolved minutes after they were written, and what each waits for."""

    list_display = ("created", "bot", "market", "side", "quantity", "state", "client_order_id", "attempts",
                    "waits_for", "error")

    def get_queryset(self, request):
        return orders_stuck(now=db_now()).select_related("bot", "bot__owner")

    @admin.display(description="waits for")
    def waits_for(self, order):
        return waits_for(order)


@admin.register(StrategyExecution)
class StrategyExecutionAdmin(ReadOnlyAdmin):
    """Slippage and signal-to-fill time of each strategy's last filled orders, all bots together."""

    list_display = ("name", "exchange", "orders", "slippage_median", "slippage_p95", "latency_median", "latency_p95")
    list_display_links = None

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("name")

    def changelist_view(self, request, extra_context=None):
        self._quality = {}
        return super().changelist_view(request, extra_context)

    def quality(self, strategy):
        if strategy.pk not in self._quality:
            orders = selectors.filled_signal_orders(signal__strategy=strategy)
            self._quality[strategy.pk] = selectors.execution_quality(list(orders))
        return self._quality[strategy.pk]

    @admin.display(description="filled orders")
    def orders(self, strategy):
        return self.quality(strategy).orders

    @admin.display(description="slippage median (bps)")
    def slippage_median(self, strategy):
        return self.quality(strategy).slippage_median

    @admin.display(description="slippage p95 (bps)")
    def slippage_p95(self, strategy):
        return self.quality(strategy).slippage_p95

    @admin.display(description="signal to fill median (s)")
    def latency_median(self, strategy):
        value = self.quality(strategy).latency_median
        return None if value is None else round(value, 1)

    @admin.display(description="signal to fill p95 (s)")
    def latency_p95(self, strategy):
        value = self.quality(strategy).latency_p95
        return None if value is None else round(value, 1)


@admin.register(Fill)
class FillAdmin(ReadOnlyAdmin):
    list_display = ("traded_at", "key", "bot", "market", "side", "price", "quantity", "fee", "fee_asset", "foreign",
                    "exchange_trade_id")
    list_filter = ("foreign", "side")
    search_fields = ("exchange_trade_id", "exchange_order_id", "market", "key__owner__email")
    list_select_related = ("key", "bot")


@admin.register(Position)
class PositionAdmin(ReadOnlyAdmin):
    list_display = ("bot", "market", "quantity", "average_entry", "last_price", "realized_pnl", "fees_paid",
                    "updated")
    search_fields = ("bot__name", "bot__owner__email", "market")
    list_select_related = ("bot",)


@admin.register(Balance)
class BalanceAdmin(ReadOnlyAdmin):
    list_display = ("key", "asset", "free", "used", "total", "updated")
    search_fields = ("asset", "key__owner__email")
    list_select_related = ("key",)


@admin.register(TradeCursor)
class TradeCursorAdmin(ReadOnlyAdmin):
    list_display = ("key", "market", "position", "updated")
    list_select_related = ("key",)


@admin.register(EquitySnapshot)
class EquitySnapshotAdmin(ReadOnlyAdmin):
    list_display = ("taken", "key", "bot", "quote_asset", "equity", "realized_pnl", "unrealized_pnl")
    list_filter = ("quote_asset",)
    list_select_related = ("key", "bot")
