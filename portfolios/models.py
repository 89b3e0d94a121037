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


class SignalDecision(models.Model):
    """What a bot did with a signal: ordered, or ignored and why. One per (bot, signal)."""

    class Outcome(models.TextChoices):
        ORDERED = "ordered", "Order placed"
        HOLD = "hold", "Hold: nothing to do"
        IGNORED = "ignored", "Ignored"

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="decisions")
    signal = models.ForeignKey("strategies.Signal", on_delete=models.PROTECT, related_name="decisions")
    outcome = models.CharField(max_length=8, choices=Outcome.choices)
    reason = models.CharField(max_length=300, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [models.UniqueConstraint(fields=["bot", "signal"], name="one_decision_per_bot_and_signal")]

    def __str__(self):
        return f"{self.bot} {self.outcome}: {self.reason}"


class Order(models.Model):
    """An order intent, written before it is sent; then the exchange's answer."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending (written, not yet sent)"
        SENT = "sent", "Sent (answer not yet recorded)"
        OPEN = "open", "Open"
        FILLED = "filled", "Filled"
        PARTIAL = "partial", "Partially filled"
        CANCELED = "canceled", "Canceled"
        REJECTED = "rejected", "Rejected by the exchange"
        FAILED = "failed", "Failed"

    UNRESOLVED = (State.PENDING, State.SENT)
    TERMINAL = (State.FILLED, State.CANCELED, State.REJECTED, State.FAILED)

    class Side(models.TextChoices):
        BUY = "buy", "Buy"
        SELL = "sell", "Sell"

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="orders")
    key = models.ForeignKey("keys.ExchangeKey", on_delete=models.PROTECT, related_name="orders")
    signal = models.ForeignKey(
        "strategies.Signal", on_delete=models.PROTECT, related_name="orders", null=True, blank=True,
        help_text="Empty for an order the owner asked for (selling out when a bot stops).",
    )
    purpose = models.CharField(max_length=20, default="signal")
    market = models.CharField(max_length=30)
    side = models.CharField(max_length=4, choices=Side.choices)
    order_type = models.CharField(max_length=10, default="market")
    quantity = models.DecimalField(max_digits=30, decimal_places=12)
    reference_price = models.DecimalField(max_digits=30, decimal_places=12, help_text="Price used for sizing.")
    client_order_id = models.CharField(max_length=36, unique=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING, db_index=True)
    exchange_order_id = models.CharField(max_length=64, blank=True)
    filled_quantity = models.DecimalField(max_digits=30, decimal_places=12, default=0)
    average_price = models.DecimalField(max_digits=30, decimal_places=12, null=True, blank=True)
    cost = models.DecimalField(max_digits=30, decimal_places=12, default=0)
    attempts = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=300, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["bot", "signal"], condition=models.Q(signal__isnull=False), name="one_order_per_bot_and_signal"
            ),
            models.CheckConstraint(condition=models.Q(quantity__gt=0), name="order_quantity_positive"),
        ]
        indexes = [models.Index(fields=["bot", "-created"]), models.Index(fields=["state", "created"])]

    def __str__(self):
        return f"{self.side} {self.quantity} {self.market} ({self.state})"


class Fill(models.Model):
    """One trade on the account as the exchange reports it. Foreign fills belong to no bot."""

    key = models.ForeignKey("keys.ExchangeKey", on_delete=models.PROTECT, related_name="fills")
    bot = models.ForeignKey(Bot, on_delete=models.SET_NULL, null=True, blank=True, related_name="fills")
    order = models.ForeignKey(Order, on_delete=models.SET_NULL, null=True, blank=True, related_name="fills")
    market = models.CharField(max_length=30)
    side = models.CharField(max_length=4, choices=Order.Side.choices)
    price = models.DecimalField(max_digits=30, decimal_places=12)
    quantity = models.DecimalField(max_digits=30, decimal_places=12)
    cost = models.DecimalField(max_digits=30, decimal_places=12)
    fee = models.DecimalField(max_digits=30, decimal_places=12, default=0)
    fee_asset = models.CharField(max_length=12, blank=True)
    fee_in_quote = models.DecimalField(max_digits=30, decimal_places=12, default=0)
    exchange_trade_id = models.CharField(max_length=64)
    exchange_order_id = models.CharField(max_length=64, blank=True)
    foreign = models.BooleanField(default=False, help_text="Placed by no bot of this platform.")
    traded_at = models.DateTimeField(db_index=True)
    recorded = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-traded_at", "-id"]
        constraints = [
            # Exchange trade ids are unique per market (Binance numbers them per symbol).
            models.UniqueConstraint(fields=["key", "market", "exchange_trade_id"], name="one_fill_per_exchange_trade"),
        ]
        indexes = [models.Index(fields=["bot", "market", "traded_at"]), models.Index(fields=["key", "foreign"])]

    def __str__(self):
        return f"{self.side} {self.quantity} {self.market} @ {self.price}"


class Position(models.Model):
    """A bot's holding in one market, derived from its fills (average cost)."""

    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, related_name="positions")
    market = models.CharField(max_length=30)
    quantity = models.DecimalField(max_digits=30, decimal_places=12, default=0)
    average_entry = models.DecimalField(max_digits=30, decimal_places=12, default=0)
    realized_pnl = models.DecimalField(max_digits=30, decimal_places=12, default=0)
    fees_paid = models.DecimalField(max_digits=30, decimal_places=12, default=0)
    cost_basis = models.DecimalField(max_digits=30, decimal_places=12, default=0,
                                     help_text="What the quantity held cost, fees included.")
    last_fill_id = models.BigIntegerField(default=0, help_text="The last fill applied: positions grow incrementally.")
    last_price = models.DecimalField(max_digits=30, decimal_places=12, default=0)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["market"]
        constraints = [models.UniqueConstraint(fields=["bot", "market"], name="one_position_per_bot_and_market")]

    @property
    def value(self):
        return self.quantity * self.last_price

    @property
    def unrealized_pnl(self):
        return (self.last_price - self.average_entry) * self.quantity


class Balance(models.Model):
    """An asset of an account as the exchange last reported it."""

    key = models.ForeignKey("keys.ExchangeKey", on_delete=models.CASCADE, related_name="balances")
    asset = models.CharField(max_length=12)
    free = models.DecimalField(max_digits=30, decimal_places=12, default=0)
    used = models.DecimalField(max_digits=30, decimal_places=12, default=0)
    total = models.DecimalField(max_digits=30, decimal_places=12, default=0)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["asset"]
        constraints = [models.UniqueConstraint(fields=["key", "asset"], name="one_balance_per_key_and_asset")]


class TradeCursor(models.Model):
    """The last trade id read per (key, market): reconciliation reads only what is newer."""

    key = models.ForeignKey("keys.ExchangeKey", on_delete=models.CASCADE, related_name="cursors")
    market = models.CharField(max_length=30)
    last_trade_id = models.BigIntegerField(default=0)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "market"], name="one_cursor_per_key_and_market")]


class EquitySnapshot(models.Model):
    """Equity of a bot (or of a whole account when bot is empty) at one reconciliation."""

    key = models.ForeignKey("keys.ExchangeKey", on_delete=models.CASCADE, related_name="equity_snapshots")
    bot = models.ForeignKey(Bot, on_delete=models.CASCADE, null=True, blank=True, related_name="equity_snapshots")
    quote_asset = models.CharField(max_length=4)
    equity = models.DecimalField(max_digits=30, decimal_places=12)
    realized_pnl = models.DecimalField(max_digits=30, decimal_places=12, default=0)
    unrealized_pnl = models.DecimalField(max_digits=30, decimal_places=12, default=0)
    taken = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-taken", "-id"]
        indexes = [models.Index(fields=["bot", "taken"]), models.Index(fields=["key", "bot", "taken"])]
