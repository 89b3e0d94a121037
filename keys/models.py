from django.conf import settings
from django.db import models
from django_cryptography.fields import encrypt

from exchanges import EXCHANGES


def mask_api_key(api_key):
    """A non-secret hint of an API key: its first and last four characters."""
    api_key = api_key or ""
    if len(api_key) <= 12:
        return "…" + api_key[-2:] if api_key else ""
    return f"{api_key[:4]}…{api_key[-4:]}"


class ExchangeKey(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        DISABLED = "disabled", "Disabled"
        REVOKED = "revoked", "Deleted"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="exchange_keys")
    exchange = models.CharField(max_length=20, choices=[(name, cls.label) for name, cls in EXCHANGES.items()])
    label = models.CharField(max_length=60)
    # Encrypted under ONECLICK_ENCRYPTION_KEY (keys.crypto); never displayed.
    api_key = encrypt(models.TextField())
    api_secret = encrypt(models.TextField(blank=True, default=""))
    passphrase = encrypt(models.TextField(blank=True, default=""))
    private_key = encrypt(models.TextField(blank=True, default=""))
    api_key_hint = models.CharField(max_length=20, help_text="First and last characters of the API key.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    status_reason = models.CharField(max_length=300, blank=True)
    permissions = models.JSONField(default=dict, blank=True)
    permissions_verified = models.BooleanField(default=False)
    ip_restricted = models.BooleanField(null=True)
    probed_at = models.DateTimeField(null=True, blank=True)
    auth_failures = models.PositiveIntegerField(default=0, help_text="Consecutive authentication failures.")
    created = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["owner", "status"])]

    def __str__(self):
        return f"{self.get_exchange_display()} · {self.label} ({self.api_key_hint})"

    @property
    def is_active(self):
        return self.status == self.Status.ACTIVE

    @property
    def can_withdraw(self):
        return bool(self.permissions.get("can_withdraw"))

    @property
    def can_trade(self):
        return bool(self.permissions.get("can_trade"))


class KeyEvent(models.Model):
    """The audit trail of a key: one row per thing that happened to it."""

    class Kind(models.TextChoices):
        LINKED = "linked", "Linked"
        PROBED = "probed", "Probed"
        PROBE_FAILED = "probe_failed", "Probe failed"
        DISABLED = "disabled", "Disabled"
        ENABLED = "enabled", "Re-enabled"
        ROTATED = "rotated", "Re-encrypted under a new key"
        DELETED = "deleted", "Deleted"
        WITHDRAW_DETECTED = "withdraw_detected", "Withdraw permission detected"
        AUTH_FAILURE = "auth_failure", "Authentication failure"
        LINK_REFUSED = "link_refused", "Link refused"

    key = models.ForeignKey(ExchangeKey, on_delete=models.CASCADE, related_name="events", null=True, blank=True)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="key_events")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        help_text="Who did it; empty for the platform itself.",
    )
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    detail = models.CharField(max_length=500, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self):
        return f"{self.get_kind_display()} {self.created:%Y-%m-%d %H:%M}"
