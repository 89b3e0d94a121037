from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice as PlainTOTPDevice

from oneclick.models import AccountClosure, Invitation, LoginEvent, TOTPDevice, WaitlistEntry
from oneclick.services import InvitationRefused, email_has_account, invitation_issue, waitlist_approve


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


@admin.register(AccountClosure)
class AccountClosureAdmin(admin.ModelAdmin):
    """Accounts their owners deleted: counts only, nothing that names the person."""

    list_display = ("closed", "retention", "bots_stopped", "keys_deleted", "orders", "fills")
    list_filter = ("retention",)
    readonly_fields = list_display

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# Who may sign up (ONECLICK_SIGNUP): invitations, and the waitlist whose approval makes one.

class InvitationForm(forms.ModelForm):
    class Meta:
        model = Invitation
        fields = ("email",)

    def clean_email(self):
        email = self.cleaned_data["email"].strip().lower()
        if email_has_account(email=email):
            raise forms.ValidationError("This address already has an account.")
        return email


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    form = InvitationForm
    list_display = ("email", "state", "created", "created_by", "sent_at", "expires_at", "used_at", "used_by",
                    "send_error")
    list_select_related = ("created_by", "used_by")
    search_fields = ("email",)
    actions = ["send_again"]
    # The link's token is in the email only; its hash is never shown either.
    readonly_fields = ("email", "state", "created", "created_by", "issued_at", "expires_at", "sent_at", "send_error",
                       "used_at", "used_by")

    def get_fields(self, request, obj=None):
        return ("email",) if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    @admin.display(description="State")
    def state(self, invitation):
        return invitation.status(timezone.now())

    def save_model(self, request, obj, form, change):
        if change:
            return  # nothing of an invitation is edited; "Send again" makes a new link
        invitation_issue(invitation=obj, by=request.user)
        messages.info(request, f"A one-time sign-up link is being emailed to {obj.email}.")

    @admin.action(description="Send again (a new link; the old one stops working)")
    def send_again(self, request, queryset):
        sent, used = 0, 0
        for invitation in queryset:
            try:
                invitation_issue(invitation=invitation, by=request.user)
            except InvitationRefused:
                used += 1
            else:
                sent += 1
        if sent:
            messages.success(request, f"{sent} invitation(s) sent again with a new link.")
        if used:
            messages.warning(request, f"{used} invitation(s) already used: not sent.")


@admin.register(WaitlistEntry)
class WaitlistEntryAdmin(admin.ModelAdmin):
    list_display = ("email", "note", "created", "approved_at", "approved_by", "invitation_state")
    list_filter = (("approved_at", admin.EmptyFieldListFilter),)
    list_select_related = ("approved_by", "invitation")
    search_fields = ("email", "note")
    actions = ["approve"]
    fields = ("email", "note", "created", "approved_at", "approved_by", "invitation")
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    @admin.display(description="Invitation")
    def invitation_state(self, entry):
        return entry.invitation.status(timezone.now()) if entry.invitation else "—"

    @admin.action(description="Approve: email a sign-up link")
    def approve(self, request, queryset):
        approved = sum(waitlist_approve(entry=entry, by=request.user) for entry in queryset)
        skipped = len(queryset) - approved
        if approved:
            messages.success(request, f"{approved} approved: a sign-up link is being emailed to each.")
        if skipped:
            messages.warning(request, f"{skipped} already approved: use \"Send again\" on their invitation.")
