"""Time to produce signals for one strategy over N markets (N = 5, 50), and to train the learned model.

A paper exchange process with 50 synthetic markets serves the candles over
loopback, through the same gateway (ccxt) the platform uses; the database is
a fresh SQLite file. For each N:
- cold: the first run, with an empty Candle table (every market's history is fetched);
- warm: the run at the next candle close (one new candle per market is fetched).
Printed: seconds, the share of it spent fetching candles, per-market cost and
the ratios 50/5 and warm/cold, all measured in one run. The learned model's
training (3 markets, the default 1,500-candle window) is timed the same way.
Figures are appended to bench/RESULTS.md.

    .venv/bin/python bench/strategy_run.py
"""

import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Paper, machine, record, setup_django  # noqa: E402

MARKET_COUNTS = (5, 50)


def fifty_markets():
    from paperexchange.config import DEFAULT_SYMBOLS

    template = DEFAULT_SYMBOLS[0]
    symbols = [{**template, "symbol": f"C{i:02d}USDT", "base": f"C{i:02d}", "price": str(50 + i * 7)} for i in range(50)]
    return symbols, [f"C{i:02d}/USDT" for i in range(50)]


def measure_runs(markets, close):
    from strategies.services import strategy_create, strategy_run

    strategy = strategy_create(name=f"Bench trend x{len(markets)}", kind="trend", markets=markets)
    figures = {}
    for label, candle_close in (("cold", close - strategy.timeframe_delta), ("warm", close)):
        began = time.perf_counter()
        outcome = strategy_run(strategy=strategy, candle_close=candle_close, now=close + timedelta(seconds=5),
                               trigger="bench")
        total = time.perf_counter() - began
        if outcome.status != "succeeded":
            raise SystemExit(f"run failed: {outcome.error}")
        figures[label] = (total, outcome.fetch_seconds, len(outcome.signals))
    return figures


def measure_training(markets, close):
    from strategies.services import model_train, strategy_create

    strategy = strategy_create(name="Bench learned", kind="learned", markets=markets)
    began = time.perf_counter()
    artifact = model_train(strategy=strategy, train_end=close, now=close + timedelta(seconds=5))
    total = time.perf_counter() - began
    return total, artifact.metrics["fetch_seconds"], artifact.metrics["fit_seconds"], artifact


def main():
    with tempfile.TemporaryDirectory() as tmp:
        symbols, markets = fifty_markets()
        paper = Paper(tmp, symbols=symbols)
        try:
            setup_django(database_url=f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", paper_url=paper.url)
            close = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
            close -= timedelta(hours=close.hour % 4)
            runs = {n: measure_runs(markets[:n], close) for n in MARKET_COUNTS}
            training = measure_training(markets[:3], close)
        finally:
            paper.stop()
    lines = [f"machine: {machine()}; trend strategy (4h), paper exchange over loopback"]
    for n, figures in runs.items():
        for label, (total, fetch, signals) in figures.items():
            lines.append(
                f"{n:>2} markets {label}: {total:7.3f} s  ({total / n * 1000:6.1f} ms/market, {signals} signals)"
                f"  candle fetch {fetch:6.3f} s = {fetch / total:5.1%}"
            )
    small, large = runs[MARKET_COUNTS[0]], runs[MARKET_COUNTS[-1]]
    lines.append(f"ratio 50/5 markets: cold {large['cold'][0] / small['cold'][0]:.2f}x, warm {large['warm'][0] / small['warm'][0]:.2f}x (10x markets)")
    lines.append(f"ratio warm/cold: 5 markets {small['warm'][0] / small['cold'][0]:.2f}, 50 markets {large['warm'][0] / large['cold'][0]:.2f}")
    total, fetch, fit, artifact = training
    lines.append(
        f"learned model training (3 markets, {artifact.metrics['examples']} examples): {total:.3f} s, "
        f"candle fetch {fetch:.3f} s = {fetch / total:.1%}, fit {fit:.3f} s = {fit / total:.1%}, artifact {artifact.size} bytes"
    )
    record("strategy_run", "\n".join(lines))


if __name__ == "__main__":
    main()
