"""Strictly walk-forward: changing candles after t changes no signal at or before t."""

from datetime import timedelta

import numpy as np
import pytest

from strategies.backtest import WalkForwardModels, simulate
from strategies.models import Candle
from strategies.registry import LearnedStrategy, Series, TrendStrategy
from strategies.services import strategy_run

from .conftest import CLOSE, SMALL_LEARNED, put_candles

H4_MS = 4 * 3600 * 1000
MARKET = {"precision": {"amount": 0.00001}, "limits": {"amount": {"min": 0.00001}, "cost": {"min": 5}}, "info": {}}


def random_walk(n, seed):
    rng = np.random.RandomState(seed)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    opens = np.concatenate([[100.0], closes[:-1]])
    highs = np.maximum(opens, closes) * (1 + rng.uniform(0, 0.01, n))
    lows = np.minimum(opens, closes) * (1 - rng.uniform(0, 0.01, n))
    volume = rng.uniform(5, 15, n)
    times = 1_700_000_000_000 // H4_MS * H4_MS + np.arange(n) * H4_MS
    return Series(times.astype(np.int64), opens, highs, lows, closes, volume, H4_MS)


def perturbed_after(series, t, seed):
    """The same candles up to index t; a different market after it."""
    rng = np.random.RandomState(seed)
    arrays = [a.copy() for a in series.arrays()]
    n = len(series) - t - 1
    factor = np.exp(np.cumsum(rng.normal(-0.01, 0.05, n)))
    for k in (1, 2, 3, 4):
        arrays[k][t + 1 :] = arrays[k][t + 1 :] * factor
    arrays[5][t + 1 :] = rng.uniform(1, 100, n)
    return Series(*arrays, step_ms=series.step_ms)


def decisions(strat, series, first):
    models = WalkForwardModels(strat, series) if strat.uses_model else None
    sim = simulate(strat=strat, series=series, first_index=first, fee="0.001", allocation="1000", market=MARKET, models=models)
    return sim.decisions


@pytest.mark.parametrize(
    "strat",
    [TrendStrategy({"fast": 5, "slow": 20, "vol_window": 10}), LearnedStrategy({**SMALL_LEARNED, "train_candles": 200})],
    ids=["trend", "learned"],
)
def test_changing_candles_after_t_changes_no_signal_at_or_before_t(strat):
    base = random_walk(520, seed=3)
    first = 240
    t = 400
    cut_ms = int(base.time[t]) + H4_MS  # the close of candle t
    original = decisions(strat, base, first)
    changed = decisions(strat, perturbed_after(base, t, seed=11), first)
    before = [d for d in original if d[0] <= cut_ms]
    assert len(before) == t - first + 1
    assert before == [d for d in changed if d[0] <= cut_ms]
    # The perturbation is real: something after t differs.
    assert [d for d in original if d[0] > cut_ms] != [d for d in changed if d[0] > cut_ms]


def test_a_live_run_ignores_candles_after_its_close(paper, trend):
    start = CLOSE - 60 * timedelta(hours=4)
    closes = list(100 + np.sin(np.arange(80) / 5) * 10)
    for symbol in trend.markets:
        put_candles(symbol=symbol, closes=closes, start=start)
    first = strategy_run(strategy=trend, candle_close=CLOSE, now=CLOSE + timedelta(hours=100), test=True)
    Candle.objects.filter(open_time__gte=CLOSE).update(close=1, open=1, high=1, low=1)
    second = strategy_run(strategy=trend, candle_close=CLOSE, now=CLOSE + timedelta(hours=100), test=True)
    assert first.status == second.status == "test"
    assert [(d.market, d.action, d.fraction, d.reason) for d in first.decisions] == [
        (d.market, d.action, d.fraction, d.reason) for d in second.decisions
    ]
