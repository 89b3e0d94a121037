from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models


class Bot(models.Model):
    """Trades one strategy's signals on some of its markets with one exchange key."""

    class State(models.TextChoices):
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        STOPPED = "stopped", "Stopped"

    class Quote(models.TextChoices):
        USDT = "USDT", "USDT"
        USDC = "USDC", "USDC"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bots")
    name = models.CharField(max_length=60)
    key = models.ForeignKey("keys.ExchangeKey", on_delete=models.PROTECT, related_name="bots")
    strategy = models.ForeignKey("strategies.Strategy", on_delete=models.PROTECT, related_name="bots")
    markets = models.JSONField(default=list, help_text="A subset of the strategy's markets.")
    quote_asset = models.CharField(max_length=4, choices=Quote.choices, default=Quote.USDT)
    allocation = models.DecimalField(max_digits=24, decimal_places=8, validators=[MinValueValidator(Decimal("0"))])
    position_cap = models.DecimalField(
        max_digits=24, decimal_places=8, help_text="Largest value (in the quote asset) held per market."
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.RUNNING, db_index=True)
    state_changed_at = models.DateTimeField(auto_now_add=True)
    state_reason = models.CharField(max_length=300, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.CheckConstraint(condition=models.Q(allocation__gt=0), name="bot_allocation_positive"),
            models.CheckConstraint(condition=models.Q(position_cap__gt=0), name="bot_position_cap_positive"),
        ]

    def __str__(self):
        return self.name


class BotStateChange(models.Model):
    """Who changed a bot's state, when and why."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="state_changes")
    from_state = models.CharField(max_length=10, choices=Bot.State.choices)
    to_state = models.CharField(max_length=10, choices=Bot.State.choices)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        help_text="Empty when the platform itself changed it.",
    )
    reason = models.CharField(max_length=300)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created", "-id"]

    def __str__(self):
        return f"{self.bot}: {self.from_state} → {self.to_state}"
