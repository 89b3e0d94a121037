from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django_cryptography.fields import encrypt

from strategies import bounds
from strategies.timeframes import timeframe_delta


class Strategy(models.Model):
    """A trading model that publishes one signed signal per market per candle."""

    name = models.CharField(max_length=80, unique=True)
    kind = models.CharField(max_length=40, help_text="Key of the strategy class in the registry.")
    description = models.TextField(blank=True)
    params = models.JSONField(default=dict, blank=True)
    timeframe = models.CharField(max_length=8, default="4h")
    exchange = models.CharField(max_length=20, default="paper", help_text="Where its market data comes from.")
    markets = models.JSONField(default=list, help_text='Symbols such as "BTC/USDT".')
    active = models.BooleanField(default=True)
    # Ed25519 key pair that signs every signal; the private half is encrypted.
    public_key = models.CharField(max_length=64, blank=True, help_text="Raw Ed25519 public key, hex.")
    private_key = encrypt(models.TextField(blank=True, default=""))
    signal_ttl = models.DurationField(
        null=True, blank=True, help_text="How long a signal may be acted on. Empty: one timeframe."
    )
    chain_head = models.CharField(max_length=64, blank=True,
                                  help_text="Hash of the newest signal: the head of the public track record.")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "strategies"

    def __str__(self):
        return self.name

    @property
    def timeframe_delta(self):
        return timeframe_delta(self.timeframe)

    @property
    def ttl(self):
        return self.signal_ttl or self.timeframe_delta


class Candle(models.Model):
    """One closed OHLCV candle, as the exchange reported it."""

    exchange = models.CharField(max_length=20)
    symbol = models.CharField(max_length=30)
    timeframe = models.CharField(max_length=8)
    open_time = models.DateTimeField()
    open = models.DecimalField(max_digits=30, decimal_places=12)
    high = models.DecimalField(max_digits=30, decimal_places=12)
    low = models.DecimalField(max_digits=30, decimal_places=12)
    close = models.DecimalField(max_digits=30, decimal_places=12)
    volume = models.DecimalField(max_digits=34, decimal_places=12)

    class Meta:
        ordering = ["exchange", "symbol", "timeframe", "open_time"]
        constraints = [
            models.UniqueConstraint(fields=["exchange", "symbol", "timeframe", "open_time"], name="candle_unique"),
        ]

    def __str__(self):
        return f"{self.exchange} {self.symbol} {self.timeframe} {self.open_time:%Y-%m-%d %H:%M}"

    @property
    def close_time(self):
        return self.open_time + timeframe_delta(self.timeframe)


class ModelArtifact(models.Model):
    """A trained model, stored whole; its version names exactly what made it."""

    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="artifacts")
    version = models.CharField(max_length=40, unique=True, help_text="Hash of code version, window and params.")
    code_version = models.CharField(max_length=40)
    train_start = models.DateTimeField()
    train_end = models.DateTimeField(help_text="No candle closing after this time was used.")
    params = models.JSONField(default=dict)
    markets = models.JSONField(default=list)
    metrics = models.JSONField(default=dict, blank=True)
    sha256 = models.CharField(max_length=64, help_text="Digest of the stored bytes, checked on every load.")
    signature = models.CharField(
        max_length=64, blank=True,
        help_text="HMAC-SHA256 of version and bytes under a key derived from ONECLICK_ENCRYPTION_KEY (not in the "
                  "database): checked before the bytes are ever unpickled.")
    blob = models.BinaryField()
    size = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-train_end", "-created"]
        indexes = [models.Index(fields=["strategy", "train_end"])]

    def __str__(self):
        return f"{self.strategy} {self.version}"


class StrategyRun(models.Model):
    """One run of a strategy for one candle close: at most one, whatever fires."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="runs")
    candle_close = models.DateTimeField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    error = models.TextField(blank=True)
    trigger = models.CharField(max_length=20, default="schedule")
    model_version = models.CharField(max_length=40, blank=True)
    attempts = models.PositiveSmallIntegerField(default=1)
    started = models.DateTimeField()
    finished = models.DateTimeField(null=True, blank=True)
    fetch_seconds = models.FloatField(null=True, blank=True, help_text="Time spent reading candles.")
    total_seconds = models.FloatField(null=True, blank=True)
    candle_requests = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-candle_close", "strategy__name"]
        constraints = [
            models.UniqueConstraint(fields=["strategy", "candle_close"], name="strategyrun_one_per_candle"),
        ]

    def __str__(self):
        return f"{self.strategy} @ {self.candle_close:%Y-%m-%d %H:%M} ({self.status})"


class Signal(models.Model):
    """What a strategy says about one market at one candle close, signed."""

    class Action(models.TextChoices):
        BUY = "buy", "Buy"
        SELL = "sell", "Sell"
        HOLD = "hold", "Hold"

    strategy = models.ForeignKey(Strategy, on_delete=models.PROTECT, related_name="signals")
    run = models.ForeignKey(StrategyRun, on_delete=models.PROTECT, related_name="signals")
    market = models.CharField(max_length=30)
    action = models.CharField(max_length=4, choices=Action.choices)
    fraction = models.DecimalField(
        max_digits=10,
        decimal_places=8,
        validators=[MinValueValidator(Decimal(0)), MaxValueValidator(Decimal(1))],
        help_text="Buy: share of the allocation to spend. Sell: share of the position to sell.",
    )
    reason = models.CharField(max_length=300)
    model_version = models.CharField(max_length=40)
    price = models.DecimalField(max_digits=30, decimal_places=12, help_text="Close of the candle it saw.")
    exposure = models.DecimalField(
        max_digits=10, decimal_places=8, default=Decimal(0), help_text="The model's own exposure after this signal."
    )
    candle_close = models.DateTimeField()
    created = models.DateTimeField()
    expires = models.DateTimeField()
    signature = models.CharField(max_length=128, help_text="Ed25519 signature of the canonical payload, hex.")
    # The track record: each signal's signed payload names the hash of the strategy's previous signal.
    previous_hash = models.CharField(max_length=64, blank=True, help_text="Empty on signals from before the chain.")
    chain_hash = models.CharField(max_length=64, blank=True, db_index=True)

    class Meta:
        ordering = ["-candle_close", "market"]
        constraints = [
            models.UniqueConstraint(fields=["strategy", "market", "candle_close"], name="signal_one_per_candle"),
            models.CheckConstraint(
                condition=models.Q(fraction__gte=0) & models.Q(fraction__lte=1), name="signal_fraction_range"
            ),
            models.CheckConstraint(condition=models.Q(action__in=["buy", "sell", "hold"]), name="signal_action_known"),
        ]
        indexes = [models.Index(fields=["strategy", "market", "-candle_close"])]

    def __str__(self):
        return f"{self.strategy} {self.market} {self.action} @ {self.candle_close:%Y-%m-%d %H:%M}"


class SignalReceipt(models.Model):
    """A consumer (a bot) accepted a signal: a later or repeated delivery is a replay."""

    signal = models.ForeignKey(Signal, on_delete=models.CASCADE, related_name="receipts")
    consumer = models.CharField(max_length=60, help_text='Who accepted it, e.g. "bot:12".')
    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="+")
    market = models.CharField(max_length=30)
    candle_close = models.DateTimeField()
    accepted = models.DateTimeField()

    class Meta:
        ordering = ["-accepted"]
        constraints = [models.UniqueConstraint(fields=["signal", "consumer"], name="signalreceipt_once")]
        indexes = [models.Index(fields=["consumer", "strategy", "market", "-candle_close"])]

    def __str__(self):
        return f"{self.consumer} accepted signal {self.signal_id}"


class Backtest(models.Model):
    """A simulation of a strategy on one market over past candles."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="backtests",
        help_text="Who asked for it. Empty: run by the platform, shown to everyone.",
    )
    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="backtests")
    market = models.CharField(max_length=30)
    start = models.DateTimeField(validators=[MinValueValidator(bounds.EARLIEST_AT)])
    end = models.DateTimeField(validators=[MaxValueValidator(bounds.LATEST_AT)])
    fee = models.DecimalField(max_digits=8, decimal_places=6, default=Decimal("0.001"),
                              validators=[MinValueValidator(bounds.FEE_MIN), MaxValueValidator(bounds.FEE_MAX)])
    allocation = models.DecimalField(
        max_digits=24, decimal_places=8, default=Decimal("1000"),
        validators=[MinValueValidator(bounds.ALLOCATION_MIN), MaxValueValidator(bounds.ALLOCATION_MAX)],
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Percent done.")
    error = models.TextField(blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    equity = models.JSONField(default=list, blank=True, help_text="[time ms, equity, drawdown %] per candle.")
    trades = models.JSONField(default=list, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        constraints = [
            models.CheckConstraint(condition=models.Q(end__gt=models.F("start")), name="backtest_range_forward"),
            models.CheckConstraint(
                condition=models.Q(allocation__gte=bounds.ALLOCATION_MIN, allocation__lte=bounds.ALLOCATION_MAX),
                name="backtest_allocation_range",
            ),
            models.CheckConstraint(condition=models.Q(fee__gte=bounds.FEE_MIN, fee__lte=bounds.FEE_MAX),
                                   name="backtest_fee_range"),
            models.CheckConstraint(condition=models.Q(start__gte=bounds.EARLIEST_AT, end__lte=bounds.LATEST_AT),
                                   name="backtest_dates_range"),
            # One backtest queued or running per user (the platform's own, with no user, are not limited).
            models.UniqueConstraint(fields=["user"], condition=models.Q(status__in=["queued", "running"]),
                                    name="backtest_one_pending_per_user"),
        ]
        indexes = [models.Index(fields=["user", "created"])]

    def __str__(self):
        return f"{self.strategy} {self.market} {self.start:%Y-%m-%d}..{self.end:%Y-%m-%d}"

