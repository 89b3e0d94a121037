from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Now

from portfolios import bounds
from strategies.models import Strategy

AMOUNT_VALIDATORS = [MinValueValidator(bounds.AMOUNT_MIN), MaxValueValidator(bounds.AMOUNT_MAX)]


class Bot(models.Model):
    """Trades one strategy's signals on some of its markets with one exchange key."""

    class State(models.TextChoices):
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        STOPPED = "stopped", "Stopped"

    class Quote(models.TextChoices):
        USDT = "USDT", "USDT"
        USDC = "USDC", "USDC"
        EUR = "EUR", "EUR"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bots")
    name = models.CharField(max_length=60)
    key = models.ForeignKey("keys.ExchangeKey", on_delete=models.PROTECT, related_name="bots")
    strategy = models.ForeignKey("strategies.Strategy", on_delete=models.PROTECT, related_name="bots")
    markets = models.JSONField(default=list, help_text="A subset of the strategy's markets.")
    quote_asset = models.CharField(max_length=4, choices=Quote.choices, default=Quote.USDT)
    allocation = models.DecimalField(max_digits=24, decimal_places=8, validators=AMOUNT_VALIDATORS)
    position_cap = models.DecimalField(
        max_digits=24, decimal_places=8, validators=AMOUNT_VALIDATORS,
        help_text="Largest value (in the quote asset) held per market.",
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
            models.CheckConstraint(condition=models.Q(allocation__lte=bounds.AMOUNT_MAX), name="bot_allocation_max"),
            models.CheckConstraint(condition=models.Q(position_cap__lte=bounds.AMOUNT_MAX),
                                   name="bot_position_cap_max"),
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
    # Ages are judged by the database's clock: it writes both times.
    created = models.DateTimeField(db_default=Now(), db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    request_deadline_ms = models.BigIntegerField(
        null=True, blank=True,
        help_text="By the exchange's clock (ms): after this the last request sent can no longer execute.")
    signal_price = models.DecimalField(max_digits=30, decimal_places=12, null=True, blank=True,
                                       help_text="The price the signal saw (its candle's close).")
    filled_at = models.DateTimeField(null=True, blank=True, help_text="The exchange's time of the last fill.")
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

    @property
    def slippage_bps(self):
        """How much worse than the signal's price the order filled, in basis points (negative: better)."""
        if not self.signal_price or not self.average_price:
            return None
        move = (self.average_price - self.signal_price) / self.signal_price * 10_000
        return (move if self.side == self.Side.BUY else -move).quantize(Decimal("0.1"))

    @property
    def signal_to_fill(self):
        """From the signal's issue to the last fill (a timedelta), or None."""
        if self.filled_at is None or self.signal_id is None:
            return None
        return self.filled_at - self.signal.created


class StuckOrder(Order):
    """Orders not resolved minutes after they were written: the staff's "stuck orders" list."""

    class Meta:
        proxy = True
        verbose_name = "stuck order"


class StrategyExecution(Strategy):
    """Each strategy's execution quality over its bots' orders, for staff."""

    class Meta:
        proxy = True
        verbose_name = "execution quality by strategy"
        verbose_name_plural = "execution quality by strategy"


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
    fee_valued_by = models.CharField(max_length=120, blank=True,
                                     help_text="How the fee was valued in the quote (a market, a bridge, a rate).")
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
    fill_mark = models.BigIntegerField(default=0, help_text="The newest fill this read already includes.")
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["asset"]
        constraints = [models.UniqueConstraint(fields=["key", "asset"], name="one_balance_per_key_and_asset")]


class TradeCursor(models.Model):
    """Where reconciliation stands per (key, market): it reads only what is newer.

    ``position`` is the venue adapter's own cursor (a trade id on venues that
    page by id, a time on those that page by time), empty before the first trade.
    """

    key = models.ForeignKey("keys.ExchangeKey", on_delete=models.CASCADE, related_name="cursors")
    market = models.CharField(max_length=30)
    position = models.CharField(max_length=100, blank=True, default="")
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
    # An account's snapshot (no bot): assets no market values ({asset: amount}), stablecoins off their peg
    # ({asset: [price, against]}), how each asset was valued ({asset: market path}).
    unvalued = models.JSONField(default=dict, blank=True)
    pegs_off = models.JSONField(default=dict, blank=True)
    valued_by = models.JSONField(default=dict, blank=True)
    taken = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-taken", "-id"]
        indexes = [models.Index(fields=["bot", "taken"]), models.Index(fields=["key", "bot", "taken"])]
