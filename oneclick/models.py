from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django_cryptography.fields import encrypt
from django_otp.models import Device, ThrottlingMixin, TimestampMixin
from django_otp.plugins.otp_totp.models import TOTPDevice as PlainTOTPDevice
from django_otp.plugins.otp_totp.models import default_key, key_validator


class LoginEvent(models.Model):
    """One row per sign-in attempt the user would want to see."""

    class Kind(models.TextChoices):
        PASSWORD = "password", "Signed in with password"
        SECOND_FACTOR = "second_factor", "Second factor verified"
        SECOND_FACTOR_FAILED = "second_factor_failed", "Wrong one-time code"
        LOGOUT = "logout", "Signed out"
        TWO_FACTOR_ENABLED = "2fa_enabled", "Two-factor authentication turned on"
        TWO_FACTOR_DISABLED = "2fa_disabled", "Two-factor authentication turned off"
        BACKUP_CODES = "backup_codes", "Backup codes regenerated"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="login_events")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["user", "-created"])]

    def __str__(self):
        return f"{self.user} {self.kind} {self.created:%Y-%m-%d %H:%M}"


class TOTPDevice(TimestampMixin, ThrottlingMixin, Device):
    """django-otp's TOTP authenticator, with its seed stored encrypted like every other secret.

    Same fields and behaviour as ``django_otp.plugins.otp_totp.models.TOTPDevice``,
    whose plain hex seed would otherwise be in every dump and backup of the database.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="totp_devices",
                             help_text="The user that this device belongs to.")
    key = encrypt(models.CharField(max_length=80, validators=[key_validator], default=default_key,
                                   help_text="A hex-encoded secret key of up to 40 bytes."))
    step = models.PositiveSmallIntegerField(default=30, help_text="The time step in seconds.")
    t0 = models.BigIntegerField(default=0, help_text="The Unix time at which to begin counting steps.")
    digits = models.PositiveSmallIntegerField(choices=[(6, 6), (8, 8)], default=6)
    tolerance = models.PositiveSmallIntegerField(default=1)
    drift = models.SmallIntegerField(default=0)
    last_t = models.BigIntegerField(default=-1)

    bin_key = PlainTOTPDevice.bin_key
    verify_token = PlainTOTPDevice.verify_token
    get_throttle_factor = PlainTOTPDevice.get_throttle_factor
    config_url = PlainTOTPDevice.config_url
    _read_str_from_settings = PlainTOTPDevice._read_str_from_settings

    class Meta(Device.Meta):
        verbose_name = "TOTP device"


class ClockReading(models.Model):
    """How far a process's clock was from the database's, as it measured at its start (and every minute)."""

    process = models.CharField(max_length=120, unique=True, help_text="host:pid (role)")
    offset_seconds = models.FloatField(help_text="Positive: the process's clock is ahead of the database's.")
    checked = models.DateTimeField(help_text="By the database's clock.")

    class Meta:
        ordering = ["-checked"]

    def __str__(self):
        return f"{self.process}: {self.offset_seconds:+.1f} s"


class AccountClosure(models.Model):
    """One row per account its owner deleted, for staff: when, and how much went, never who."""

    class Retention(models.TextChoices):
        DELETE = "delete", "Trade history deleted"
        ANONYMOUS = "anonymous", "Trade history kept, anonymised"

    closed = models.DateTimeField(auto_now_add=True, db_index=True)
    retention = models.CharField(max_length=10, choices=Retention.choices)
    bots_stopped = models.PositiveIntegerField(default=0)
    keys_deleted = models.PositiveIntegerField(default=0)
    orders = models.PositiveIntegerField(default=0, help_text="Deleted or kept anonymised, as the retention says.")
    fills = models.PositiveIntegerField(default=0, help_text="Deleted or kept anonymised, as the retention says.")

    class Meta:
        ordering = ["-closed", "-id"]

    def __str__(self):
        return f"Account closed {self.closed:%Y-%m-%d %H:%M} ({self.retention})"


class Invitation(models.Model):
    """A one-time sign-up link for one email address, made by staff or by approving a waitlist entry.

    Only a hash of the link's token is stored: the token itself is in the email and nowhere else, so
    sending the invitation again makes a new link (and the old one stops working).
    """

    email = models.EmailField()
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+")
    issued_at = models.DateTimeField(null=True, blank=True, help_text="When the current link was made.")
    expires_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True, help_text="When the mail server took the current link.")
    send_error = models.CharField(max_length=200, blank=True)
    used_at = models.DateTimeField(null=True, blank=True)
    used_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="+")

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [models.Index(fields=["email"])]

    def __str__(self):
        return f"Invitation for {self.email}"

    def status(self, now):
        if self.used_at:
            return "used"
        if self.expires_at is None or self.expires_at <= now:
            return "expired"
        return "pending"


class WaitlistEntry(models.Model):
    """Someone who asked to join while sign-up is by waitlist; one row per email address."""

    email = models.EmailField()
    note = models.CharField(max_length=300, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    approved_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
                                    related_name="+")
    invitation = models.OneToOneField(Invitation, on_delete=models.SET_NULL, null=True, blank=True,
                                      related_name="waitlist_entry")

    class Meta:
        ordering = ["created", "id"]
        verbose_name_plural = "waitlist entries"
        constraints = [models.UniqueConstraint(Lower("email"), name="waitlist_one_entry_per_email")]

    def __str__(self):
        return self.email
