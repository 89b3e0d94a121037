"""The strategies: a plain dict of classes sharing one interface.

A strategy is given the candles of one market up to and including the last
closed candle (never anything later) and the exposure its own earlier signals
built (0 = flat, 1 = the whole allocation), and returns a :class:`Decision`:
an action, a fraction and a short reason a person can read.

Fractions mean what :mod:`strategies.sizing` says: a buy spends ``fraction``
of the allocation; a sell sells ``fraction`` of the position.

Parameters are validated by the class (``validate_params``) when a strategy is
saved, so a bad value is a form error, never a crash at 04:00.
"""

import hashlib
import io
import json
import math
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

import numpy as np
from django.core.exceptions import ValidationError

from strategies.timeframes import from_ms

BUY, SELL, HOLD = "buy", "sell", "hold"
FRACTION_PLACES = Decimal("0.0001")


class InsufficientHistory(Exception):
    """Too few candles to decide. ``str()`` is safe to show."""


@dataclass(frozen=True)
class Decision:
    action: str
    fraction: Decimal
    reason: str

    @classmethod
    def hold(cls, reason):
        return cls(HOLD, Decimal(0), reason)

    def exposure_after(self, exposure):
        """The model's own exposure once this decision is carried out (prices unchanged)."""
        exposure = Decimal(str(exposure))
        if self.action == BUY:
            return min(Decimal(1), exposure + self.fraction)
        if self.action == SELL:
            return max(Decimal(0), exposure * (1 - self.fraction))
        return exposure


def fraction_of(value):
    """A float in [0, 1] as a Decimal rounded down to 4 places."""
    value = min(1.0, max(0.0, float(value)))
    return Decimal(repr(value)).quantize(FRACTION_PLACES, rounding=ROUND_DOWN)


@dataclass
class Series:
    """Candles of one market, oldest first, as float arrays (``time`` is the open time in ms)."""

    time: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    step_ms: int

    def __len__(self):
        return len(self.close)

    def upto(self, index, lookback=None):
        """The candles ``[.. index]`` (inclusive), at most ``lookback`` of them."""
        stop = index + 1
        start = 0 if lookback is None else max(0, stop - lookback)
        return Series(*(arr[start:stop] for arr in self.arrays()), step_ms=self.step_ms)

    def arrays(self):
        return self.time, self.open, self.high, self.low, self.close, self.volume

    def close_time(self, index=-1):
        return from_ms(int(self.time[index]) + self.step_ms)

    @classmethod
    def from_rows(cls, rows, step_ms):
        """From ``(open_ms, open, high, low, close, volume)`` rows."""
        data = np.array(rows, dtype=float).reshape(-1, 6)
        return cls(data[:, 0].astype(np.int64), *(data[:, i] for i in range(1, 6)), step_ms=step_ms)


def _params_hash(params):
    text = json.dumps(params, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# --- parameter checking ---------------------------------------------------------


@dataclass(frozen=True)
class Param:
    type: type
    default: object
    low: float | None = None
    high: float | None = None
    choices: tuple = ()
    help: str = ""

    def clean(self, name, value):
        if self.choices:
            if value not in self.choices:
                raise ValidationError(f"{name}: choose one of {', '.join(map(str, self.choices))}.")
            return value
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError(f"{name}: a number is expected.")
        if self.type is int:
            if float(value) != int(value):
                raise ValidationError(f"{name}: a whole number is expected.")
            value = int(value)
        else:
            value = float(value)
            if not math.isfinite(value):
                raise ValidationError(f"{name}: a finite number is expected.")
        if self.low is not None and value < self.low:
            raise ValidationError(f"{name}: at least {self.low}.")
        if self.high is not None and value > self.high:
            raise ValidationError(f"{name}: at most {self.high}.")
        return value


class BaseStrategy:
    kind = ""
    label = ""
    summary = ""
    code_version = ""
    uses_model = False
    param_spec: dict = {}

    def __init__(self, params=None):
        self.params = self.validate_params(params or {})

    @classmethod
    def defaults(cls):
        return {name: spec.default for name, spec in cls.param_spec.items()}

    @classmethod
    def validate_params(cls, params):
        """Known names only, each of the right type and range; defaults filled in."""
        if not isinstance(params, dict):
            raise ValidationError("Parameters must be a JSON object.")
        unknown = sorted(set(params) - set(cls.param_spec))
        if unknown:
            raise ValidationError(f"Unknown parameter(s) for {cls.kind}: {', '.join(unknown)}.")
        cleaned, errors = {}, []
        for name, spec in cls.param_spec.items():
            try:
                cleaned[name] = spec.clean(name, params.get(name, spec.default))
            except ValidationError as error:
                errors.extend(error.messages)
        if errors:
            raise ValidationError(errors)
        cls.check(cleaned)
        return cleaned

    @classmethod
    def check(cls, params):
        """Rules across parameters; raise ValidationError."""

    @property
    def lookback(self):
        """Candles needed for one decision."""
        raise NotImplementedError

    def version(self):
        return f"{self.kind}-{self.code_version}-{_params_hash(self.params)[:10]}"

    def decide(self, series, exposure, model=None):
        raise NotImplementedError

    def _need(self, series, count):
        if len(series) < count:
            raise InsufficientHistory(f"{count} candles are needed, {len(series)} are available.")


# --- features -------------------------------------------------------------------


def _rolling_mean(values, window):
    out = np.full(len(values), np.nan)
    if len(values) < window:
        return out
    csum = np.cumsum(np.insert(values, 0, 0.0))
    out[window - 1 :] = (csum[window:] - csum[:-window]) / window
    return out


def _rolling_std(values, window):
    mean = _rolling_mean(values, window)
    mean_sq = _rolling_mean(values * values, window)
    return np.sqrt(np.maximum(mean_sq - mean * mean, 0.0) * window / max(window - 1, 1))


def _lag_return(log_close, lag):
    out = np.full(len(log_close), np.nan)
    if len(log_close) > lag:
        out[lag:] = log_close[lag:] - log_close[:-lag]
    return out


FEATURE_NAMES = ("ret_1", "ret_3", "ret_6", "ret_12", "vol_12", "vol_24", "momentum_24", "volume_24", "range_1")
FEATURE_WARMUP = 26


def features(series):
    """One row per candle, computed from that candle and earlier ones only (NaN while warming up)."""
    close = np.maximum(series.close, 1e-12)
    log_close = np.log(close)
    r1 = _lag_return(log_close, 1)
    r1_filled = np.nan_to_num(r1)
    vol12 = _rolling_std(r1_filled, 12)
    vol24 = _rolling_std(r1_filled, 24)
    momentum = close / _rolling_mean(close, 24) - 1
    volume = np.log1p(np.maximum(series.volume, 0.0))
    volume_ratio = volume - _rolling_mean(volume, 24)
    span = (series.high - series.low) / close
    table = np.column_stack(
        [r1, _lag_return(log_close, 3), _lag_return(log_close, 6), _lag_return(log_close, 12),
         vol12, vol24, momentum, volume_ratio, span]
    )
    table[: FEATURE_WARMUP - 1] = np.nan
    return table


def labels(series, horizon, threshold):
    """Class of the return over the next ``horizon`` candles: 1 up, -1 down, 0 flat (NaN when unknown)."""
    close = series.close
    out = np.full(len(close), np.nan)
    if len(close) > horizon:
        forward = close[horizon:] / close[:-horizon] - 1
        out[:-horizon] = np.where(forward > threshold, 1.0, np.where(forward < -threshold, -1.0, 0.0))
    return out


# --- trend ------------------------------------------------------------------------


class TrendStrategy(BaseStrategy):
    """Moving-average crossover; the position is sized by recent volatility."""

    kind = "trend"
    label = "Trend (moving-average crossover)"
    summary = (
        "In the market while the fast moving average is above the slow one, out when it falls below. "
        "The position is smaller when the market is more volatile."
    )
    code_version = "1"
    param_spec = {
        "fast": Param(int, 12, 2, 500, help="Fast moving average, in candles."),
        "slow": Param(int, 48, 3, 1000, help="Slow moving average, in candles."),
        "vol_window": Param(int, 30, 5, 500, help="Candles used to measure volatility."),
        "risk_per_candle": Param(float, 0.01, 0.0001, 0.5, help="Target volatility of the position per candle."),
        "min_trade": Param(float, 0.05, 0.0, 1.0, help="Smallest change of exposure worth a trade."),
    }

    @classmethod
    def check(cls, params):
        if params["fast"] >= params["slow"]:
            raise ValidationError("fast must be shorter than slow.")

    @property
    def lookback(self):
        return max(self.params["slow"], self.params["vol_window"] + 1)

    def decide(self, series, exposure, model=None):
        p = self.params
        self._need(series, self.lookback)
        close = series.close
        fast = float(np.mean(close[-p["fast"] :]))
        slow = float(np.mean(close[-p["slow"] :]))
        returns = np.diff(np.log(close[-(p["vol_window"] + 1) :]))
        volatility = float(np.std(returns, ddof=1)) or 1e-12
        exposure = float(exposure)
        if fast > slow:
            target = min(1.0, p["risk_per_candle"] / volatility)
            gap = target - exposure
            if gap >= max(p["min_trade"], 1e-4):
                return Decision(
                    BUY,
                    fraction_of(gap),
                    f"Uptrend: MA{p['fast']} {fast:.6g} > MA{p['slow']} {slow:.6g}; volatility {volatility:.2%} "
                    f"per candle sizes the position to {target:.0%}.",
                )
            return Decision.hold(f"Uptrend (MA{p['fast']} > MA{p['slow']}); already {exposure:.0%} in the market.")
        if exposure > 0:
            return Decision(
                SELL,
                Decimal(1),
                f"Downtrend: MA{p['fast']} {fast:.6g} <= MA{p['slow']} {slow:.6g}; leave the market.",
            )
        return Decision.hold(f"Downtrend (MA{p['fast']} <= MA{p['slow']}); stay out.")


# --- learned ------------------------------------------------------------------------


class LearnedModel:
    """A fitted classifier and what it needs to be used again."""

    def __init__(self, estimator, feature_names, horizon):
        self.estimator = estimator
        self.feature_names = tuple(feature_names)
        self.horizon = horizon

    def probabilities(self, row):
        proba = self.estimator.predict_proba(row.reshape(1, -1))[0]
        out = {-1: 0.0, 0: 0.0, 1: 0.0}
        for cls, value in zip(self.estimator.classes_, proba, strict=True):
            out[int(cls)] = float(value)
        return out

    def dumps(self):
        import joblib

        buffer = io.BytesIO()
        joblib.dump(self, buffer, compress=3)
        return buffer.getvalue()

    @staticmethod
    def loads(data):
        import joblib

        return joblib.load(io.BytesIO(bytes(data)))


class LearnedStrategy(BaseStrategy):
    """A scikit-learn classifier of the next candles' direction, trained walk-forward."""

    kind = "learned"
    label = "Learned (scikit-learn classifier)"
    summary = (
        "A classifier trained on past candles only (returns, volatility, momentum, volume) that predicts whether "
        "the price rises or falls over the next candles; it trades more the more confident it is. "
        "Retrained every week; each signal names the exact trained model that produced it."
    )
    code_version = "1"
    uses_model = True
    param_spec = {
        "horizon": Param(int, 3, 1, 48, help="Candles ahead that the model predicts."),
        "threshold": Param(float, 0.004, 0.0, 0.5, help="A move smaller than this is 'flat'."),
        "train_candles": Param(int, 1500, 200, 20000, help="Candles per market in the training window."),
        "retrain_days": Param(int, 7, 1, 365, help="Days between retrainings."),
        "estimator": Param(str, "forest", choices=("forest", "logistic")),
        "n_estimators": Param(int, 60, 5, 500),
        "max_depth": Param(int, 4, 1, 16),
        "min_confidence": Param(float, 0.45, 0.34, 0.99, help="Probability needed before it trades."),
        "seed": Param(int, 7, 0, 2**31 - 1),
    }

    @property
    def lookback(self):
        return FEATURE_WARMUP

    def training_rows(self, series, train_end_ms=None):
        """Feature rows and labels whose outcome was known by ``train_end_ms`` (a candle close)."""
        table = features(series)
        target = labels(series, self.params["horizon"], self.params["threshold"])
        if train_end_ms is not None:
            # The label of candle i needs the close of candle i + horizon.
            outcome_close = series.time + (self.params["horizon"] + 1) * series.step_ms
            target = np.where(outcome_close <= train_end_ms, target, np.nan)
        keep = ~np.isnan(table).any(axis=1) & ~np.isnan(target)
        return table[keep], target[keep].astype(int)

    def build_estimator(self):
        p = self.params
        if p["estimator"] == "logistic":
            from sklearn.linear_model import LogisticRegression
            from sklearn.pipeline import make_pipeline
            from sklearn.preprocessing import StandardScaler

            return make_pipeline(StandardScaler(), LogisticRegression(max_iter=500, random_state=p["seed"]))
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(
            n_estimators=p["n_estimators"],
            max_depth=p["max_depth"],
            min_samples_leaf=5,
            random_state=p["seed"],
            n_jobs=1,
        )

    def train(self, series_list, train_end_ms):
        """Fit on every market's candles closing at or before ``train_end_ms``. Returns (model, metrics)."""
        blocks_x, blocks_y = [], []
        for series in series_list:
            closes = series.time + series.step_ms
            cut = series.upto(int(np.searchsorted(closes, train_end_ms, side="right")) - 1)
            if len(cut) == 0:
                continue
            x, y = self.training_rows(cut, train_end_ms)
            blocks_x.append(x)
            blocks_y.append(y)
        x = np.vstack(blocks_x) if blocks_x else np.empty((0, len(FEATURE_NAMES)))
        y = np.concatenate(blocks_y) if blocks_y else np.empty(0, dtype=int)
        if len(y) < 50:
            raise InsufficientHistory(f"Only {len(y)} training examples; at least 50 are needed.")
        if len(set(y.tolist())) < 2:
            raise InsufficientHistory("The training window holds a single outcome: nothing to learn.")
        estimator = self.build_estimator()
        estimator.fit(x, y)
        counts = {str(k): int((y == k).sum()) for k in (-1, 0, 1)}
        metrics = {"examples": int(len(y)), "train_accuracy": round(float(estimator.score(x, y)), 4), "classes": counts}
        return LearnedModel(estimator, FEATURE_NAMES, self.params["horizon"]), metrics

    def artifact_version(self, train_start, train_end, markets):
        text = json.dumps(
            {
                "code": f"{self.kind}-{self.code_version}",
                "start": train_start.isoformat(),
                "end": train_end.isoformat(),
                "params": self.params,
                "markets": sorted(markets),
            },
            sort_keys=True,
            separators=(",", ":"),
        )
        return f"{self.kind}-{hashlib.sha256(text.encode()).hexdigest()[:24]}"

    def decide(self, series, exposure, model=None):
        if model is None:
            raise InsufficientHistory("No trained model is available yet.")
        self._need(series, self.lookback)
        row = features(series.upto(len(series) - 1, FEATURE_WARMUP + 1))[-1]
        if np.isnan(row).any():
            raise InsufficientHistory("Not enough candles to compute the features.")
        proba = model.probabilities(row)
        up, down = proba[1], proba[-1]
        floor = self.params["min_confidence"]
        exposure = float(exposure)
        odds = f"P(up) {up:.0%}, P(down) {down:.0%}"
        if up >= floor and up > down and exposure < 1:
            strength = (up - floor) / (1 - floor)
            fraction = fraction_of(max(0.05, strength) * (1 - exposure))
            if fraction > 0:
                return Decision(BUY, fraction, f"Expects a rise over {model.horizon} candles: {odds}.")
        if down >= floor and down > up and exposure > 0:
            strength = (down - floor) / (1 - floor)
            fraction = max(0.5, strength)
            if exposure * (1 - fraction) < 0.1:
                fraction = 1.0  # what would be left is not worth keeping: exit
            return Decision(SELL, fraction_of(fraction), f"Expects a fall over {model.horizon} candles: {odds}.")
        return Decision.hold(f"Not confident enough to trade: {odds}.")


REGISTRY = {cls.kind: cls for cls in (TrendStrategy, LearnedStrategy)}


def strategy_class(kind):
    try:
        return REGISTRY[kind]
    except KeyError:
        raise ValidationError(f"Unknown strategy kind {kind!r}; known: {', '.join(sorted(REGISTRY))}.") from None


def strategy_for(strategy):
    """The registry instance for a Strategy row (its params validated)."""
    return strategy_class(strategy.kind)(strategy.params)
