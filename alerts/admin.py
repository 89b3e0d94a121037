from django.contrib import admin, messages

from alerts.models import Alert, AlertPreference, Delivery, RuleMark, TelegramLink, TelegramLinkToken
from alerts.services import alert_resend


class DeliveryInline(admin.TabularInline):
    model = Delivery
    extra = 0
    can_delete = False
    readonly_fields = ["channel", "state", "attempts", "next_attempt_at", "last_error", "sent_at"]
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ["created", "user", "severity", "kind", "title", "count", "acknowledged_at"]
    list_filter = ["severity", "kind"]
    search_fields = ["title", "user__email"]
    date_hierarchy = "created"
    raw_id_fields = ["user", "bot", "key", "order"]
    readonly_fields = ["created", "last_seen", "count", "dedupe_key"]
    inlines = [DeliveryInline]
    actions = ["resend"]

    @admin.action(description="Re-send on every channel the user has now")
    def resend(self, request, queryset):
        for alert in queryset.select_related("user"):
            alert_resend(alert=alert)
        messages.success(request, f"{queryset.count()} alert(s) queued to be sent again.")


@admin.register(Delivery)
class DeliveryAdmin(admin.ModelAdmin):
    list_display = ["alert", "channel", "state", "attempts", "next_attempt_at", "sent_at", "last_error"]
    list_filter = ["state", "channel"]
    raw_id_fields = ["alert"]
    readonly_fields = ["created", "updated"]


@admin.register(AlertPreference)
class AlertPreferenceAdmin(admin.ModelAdmin):
    list_display = ["user", "email_min_severity", "telegram_min_severity", "daily_summary", "drawdown_threshold",
                    "email_off_reason"]
    raw_id_fields = ["user"]


@admin.register(TelegramLink)
class TelegramLinkAdmin(admin.ModelAdmin):
    list_display = ["user", "chat_name", "active", "off_reason", "linked_at"]
    raw_id_fields = ["user"]


@admin.register(TelegramLinkToken)
class TelegramLinkTokenAdmin(admin.ModelAdmin):
    # Only the hash is stored; it is not shown either.
    list_display = ["user", "created", "expires", "used_at"]
    fields = ["user", "created", "expires", "used_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False


@admin.register(RuleMark)
class RuleMarkAdmin(admin.ModelAdmin):
    list_display = ["name", "value", "updated"]
    search_fields = ["name"]
