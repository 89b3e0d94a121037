from django.conf import settings
from django.db import models
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
