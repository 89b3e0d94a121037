from django.contrib import admin, messages

from keys.models import ExchangeKey, KeyEvent
from keys.services import key_disable, key_reprobe


class KeyEventInline(admin.TabularInline):
    model = KeyEvent
    fields = ("created", "kind", "actor", "ip_address", "detail")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-created",)

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ExchangeKey)
class ExchangeKeyAdmin(admin.ModelAdmin):
    """Staff see who owns which key and what it may do; never a secret."""

    list_display = ("id", "owner", "exchange", "label", "api_key_hint", "status", "permission_summary",
                    "ip_restricted", "probed_at", "last_used_at")
    list_filter = ("exchange", "status", "permissions_verified", "ip_restricted")
    search_fields = ("owner__email", "label", "api_key_hint")
    list_select_related = ("owner",)
    # Only non-secret fields exist in the form; all of them read-only.
    fields = ("owner", "exchange", "label", "api_key_hint", "status", "status_reason", "permissions",
              "permissions_verified", "ip_restricted", "auth_failures", "probed_at", "created", "last_used_at")
    readonly_fields = fields
    inlines = [KeyEventInline]
    actions = ["disable_keys", "reprobe_keys"]

    @admin.display(description="Permissions")
    def permission_summary(self, key):
        granted = [name[4:] for name in ("can_read", "can_trade", "can_withdraw") if key.permissions.get(name)]
        return ", ".join(granted) or "—"

    def has_add_permission(self, request):
        return False

    @admin.action(description="Disable selected keys (pauses their bots)")
    def disable_keys(self, request, queryset):
        count = sum(key_disable(key=key, by=request.user, reason="Disabled by staff") for key in queryset)
        self.message_user(request, f"{count} key(s) disabled.", messages.SUCCESS)

    @admin.action(description="Re-probe selected keys with their exchange")
    def reprobe_keys(self, request, queryset):
        keys = [key_reprobe(key=key, by=request.user) for key in queryset.filter(status=ExchangeKey.Status.ACTIVE)]
        disabled = sum(1 for key in keys if not key.is_active)
        self.message_user(request, f"{len(keys)} key(s) probed, {disabled} disabled by the result.", messages.INFO)


@admin.register(KeyEvent)
class KeyEventAdmin(admin.ModelAdmin):
    list_display = ("created", "kind", "owner", "key", "actor", "ip_address", "detail")
    list_filter = ("kind",)
    search_fields = ("owner__email", "detail")
    list_select_related = ("owner", "key", "actor")
    readonly_fields = ("created", "kind", "owner", "key", "actor", "ip_address", "detail")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
