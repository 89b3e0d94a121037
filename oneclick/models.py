from django.conf import settings
from django.db import models


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
