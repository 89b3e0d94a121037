from django.contrib import admin
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice as PlainTOTPDevice

from oneclick.models import LoginEvent, TOTPDevice


@admin.register(LoginEvent)
class LoginEventAdmin(admin.ModelAdmin):
    list_display = ("created", "user", "kind", "ip_address")
    list_filter = ("kind",)
    search_fields = ("user__email", "ip_address")
    list_select_related = ("user",)
    readonly_fields = ("user", "kind", "ip_address", "user_agent", "created")

    def has_add_permission(self, request):
        return False


# Second-factor devices: staff see that a device exists and can remove it
# (a user who lost their phone), never its seed or its backup codes.
for model in (PlainTOTPDevice, StaticDevice):
    if admin.site.is_registered(model):
        admin.site.unregister(model)


@admin.register(TOTPDevice)
class TOTPDeviceAdmin(admin.ModelAdmin):
    list_display = ("user", "name", "confirmed", "created_at", "last_used_at")
    list_select_related = ("user",)
    search_fields = ("user__email",)
    fields = ("user", "name", "confirmed", "created_at", "last_used_at")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(StaticDevice)
class BackupCodesAdmin(admin.ModelAdmin):
    list_display = ("user", "name", "confirmed", "codes_left")
    list_select_related = ("user",)
    search_fields = ("user__email",)
    fields = ("user", "name", "confirmed")
    readonly_fields = fields

    @admin.display(description="Codes left")
    def codes_left(self, device):
        return device.token_set.count()

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
