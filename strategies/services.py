"""Everything that changes state in strategies: keys, runs, signals, models, schedules.

Public entry points other apps call:
- :func:`signal_verify` (bots, before acting on a signal);
- :data:`signals_issued`, sent with the ids of a run's signals once they
  commit (the bots' layer fans them out to its bots);
- :func:`strategy_run` (schedules, ``run_strategy``, the admin's "run now");
- :func:`strategies_seed`, :func:`schedules_sync`.
"""

import hashlib
import hmac
import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, timedelta
from decimal import Decimal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.dispatch import Signal as DjangoSignal
from django.utils.crypto import salted_hmac
from django.utils import timezone

from alerts.models import Kind, Severity
from alerts.services import alert_raise, page_link
from exchanges import ExchangeError, public_exchange
from oneclick.lib.clock import db_now
from oneclick.lib.canonical import canonical_bytes
from oneclick.lib.logscrub import register_secret
from strategies import bounds, marketdata
from strategies.models import Backtest, ModelArtifact, Signal, SignalReceipt, Strategy, StrategyRun
from strategies.registry import (
    FEATURE_WARMUP,
    InsufficientHistory,
    REGISTRY,
    LearnedModel,
    strategy_class,
    strategy_for,
)
from strategies.timeframes import TIMEFRAMES, last_closed, timeframe_delta, timeframe_seconds

log = logging.getLogger(__name__)

# Sent when a run's signals have committed, with ``signal_ids``.
signals_issued = DjangoSignal()

PAYLOAD_VERSION = 2  # 2: the payload names the previous signal's hash (the track record's chain)
# The "previous hash" of a strategy's first chained signal.
CHAIN_GENESIS = "0" * 64
STALE_RUN_AFTER = timedelta(minutes=15)  # a "running" run older than this was abandoned by a dead worker
SCHEDULE_DELAY = timedelta(seconds=5)  # after a candle close, so the exchange has closed it too
RUN_TASK = "strategies.tasks.strategy_run_task"
RETRAIN_TASK = "strategies.tasks.model_retrain_task"


# --- strategies and their keys --------------------------------------------------


def strategy_validate(*, kind, params, timeframe, markets):
    """Cleaned params (defaults filled in), or ValidationError with every problem."""
    errors = {}
    cleaned = None
    if kind not in REGISTRY:
        errors["kind"] = [f"Unknown strategy kind {kind!r}; known: {', '.join(sorted(REGISTRY))}."]
    else:
        try:
            cleaned = REGISTRY[kind].validate_params(params if params is not None else {})
        except ValidationError as error:
            errors["params"] = error.messages
    if timeframe not in TIMEFRAMES:
        errors["timeframe"] = [f"Choose one of {', '.join(TIMEFRAMES)}."]
    if not isinstance(markets, list) or not markets or not all(isinstance(m, str) and "/" in m for m in markets):
        errors["markets"] = ['A non-empty list of symbols such as "BTC/USDT".']
    elif len(set(markets)) != len(markets):
        errors["markets"] = ["A market is listed twice."]
    if errors:
        raise ValidationError(errors)
    return cleaned


def strategy_keys_generate(*, strategy):
    """A fresh Ed25519 key pair; the private half is stored encrypted, never shown."""
    private = Ed25519PrivateKey.generate()
    strategy.private_key = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    ).hex()
    strategy.public_key = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
    strategy.save(update_fields=["private_key", "public_key", "updated"])
    return strategy.public_key


@transaction.atomic
def strategy_create(
    *, name, kind, markets, params=None, timeframe="4h", exchange="paper", description="", active=True, signal_ttl=None
):
    cleaned = strategy_validate(kind=kind, params=params, timeframe=timeframe, markets=markets)
    strategy = Strategy.objects.create(
        name=name,
        kind=kind,
        params=cleaned,
        timeframe=timeframe,
        exchange=exchange,
        markets=markets,
        description=description,
        active=active,
        signal_ttl=signal_ttl,
    )
    strategy_keys_generate(strategy=strategy)
    transaction.on_commit(lambda: schedules_sync(strategies=[strategy]))
    return strategy


@transaction.atomic
def strategy_update(*, strategy, **changes):
    """Change fields (validated together); schedules follow."""
    allowed = {"name", "kind", "params", "timeframe", "exchange", "markets", "description", "active", "signal_ttl"}
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationError(f"Cannot change {', '.join(sorted(unknown))}.")
    for name, value in changes.items():
        setattr(strategy, name, value)
    strategy.params = strategy_validate(
        kind=strategy.kind, params=strategy.params, timeframe=strategy.timeframe, markets=strategy.markets
    )
    strategy.save()
    if not strategy.public_key:
        strategy_keys_generate(strategy=strategy)
    transaction.on_commit(lambda: schedules_sync(strategies=[strategy]))
    return strategy


def _private_key(strategy):
    raw = strategy.private_key
    if not raw:
        raise ValidationError(f"Strategy {strategy.name} has no signing key.")
    register_secret(raw)
    return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(raw))


# --- signing and verification -------------------------------------------------------


def signal_payload(signal):
    """The fields a signature covers, as a dict (see :func:`signal_payload_bytes`)."""
    payload = {
        "v": PAYLOAD_VERSION if signal.previous_hash else 1,
        "id": signal.pk,
        "strategy_id": signal.strategy_id,
        "strategy": signal.strategy.name,
        "market": signal.market,
        "action": signal.action,
        "fraction": Decimal(signal.fraction),
        "reason": signal.reason,
        "model_version": signal.model_version,
        "price": Decimal(signal.price),
        "exposure": Decimal(signal.exposure),
        "candle_close": signal.candle_close,
        "created": signal.created,
        "expires": signal.expires,
    }
    if signal.previous_hash:
        payload["previous"] = signal.previous_hash
    return payload


def signal_payload_bytes(signal):
    """Canonical JSON of :func:`signal_payload`: exactly the bytes that are signed."""
    return canonical_bytes(signal_payload(signal))


def chain_hash(payload_bytes, signature_hex):
    """A signal's link in the track record: SHA-256 of its signed bytes, a newline and its signature (hex)."""
    return hashlib.sha256(payload_bytes + b"\n" + signature_hex.encode("ascii")).hexdigest()


def verify_bytes(*, payload, signature_hex, public_key_hex):
    """True when ``signature_hex`` is the Ed25519 signature of ``payload`` under ``public_key_hex``."""
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key_hex))
        key.verify(bytes.fromhex(signature_hex), payload)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


@dataclass(frozen=True)
class Verification:
    ok: bool
    code: str  # "valid" or the reason it is refused
    reason: str

    def __bool__(self):
        return self.ok


VERIFY_REASONS = {
    "valid": "Signature valid, fresh and not replayed.",
    "wrong_strategy": "The signal comes from another strategy than the bot's.",
    "no_key": "The strategy has no public key.",
    "bad_signature": "The signature does not match the signal's fields and the strategy's public key.",
    "expired": "The signal has expired.",
    "not_yet_valid": "The signal is dated in the future.",
    "superseded": "A newer signal exists for this market.",
    "replayed": "This consumer has already accepted this signal or a newer one for this market.",
}


def _refused(code):
    return Verification(False, code, VERIFY_REASONS[code])


def signal_verify(*, signal, strategy=None, now=None, consumer=None, skew=timedelta(seconds=30)):
    """Check a signal before acting on it. Returns a :class:`Verification` (never raises for a bad signal).

    - ``strategy``: the strategy the caller trusts (a bot's ``bot.strategy``);
      the signal must come from it and verify under its public key;
    - the canonical payload is rebuilt from the stored fields, so any changed
      field breaks the signature;
    - expired (``now >= expires``) and superseded signals are refused;
    - ``consumer`` (e.g. ``f"bot:{bot.id}"``): the first acceptance is recorded
      (a ``SignalReceipt``); a second delivery of that signal, or of an older
      one for the same market, to the same consumer is refused as replayed.
      Call it inside the transaction that writes what the consumer does with
      the signal (the order intent): if that rolls back, so does the receipt.
    """
    now = now or db_now()
    strategy = strategy or signal.strategy
    if signal.strategy_id != strategy.pk:
        return _refused("wrong_strategy")
    if not strategy.public_key:
        return _refused("no_key")
    if not verify_bytes(
        payload=signal_payload_bytes(signal), signature_hex=signal.signature, public_key_hex=strategy.public_key
    ):
        return _refused("bad_signature")
    if now >= signal.expires:
        return _refused("expired")
    if signal.created > now + skew:
        return _refused("not_yet_valid")
    newer = Signal.objects.filter(
        strategy_id=signal.strategy_id, market=signal.market, candle_close__gt=signal.candle_close
    ).exists()
    if newer:
        return _refused("superseded")
    if consumer:
        replayed = SignalReceipt.objects.filter(
            consumer=consumer, strategy_id=signal.strategy_id, market=signal.market, candle_close__gte=signal.candle_close
        ).exists()
        if replayed:
            return _refused("replayed")
        try:
            with transaction.atomic():
                SignalReceipt.objects.create(
                    signal=signal,
                    consumer=consumer,
                    strategy_id=signal.strategy_id,
                    market=signal.market,
                    candle_close=signal.candle_close,
                    accepted=now,
                )
        except IntegrityError:
            return _refused("replayed")
    return Verification(True, "valid", VERIFY_REASONS["valid"])


# --- models (the learned kind) -----------------------------------------------------------

_model_cache = {}


def _training_series(*, strategy, strat, train_end, gateway=None, now=None):
    count = strat.params["train_candles"] + FEATURE_WARMUP + strat.params["horizon"]
    series_list, fetch_seconds, requests = [], 0.0, 0
    for market in strategy.markets:
        series, sync = marketdata.series_window(
            exchange=strategy.exchange,
            symbol=market,
            timeframe=strategy.timeframe,
            candle_close=train_end,
            count=count,
            gateway=gateway,
            now=now,
        )
        fetch_seconds += sync.seconds
        requests += sync.requests
        series_list.append(series)
    return series_list, fetch_seconds, requests


def model_train(*, strategy, train_end=None, now=None, gateway=None):
    """Train the learned model on candles closing at or before ``train_end``; store it as a new version.

    Idempotent: the same code, window, params and markets give the same
    version, and an existing artifact is returned as is.
    """
    strat = strategy_for(strategy)
    if not strat.uses_model:
        raise ValidationError(f"{strategy.name} has no model to train.")
    now = now or timezone.now()
    train_end = train_end or last_closed(now, strategy.timeframe)
    step = timeframe_delta(strategy.timeframe)
    train_start = train_end - strat.params["train_candles"] * step
    version = strat.artifact_version(train_start, train_end, strategy.markets)
    existing = ModelArtifact.objects.filter(version=version).first()
    if existing and existing.signature:
        return existing
    if existing:  # stored before artifacts were signed: it cannot be trusted, it is trained again
        existing.delete()
    series_list, fetch_seconds, _ = _training_series(strategy=strategy, strat=strat, train_end=train_end, gateway=gateway, now=now)
    began = time.monotonic()
    model, metrics = strat.train(series_list, int(train_end.timestamp() * 1000))
    metrics["fit_seconds"] = round(time.monotonic() - began, 3)
    metrics["fetch_seconds"] = round(fetch_seconds, 3)
    blob = model.dumps()
    try:
        with transaction.atomic():
            artifact = ModelArtifact.objects.create(
                strategy=strategy,
                version=version,
                code_version=f"{strat.kind}-{strat.code_version}",
                train_start=train_start,
                train_end=train_end,
                params=strat.params,
                markets=sorted(strategy.markets),
                metrics=metrics,
                sha256=hashlib.sha256(blob).hexdigest(),
                signature=artifact_signature(version, blob),
                blob=blob,
                size=len(blob),
            )
    except IntegrityError:  # trained at the same time elsewhere: same version, same content
        artifact = ModelArtifact.objects.get(version=version)
    _model_cache[artifact.version] = model
    return artifact


ARTIFACT_SALT = "oneclick.model-artifact"


def artifact_signature(version, blob, secret=None):
    """HMAC-SHA256 of an artifact's version and bytes under a key derived from ONECLICK_ENCRYPTION_KEY.

    Unpickling runs code, so an artifact is loaded only when its signature
    proves the platform wrote it: whoever can write the database alone cannot
    forge one (the key is not in the database).
    """
    secret = secret or settings.ONECLICK_ENCRYPTION_KEY
    return salted_hmac(ARTIFACT_SALT, version.encode() + b"\n" + blob, secret=secret, algorithm="sha256").hexdigest()


def _artifact_authentic(artifact, blob):
    if not artifact.signature:
        return False
    return any(hmac.compare_digest(artifact.signature, artifact_signature(artifact.version, blob, secret))
               for secret in [settings.ONECLICK_ENCRYPTION_KEY, *settings.ONECLICK_ENCRYPTION_KEY_PREVIOUS])


class ArtifactRefused(ValidationError):
    """An artifact whose bytes or signature do not check out: never unpickled."""


def model_load(artifact):
    """The model of an artifact; its signature is checked before its bytes are unpickled.

    A tampered or unsigned artifact is refused, and staff are told.
    """
    model = _model_cache.get(artifact.version)
    if model is None:
        blob = bytes(artifact.blob)
        if hashlib.sha256(blob).hexdigest() != artifact.sha256 or not _artifact_authentic(artifact, blob):
            artifact_refused_alert(artifact=artifact)
            raise ArtifactRefused(f"Model {artifact.version} was refused: its signature does not match its bytes "
                                  "(changed outside the platform); it was not loaded.")
        model = LearnedModel.loads(blob)
        _model_cache[artifact.version] = model
    return model


def artifact_refused_alert(*, artifact):
    """Tell every active staff member that an artifact failed its check (it may have been tampered with)."""
    return _staff_alert(
        kind=Kind.STRATEGY_RUN_FAILED, severity=Severity.CRITICAL, title=f"Model artifact refused: {artifact.version}",
        text=f"Strategy {artifact.strategy.name}: the artifact's signature does not match its bytes, so it was "
             "not loaded. Someone with write access to the database may have changed it.",
        dedupe_key=f"artifact_refused:{artifact.pk}",
        link=page_link("admin:strategies_modelartifact_change", artifact.pk, fallback="alerts:list"),
    )


def model_for(*, strategy, strat, candle_close, now=None, gateway=None):
    """The newest artifact trained for the current params and markets and not after ``candle_close``.

    When none is recent enough (older than twice the retraining period), one is
    trained now on the candles up to ``candle_close``.
    """
    markets = sorted(strategy.markets)
    too_old = candle_close - timedelta(days=2 * strat.params["retrain_days"])
    candidates = ModelArtifact.objects.filter(
        strategy=strategy, train_end__lte=candle_close, train_end__gt=too_old
    ).defer("blob")
    for artifact in candidates.exclude(signature="").order_by("-train_end")[:20]:
        if artifact.params == strat.params and artifact.markets == markets:
            return ModelArtifact.objects.get(pk=artifact.pk)
    return model_train(strategy=strategy, train_end=candle_close, now=now, gateway=gateway)


# --- runs ---------------------------------------------------------------------------


@dataclass
class MarketDecision:
    market: str
    action: str
    fraction: Decimal
    reason: str
    price: Decimal
    exposure: Decimal


@dataclass
class RunOutcome:
    strategy: Strategy
    candle_close: object
    run: StrategyRun | None = None
    status: str = ""  # succeeded, failed, skipped, test
    error: str = ""
    signals: list = field(default_factory=list)
    decisions: list = field(default_factory=list)
    model_version: str = ""
    fetch_seconds: float = 0.0
    total_seconds: float = 0.0


def _run_claim(*, strategy, candle_close, trigger, now):
    """Create the run row for (strategy, candle close), or None when another run has it."""
    try:
        with transaction.atomic():
            return StrategyRun.objects.create(strategy=strategy, candle_close=candle_close, trigger=trigger, started=now)
    except IntegrityError:
        pass
    # A run left "running" by a worker that died may be taken over, by one caller only.
    taken = StrategyRun.objects.filter(
        strategy=strategy, candle_close=candle_close, status=StrategyRun.Status.RUNNING, started__lt=now - STALE_RUN_AFTER
    ).update(started=now, attempts=F("attempts") + 1, trigger=trigger)
    if taken:
        return StrategyRun.objects.get(strategy=strategy, candle_close=candle_close)
    return None


def _previous_exposure(strategy, market, candle_close):
    previous = (
        Signal.objects.filter(strategy=strategy, market=market, candle_close__lt=candle_close)
        .order_by("-candle_close")
        .values_list("exposure", flat=True)
        .first()
    )
    return previous if previous is not None else Decimal(0)


def _decide_all(*, strategy, candle_close, now, outcome, gateway=None):
    strat = strategy_for(strategy)
    gateway = gateway or public_exchange(strategy.exchange)
    for market in strategy.markets:
        marketdata.market_check(exchange=strategy.exchange, symbol=market, gateway=gateway)
    model = None
    version = strat.version()
    if strat.uses_model:
        artifact = model_for(strategy=strategy, strat=strat, candle_close=candle_close, now=now, gateway=gateway)
        model = model_load(artifact)
        version = artifact.version
    outcome.model_version = version
    decisions = []
    for market in strategy.markets:
        series, sync = marketdata.series_window(
            exchange=strategy.exchange,
            symbol=market,
            timeframe=strategy.timeframe,
            candle_close=candle_close,
            count=strat.lookback,
            gateway=gateway,
            now=now,
        )
        outcome.fetch_seconds += sync.seconds
        if len(series) < strat.lookback or series.close_time() != candle_close:
            raise InsufficientHistory(
                f"{market}: {len(series)} of the {strat.lookback} candles up to {candle_close:%Y-%m-%d %H:%M} UTC "
                "are available."
            )
        exposure = _previous_exposure(strategy, market, candle_close)
        decision = strat.decide(series, exposure, model)
        price = marketdata.last_close_price(
            exchange=strategy.exchange, symbol=market, timeframe=strategy.timeframe, candle_close=candle_close
        )
        decisions.append(
            MarketDecision(
                market=market,
                action=decision.action,
                fraction=decision.fraction,
                reason=decision.reason[:300],
                price=price,
                exposure=decision.exposure_after(exposure),
            )
        )
    return decisions


def strategy_run(*, strategy, candle_close=None, now=None, test=False, trigger="schedule", gateway=None):
    """Run a strategy for one candle close (default: the last closed candle).

    At most one run per (strategy, candle close), whoever calls: a second call
    returns ``status="skipped"``. A failure (unknown market, too little
    history, exchange unreachable, ...) is recorded on the run with its reason
    and produces no signal. ``test=True`` computes the decisions only: no run
    row, nothing signed, nothing sent to bots.
    """
    began = time.monotonic()
    now = now or db_now()
    candle_close = candle_close or last_closed(now, strategy.timeframe)
    if candle_close > now:
        raise ValidationError("That candle has not closed yet.")
    outcome = RunOutcome(strategy=strategy, candle_close=candle_close)
    if test:
        try:
            outcome.decisions = _decide_all(strategy=strategy, candle_close=candle_close, now=now, outcome=outcome, gateway=gateway)
            outcome.status = "test"
        except (ExchangeError, marketdata.UnknownMarket, InsufficientHistory, ValidationError) as error:
            outcome.status, outcome.error = "failed", _error_text(error)
        outcome.total_seconds = time.monotonic() - began
        return outcome

    run = _run_claim(strategy=strategy, candle_close=candle_close, trigger=trigger, now=now)
    if run is None:
        outcome.status = "skipped"
        outcome.run = StrategyRun.objects.filter(strategy=strategy, candle_close=candle_close).first()
        return outcome
    outcome.run = run
    try:
        outcome.decisions = _decide_all(strategy=strategy, candle_close=candle_close, now=now, outcome=outcome, gateway=gateway)
        with transaction.atomic():
            outcome.signals = _signals_write(strategy=strategy, run=run, outcome=outcome, now=now)
            run.status = StrategyRun.Status.SUCCEEDED
            _run_finish(run, outcome, began)
            ids = [signal.pk for signal in outcome.signals]
            transaction.on_commit(lambda: signals_issued.send(sender=Signal, signal_ids=ids))
        outcome.status = "succeeded"
    except (ExchangeError, marketdata.UnknownMarket, InsufficientHistory, ValidationError) as error:
        outcome.status, outcome.error = "failed", _error_text(error)
        _run_fail(run, outcome, began)
    except Exception as error:
        # Unexpected: record it for staff (type only: a message could carry anything) and keep the cluster alive.
        log.exception("Strategy run failed unexpectedly", extra={"strategy": strategy.pk, "run": run.pk})
        outcome.status, outcome.error = "failed", f"Internal error ({type(error).__name__}); see the server log."
        _run_fail(run, outcome, began)
    return outcome


def _error_text(error):
    if isinstance(error, ValidationError):
        return "; ".join(error.messages)
    return str(error)[:1000] or type(error).__name__


def _run_finish(run, outcome, began):
    run.model_version = outcome.model_version
    run.finished = timezone.now()
    run.fetch_seconds = round(outcome.fetch_seconds, 4)
    outcome.total_seconds = time.monotonic() - began
    run.total_seconds = round(outcome.total_seconds, 4)
    run.save(update_fields=["status", "error", "model_version", "finished", "fetch_seconds", "total_seconds"])


def _run_fail(run, outcome, began):
    run.status = StrategyRun.Status.FAILED
    run.error = outcome.error
    _run_finish(run, outcome, began)
    strategy_run_failed_alert(run=run)


def _signals_write(*, strategy, run, outcome, now):
    """Write, sign and chain the run's signals: each names the hash of the strategy's previous one."""
    created = now.replace(microsecond=0)
    expires = outcome.candle_close + strategy.ttl
    key = _private_key(strategy)
    signals = []
    with transaction.atomic():
        # One writer of the strategy's chain at a time.
        head = Strategy.objects.select_for_update().values_list("chain_head", flat=True).get(pk=strategy.pk)
        head = head or CHAIN_GENESIS
        for decision in sorted(outcome.decisions, key=lambda d: d.market):
            signal = Signal.objects.create(
                strategy=strategy,
                run=run,
                market=decision.market,
                action=decision.action,
                fraction=decision.fraction,
                reason=decision.reason,
                model_version=outcome.model_version,
                price=decision.price,
                exposure=decision.exposure,
                candle_close=outcome.candle_close,
                created=created,
                expires=expires,
                signature="",
                previous_hash=head,
            )
            # Sign what the database holds, so the stored row verifies byte for byte.
            signal.refresh_from_db()
            signal.strategy = strategy
            payload = signal_payload_bytes(signal)
            signal.signature = key.sign(payload).hex()
            signal.chain_hash = head = chain_hash(payload, signal.signature)
            signal.save(update_fields=["signature", "chain_hash"])
            signals.append(signal)
        Strategy.objects.filter(pk=strategy.pk).update(chain_head=head)
        strategy.chain_head = head
    return signals


# --- schedules ---------------------------------------------------------------------------


def _next_close(now, timeframe):
    return last_closed(now, timeframe) + timeframe_delta(timeframe)


def schedules_sync(*, strategies=None, now=None):
    """One django-q2 schedule per active strategy, firing just after each candle close.

    Learned strategies also get a retraining schedule. Schedules of inactive
    or deleted strategies are removed. Returns the names kept.
    """
    from django_q.models import Schedule

    now = now or timezone.now()
    if strategies is None:
        strategies = list(Strategy.objects.all())
        known = {f"strategy-run:{s.pk}" for s in strategies} | {f"strategy-retrain:{s.pk}" for s in strategies}
        Schedule.objects.filter(name__startswith="strategy-").exclude(name__in=known).delete()
    kept = []
    for strategy in strategies:
        run_name, retrain_name = f"strategy-run:{strategy.pk}", f"strategy-retrain:{strategy.pk}"
        if not strategy.active or not Strategy.objects.filter(pk=strategy.pk).exists():
            Schedule.objects.filter(name__in=[run_name, retrain_name]).delete()
            continue
        minutes = timeframe_seconds(strategy.timeframe) // 60
        _schedule_put(
            name=run_name,
            func=RUN_TASK,
            args=repr(strategy.pk),
            minutes=minutes,
            next_run=_next_close(now, strategy.timeframe) + SCHEDULE_DELAY,
            intended=True,
        )
        kept.append(run_name)
        kind = strategy_class(strategy.kind)
        if kind.uses_model:
            days = (strategy.params or {}).get("retrain_days", kind.param_spec["retrain_days"].default)
            _schedule_put(
                name=retrain_name,
                func=RETRAIN_TASK,
                args=repr(strategy.pk),
                minutes=int(days) * 1440,
                next_run=_next_close(now, "1d") + timedelta(minutes=1),
                intended=False,
            )
            kept.append(retrain_name)
        else:
            Schedule.objects.filter(name=retrain_name).delete()
    return kept


def _schedule_put(*, name, func, args, minutes, next_run, intended):
    from django_q.models import Schedule

    schedule = Schedule.objects.filter(name=name).first()
    fields = {
        "func": func,
        "args": args,
        "schedule_type": Schedule.MINUTES,
        "minutes": minutes,
        "repeats": -1,
        "intended_date_kwarg": "intended" if intended else None,
    }
    if schedule is None:
        Schedule.objects.create(name=name, next_run=next_run, **fields)
        return
    changed = any(getattr(schedule, key) != value for key, value in fields.items())
    # Keep a schedule that is already on the grid; move one that is not.
    aligned = schedule.next_run is not None and (schedule.next_run - next_run).total_seconds() % (minutes * 60) == 0
    if changed or not aligned:
        for key, value in fields.items():
            setattr(schedule, key, value)
        schedule.next_run = next_run
        schedule.save()


# --- seeding ---------------------------------------------------------------------------------

BUILT_IN = [
    {
        "name": "Trend Rider",
        "kind": "trend",
        "description": "Follows the trend on the large pairs: in while the 12-candle average is above the "
        "48-candle one, out when it drops below; less in the market when it is more volatile.",
        "markets": ["BTC/USDT", "ETH/USDT", "SOL/USDT", "BTC/USDC", "ETH/USDC"],
        "params": {},
    },
    {
        "name": "Forest Forecaster",
        "kind": "learned",
        "description": "A random-forest classifier trained every week on the past candles of its markets; it "
        "buys when it expects a rise and sells when it expects a fall, more when it is more confident.",
        "markets": ["BTC/USDT", "ETH/USDT", "BTC/USDC"],
        "params": {},
    },
    {
        "name": "Euro Trend Rider",
        "kind": "trend",
        "description": "Trend Rider on the euro markets (Kraken's, Bitvavo's and One Trading's main quote): in while "
        "the 12-candle average is above the 48-candle one, out when it drops below.",
        "markets": ["BTC/EUR", "ETH/EUR", "SOL/EUR"],
        "exchange": "paper_kraken",
        "params": {},
    },
]


def strategies_seed():
    """The built-in strategies (with keys and schedules); existing ones are left as they are."""
    created = []
    for spec in BUILT_IN:
        strategy = Strategy.objects.filter(name=spec["name"]).first()
        if strategy is None:
            strategy = strategy_create(**spec)
            created.append(strategy)
        elif not strategy.public_key:
            strategy_keys_generate(strategy=strategy)
    schedules_sync()
    return created



# --- backtests -------------------------------------------------------------------------------

BACKTEST_TASK = "strategies.tasks.backtest_execute_task"
# A backtest still queued or running this long after it was asked for was lost (a worker or the queue gone):
# it fails with the reason, so its owner may run another.
BACKTEST_STALE_AFTER = timedelta(hours=1)
BACKTEST_PENDING = (Backtest.Status.QUEUED, Backtest.Status.RUNNING)


def backtest_validate(*, strategy, market, start, end, fee, allocation, now=None):
    """One clear error per problem; nothing is created when any is found. Bounds: :mod:`strategies.bounds`."""
    now = now or db_now()
    max_days = settings.BACKTEST_MAX_DAYS
    errors = {}
    if start is None or end is None:
        errors["end"] = ["Give a start and an end."]
    elif start < bounds.EARLIEST_AT:
        errors["start"] = [f"The start must be on or after {bounds.EARLIEST:%Y-%m-%d}: no market has older candles."]
    elif end > bounds.latest_end(now):
        errors["end"] = [f"The end must be on or before {bounds.latest_end(now):%Y-%m-%d} (UTC)."]
    elif end <= start:
        errors["end"] = ["The range is empty or reversed: the end must be after the start."]
    elif end - start < strategy.timeframe_delta:
        errors["end"] = [f"The range must cover at least one {strategy.timeframe} candle."]
    elif start >= last_closed(now, strategy.timeframe):
        errors["start"] = ["The start must be in the past."]
    elif end - start > timedelta(days=max_days):
        errors["end"] = [f"At most {max_days} days per backtest."]
    if not market or "/" not in market:
        errors["market"] = ['A symbol such as "BTC/USDT".']
    if fee is None or not Decimal(fee).is_finite() or not (bounds.FEE_MIN <= Decimal(fee) <= bounds.FEE_MAX):
        errors["fee"] = [f"A fee rate from {bounds.FEE_MIN} to {bounds.FEE_MAX} (0.001 is 0.1%)."]
    if (allocation is None or not Decimal(allocation).is_finite()
            or not (bounds.ALLOCATION_MIN <= Decimal(allocation) <= bounds.ALLOCATION_MAX)):
        errors["allocation"] = [f"An allocation from {bounds.ALLOCATION_MIN} to {bounds.ALLOCATION_MAX:,.0f}."]
    if errors:
        raise ValidationError(errors)


def backtest_quota_check(*, user, now=None):
    """Refuse (ValidationError) a new backtest of ``user``: one queued or running at a time, so many a day.

    Everyone is limited, staff too: the backtest workers are shared. The
    platform's own backtests (no user, ``manage.py backtest``) run in their own
    process and are not. "Today" is the database's day (UTC).
    """
    now = now or db_now()
    mine = Backtest.objects.filter(user=user)
    mine.filter(status__in=BACKTEST_PENDING, created__lt=now - BACKTEST_STALE_AFTER).update(
        status=Backtest.Status.FAILED, finished=now,
        error=f"Not finished {BACKTEST_STALE_AFTER.seconds // 3600} hour after it was asked for: the backtest "
              "workers may be down or busy. Run it again.",
    )
    pending = mine.filter(status__in=BACKTEST_PENDING).order_by("created").first()
    if pending is not None:
        raise ValidationError({NON_FIELD_ERRORS: [
            f"Your backtest #{pending.pk} ({pending}) is still {pending.get_status_display().lower()}: one "
            "backtest at a time. Its page shows when it is done; then run the next."
        ]})
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    per_day = settings.BACKTESTS_PER_DAY
    if mine.filter(created__gte=day).count() >= per_day:
        raise ValidationError({NON_FIELD_ERRORS: [
            f"You have run {per_day} backtests today, the most a day allows. "
            "You can run more after midnight UTC."
        ]})


def backtest_create(*, user, strategy, market, start, end, fee=Decimal("0.001"), allocation=Decimal("1000"),
                    enqueue=True):
    """A queued backtest; the worker runs it (``enqueue=False``: the caller runs it).

    Raises ValidationError, and creates nothing, on bad input or when ``user`` has reached a limit
    (:func:`backtest_quota_check`).
    """
    now = db_now()
    backtest_validate(strategy=strategy, market=market, start=start, end=end, fee=fee, allocation=allocation, now=now)
    if user is not None:
        backtest_quota_check(user=user, now=now)
    try:
        with transaction.atomic():
            backtest = Backtest.objects.create(
                user=user, strategy=strategy, market=market, start=start, end=end, fee=fee, allocation=allocation
            )
            if enqueue:
                pk = backtest.pk
                transaction.on_commit(lambda: _backtest_enqueue(pk))
    except IntegrityError:
        if user is None or not Backtest.objects.filter(user=user, status__in=BACKTEST_PENDING).exists():
            raise
        # Another request of the same user queued one in between (the one-pending constraint).
        raise ValidationError({NON_FIELD_ERRORS: [
            "You already have a backtest queued or running: one at a time. Wait for it to finish."
        ]}) from None
    return backtest


def _backtest_enqueue(pk):
    """Into the backtests' own queue (``settings.BACKTEST_QUEUE``): the order workers never wait behind it."""
    from django_q.tasks import async_task

    async_task(BACKTEST_TASK, pk, task_name=f"backtest-{pk}", group="backtests", cluster=settings.BACKTEST_QUEUE)


def backtest_time_limit():
    """Seconds a backtest may take in the worker: it stops itself before the task timeout ends it unseen."""
    return max(settings.Q_CLUSTER["timeout"] - 15, 1)


def backtest_execute(*, backtest, progress=None, now=None, gateway=None, time_limit=None):
    """Fetch the candles, simulate, store metrics, equity curve and trades. Failures are stored, not raised.

    With ``time_limit`` (seconds) a backtest that has not finished by then fails with that reason.
    """
    from strategies import backtest as engine

    deadline = time.monotonic() + time_limit if time_limit is not None else None
    now = now or timezone.now()
    claimed = Backtest.objects.filter(pk=backtest.pk, status=Backtest.Status.QUEUED).update(
        status=Backtest.Status.RUNNING, progress=0, error="")
    if not claimed:  # run, or given up as lost (backtest_quota_check), meanwhile
        backtest.refresh_from_db()
        return backtest
    strategy = backtest.strategy
    try:
        strat = strategy_for(strategy)
        gateway = gateway or public_exchange(strategy.exchange)
        market = marketdata.market_check(exchange=strategy.exchange, symbol=backtest.market, gateway=gateway)
        step = strategy.timeframe_delta
        end = min(backtest.end, last_closed(now, strategy.timeframe))
        warm = engine.warmup_candles(strat)
        fetch_start = backtest.start - warm * step
        marketdata.candles_sync(
            exchange=strategy.exchange,
            symbol=backtest.market,
            timeframe=strategy.timeframe,
            start=fetch_start,
            end=end,
            gateway=gateway,
            now=now,
        )
        series = marketdata.candles_load(
            exchange=strategy.exchange, symbol=backtest.market, timeframe=strategy.timeframe, start=fetch_start, end=end
        )
        first = engine.first_index_at(series, backtest.start)
        if first >= len(series):
            raise engine.BacktestError("The exchange has no candles in that range.")
        if first < strat.lookback:
            raise InsufficientHistory(
                f"Too little history before the start: {first} candles, {strat.lookback} needed."
            )
        models = engine.WalkForwardModels(strat, series) if strat.uses_model else None
        last_percent = [0]

        def on_progress(done, total):
            percent = int(done * 100 / total)
            if deadline is not None and time.monotonic() > deadline:
                raise engine.BacktestError(
                    f"Stopped at {percent} % after the {time_limit} s a backtest may take; "
                    "choose a shorter range or a longer timeframe."
                )
            if percent >= last_percent[0] + 2 or done == total:
                last_percent[0] = percent
                Backtest.objects.filter(pk=backtest.pk).update(progress=min(percent, 99))
            if progress is not None:
                progress(done, total)

        sim = engine.simulate(
            strat=strat,
            series=series,
            first_index=first,
            fee=backtest.fee,
            allocation=backtest.allocation,
            market=market,
            models=models,
            progress=on_progress,
        )
        metrics = engine.compute_metrics(
            equity=sim.equity,
            trade_profits=sim.trade_profits,
            fees=sim.fees,
            candles_in_market=sim.candles_in_market,
            start_price=sim.start_price,
            end_price=sim.end_price,
            step_seconds=timeframe_seconds(strategy.timeframe),
        )
        metrics["refused_orders"] = len(sim.refusals)
        metrics["open_trade_at_end"] = sim.open_trade
        metrics["model_trainings"] = models.trainings if models else 0
        backtest.metrics = metrics
        backtest.equity = engine.equity_points(sim.equity)
        backtest.trades = engine.fills_rows(sim.fills)
        backtest.status = Backtest.Status.DONE
        backtest.progress = 100
        backtest.error = ""
    except (ExchangeError, marketdata.UnknownMarket, InsufficientHistory, ValidationError, engine.BacktestError) as error:
        backtest.status, backtest.error = Backtest.Status.FAILED, _error_text(error)
    except Exception as error:
        log.exception("Backtest failed unexpectedly", extra={"backtest": backtest.pk})
        backtest.status = Backtest.Status.FAILED
        backtest.error = f"Internal error ({type(error).__name__}); see the server log."
    backtest.finished = timezone.now()
    backtest.save(update_fields=["status", "progress", "error", "metrics", "equity", "trades", "finished"])
    return backtest


def _staff_alert(**fields):
    """One alert for every active staff member."""
    return [alert_raise(user=user, **fields) for user in get_user_model().objects.filter(is_staff=True, is_active=True)]


def strategy_run_failed_alert(*, run):
    """Tell every active staff member that a strategy run failed."""
    strategy = run.strategy
    return _staff_alert(
        kind=Kind.STRATEGY_RUN_FAILED, severity=Severity.WARNING, title=f"Strategy run failed: {strategy.name}",
        text=run.error or "No error recorded.", dedupe_key=f"strategy_run_failed:{strategy.pk}",
        link=page_link("admin:strategies_strategyrun_change", run.pk, fallback="alerts:list"),
    )
