"""The alert outbox: alerts, one delivery row per (alert, channel), preferences and Telegram links."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from alerts import bounds


class Severity(models.TextChoices):
    INFO = "info", "Info"
    WARNING = "warning", "Warning"
    CRITICAL = "critical", "Critical"


SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


class Kind(models.TextChoices):
    KEY_LINKED = "key_linked", "Key linked"
    KEY_PROBED = "key_probed", "Key checked"
    KEY_PROBE_FAILED = "key_probe_failed", "Key check failed"
    KEY_DISABLED = "key_disabled", "Key disabled"
    KEY_ENABLED = "key_enabled", "Key re-enabled"
    KEY_DELETED = "key_deleted", "Key deleted"
    KEY_LINK_REFUSED = "key_link_refused", "Key refused"
    KEY_WITHDRAW = "key_withdraw", "Key can withdraw"
    KEY_AUTH_FAILURE = "key_auth_failure", "Key authentication failure"
    FOREIGN_TRADE = "foreign_trade", "Trade placed by no bot"
    FOREIGN_TRADE_SEVERE = "foreign_trade_severe", "Suspicious trade: bots paused"
    VOLUME_10X = "volume_10x", "Traded volume over 10x the position cap"
    VOLUME_UNUSUAL = "volume_unusual", "Unusual market volume"
    ORDER_FILLED = "order_filled", "Order filled"
    ORDER_FAILED = "order_failed", "Order failed"
    ORDER_NOT_SENT = "order_not_sent", "Order not sent"
    ORDER_STUCK = "order_stuck", "Order waiting"
    SELL_NOT_PLACED = "sell_not_placed", "Sell not placed"
    SIGNALS_IGNORED = "signals_ignored", "Signals ignored (digest)"
    BOT_PAUSED = "bot_paused", "Bot paused"
    BOT_RESUMED = "bot_resumed", "Bot resumed"
    BOT_STOPPED = "bot_stopped", "Bot stopped"
    DRAWDOWN = "drawdown", "Drawdown beyond your threshold"
    STRATEGY_RUN_FAILED = "strategy_run_failed", "Strategy run failed (staff)"
    DAILY_SUMMARY = "daily_summary", "Daily summary"
    CHANNEL_DISABLED = "channel_disabled", "Alert channel switched off"
    TEST = "test", "Test alert"


class Alert(models.Model):
    """Something a user (or staff) must hear about. Written only by ``alerts.services.alert_raise``."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alerts")
    bot = models.ForeignKey("portfolios.Bot", on_delete=models.SET_NULL, null=True, blank=True, related_name="alerts")
    key = models.ForeignKey("keys.ExchangeKey", on_delete=models.SET_NULL, null=True, blank=True, related_name="alerts")
    order = models.ForeignKey("portfolios.Order", on_delete=models.SET_NULL, null=True, blank=True,
                              related_name="alerts")
    kind = models.CharField(max_length=24, choices=Kind.choices, db_index=True)
    severity = models.CharField(max_length=8, choices=Severity.choices)
    title = models.CharField(max_length=200)
    text = models.TextField(blank=True)
    link = models.CharField(max_length=200, blank=True, help_text="Path of the page the alert is about.")
    dedupe_key = models.CharField(max_length=200)
    count = models.PositiveIntegerField(default=1, help_text="Identical alerts merged into this one.")
    created = models.DateTimeField(default=timezone.now, db_index=True)
    last_seen = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    resolved = models.CharField(max_length=200, blank=True,
                                help_text="Why the alert no longer needs attention, when its condition cleared by itself.")

    class Meta:
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(fields=["user", "dedupe_key", "created"]),
            models.Index(fields=["user", "acknowledged_at", "severity"]),
        ]
        constraints = [models.CheckConstraint(condition=models.Q(count__gte=1), name="alert_count_positive")]

    def __str__(self):
        return f"[{self.severity}] {self.title}"

    @property
    def severity_rank(self):
        return SEVERITY_RANK[self.severity]


class Delivery(models.Model):
    """One attempt series to tell one alert through one channel."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"
        DROPPED = "dropped", "Dropped"

    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.CharField(max_length=16)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now, help_text="Due time; a claim pushes it ahead.")
    last_error = models.CharField(max_length=300, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["alert_id", "channel"]
        constraints = [models.UniqueConstraint(fields=["alert", "channel"], name="one_delivery_per_alert_and_channel")]
        indexes = [models.Index(fields=["state", "next_attempt_at"])]

    def __str__(self):
        return f"{self.channel} {self.state} (alert {self.alert_id})"


class AlertPreference(models.Model):
    """Per user: the lowest severity each channel receives (critical always goes everywhere linked)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_preference")
    email_min_severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.INFO)
    telegram_min_severity = models.CharField(max_length=8, choices=Severity.choices, default=Severity.WARNING)
    email_off_reason = models.CharField(
        max_length=300, blank=True, help_text="Set when email failed for good: alerts then skip email."
    )
    daily_summary = models.BooleanField(default=False)
    drawdown_threshold = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True,
        help_text="Percent below a bot's peak equity that raises an alert; empty: no drawdown alerts.",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=models.Q(drawdown_threshold__isnull=True)
                | models.Q(drawdown_threshold__gt=bounds.DRAWDOWN_MIN, drawdown_threshold__lt=bounds.DRAWDOWN_MAX),
                name="alertpreference_drawdown_range",
            ),
        ]

    def __str__(self):
        return f"Alert preferences of {self.user}"


class TelegramLink(models.Model):
    """The Telegram chat a user receives alerts in and sends commands from."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="telegram_link")
    chat_id = models.BigIntegerField(unique=True)
    chat_name = models.CharField(max_length=100, blank=True)
    active = models.BooleanField(default=True)
    off_reason = models.CharField(max_length=300, blank=True)
    linked_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"Telegram chat of {self.user}"


class TelegramLinkToken(models.Model):
    """A one-time deep-link token; only its SHA-256 is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    token_hash = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(default=timezone.now)
    expires = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)


class RuleMark(models.Model):
    """Small state the rules keep between runs (a baseline, a digest cursor, an armed flag)."""

    name = models.CharField(max_length=120, unique=True)
    value = models.JSONField(default=dict)
    updated = models.DateTimeField(auto_now=True)

    def __str__(self):
        return self.name
