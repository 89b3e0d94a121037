from django.contrib import admin, messages
from django.db import transaction

from strategies import services
from strategies.forms import StrategyAdminForm
from strategies.models import Backtest, Candle, ModelArtifact, Signal, SignalReceipt, Strategy, StrategyRun


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the platform: staff read them, nobody edits them by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Strategy)
class StrategyAdmin(admin.ModelAdmin):
    form = StrategyAdminForm
    list_display = ["name", "kind", "timeframe", "exchange", "market_list", "active", "created"]
    list_filter = ["kind", "active", "timeframe"]
    search_fields = ["name"]
    # The private key is never in a form, a list or a page.
    readonly_fields = ["public_key", "created", "updated"]
    actions = ["run_now", "run_now_test", "retrain_model", "sync_schedules"]

    @admin.display(description="Markets")
    def market_list(self, obj):
        return ", ".join(obj.markets)

    def save_model(self, request, obj, form, change):
        obj.save()
        if not obj.public_key:
            services.strategy_keys_generate(strategy=obj)
        transaction.on_commit(lambda: services.schedules_sync(strategies=[obj]))

    def delete_model(self, request, obj):
        super().delete_model(request, obj)
        transaction.on_commit(lambda: services.schedules_sync())

    def _run(self, request, queryset, test):
        for strategy in queryset:
            outcome = services.strategy_run(strategy=strategy, test=test, trigger="test" if test else "admin")
            close = f"{outcome.candle_close:%Y-%m-%d %H:%M} UTC"
            if outcome.status == "skipped":
                self.message_user(
                    request, f"{strategy}: already ran for the candle closing {close}; nothing done.", messages.WARNING
                )
            elif outcome.status == "failed":
                self.message_user(request, f"{strategy}: failed for {close}: {outcome.error}", messages.ERROR)
            elif test:
                summary = "; ".join(f"{d.market} {d.action} {d.fraction}" for d in outcome.decisions)
                self.message_user(request, f"{strategy} (test, nothing signed) @ {close}: {summary}")
            else:
                self.message_user(request, f"{strategy} @ {close}: {len(outcome.signals)} signed signals.")

    @admin.action(description="Run now for the last closed candle (once per candle)")
    def run_now(self, request, queryset):
        self._run(request, queryset, test=False)

    @admin.action(description="Test run now (nothing signed, nothing placed)")
    def run_now_test(self, request, queryset):
        self._run(request, queryset, test=True)

    @admin.action(description="Retrain the model (learned strategies)")
    def retrain_model(self, request, queryset):
        for strategy in queryset:
            if strategy.kind != "learned":
                continue
            artifact = services.model_train(strategy=strategy)
            self.message_user(request, f"{strategy}: model {artifact.version}.")

    @admin.action(description="Sync schedules")
    def sync_schedules(self, request, queryset):
        kept = services.schedules_sync()
        self.message_user(request, f"{len(kept)} schedules in place.")


@admin.register(StrategyRun)
class StrategyRunAdmin(ReadOnlyAdmin):
    list_display = ["strategy", "candle_close", "status", "trigger", "model_version", "total_seconds", "short_error"]
    list_filter = ["status", "strategy", "trigger"]
    date_hierarchy = "candle_close"

    @admin.display(description="Error")
    def short_error(self, obj):
        return obj.error[:120]


@admin.register(Signal)
class SignalAdmin(ReadOnlyAdmin):
    list_display = ["strategy", "market", "action", "fraction", "candle_close", "expires", "model_version"]
    list_filter = ["strategy", "action", "market"]
    date_hierarchy = "candle_close"
    list_select_related = ["strategy"]


@admin.register(SignalReceipt)
class SignalReceiptAdmin(ReadOnlyAdmin):
    list_display = ["consumer", "signal", "market", "candle_close", "accepted"]
    list_filter = ["market"]
    search_fields = ["consumer"]


@admin.register(Candle)
class CandleAdmin(ReadOnlyAdmin):
    list_display = ["exchange", "symbol", "timeframe", "open_time", "open", "high", "low", "close", "volume"]
    list_filter = ["exchange", "symbol", "timeframe"]
    date_hierarchy = "open_time"


@admin.register(ModelArtifact)
class ModelArtifactAdmin(ReadOnlyAdmin):
    list_display = ["version", "strategy", "train_start", "train_end", "size", "created"]
    list_filter = ["strategy"]
    exclude = ["blob"]


@admin.register(Backtest)
class BacktestAdmin(ReadOnlyAdmin):
    list_display = ["strategy", "market", "start", "end", "user", "status", "progress", "created"]
    list_filter = ["status", "strategy"]
    exclude = ["equity", "trades"]
