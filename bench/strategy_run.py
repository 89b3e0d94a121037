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

import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TOKEN = "bench-token"
MARKET_COUNTS = (5, 50)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_paper(tmp):
    from paperexchange.config import DEFAULT_SYMBOLS

    template = DEFAULT_SYMBOLS[0]
    symbols = []
    for i in range(50):
        base = f"C{i:02d}"
        symbols.append({**template, "symbol": f"{base}USDT", "base": base, "price": str(50 + i * 7)})
    config = Path(tmp) / "paper.json"
    config.write_text(json.dumps({"symbols": symbols, "rate_limits": {"weight_per_minute": 1_000_000}}))
    port = free_port()
    env = {**os.environ, "PAPEREXCHANGE_CONTROL_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)}
    env.pop("PAPEREXCHANGE_DATA", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "paperexchange", "serve", "--port", str(port), "--data", str(Path(tmp) / "paper"),
         "--config", str(config)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/api/v3/ping", timeout=2):
                return proc, url, [f"C{i:02d}/USDT" for i in range(50)]
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the paper exchange did not start")


def setup_django(tmp, paper_url):
    os.environ.update(
        {
            "ONECLICK_ENV_FILE": os.devnull,
            "DATABASE_URL": f"sqlite:///{Path(tmp) / 'bench.sqlite3'}",
            "SECRET_KEY": "bench-secret-key",
            "ONECLICK_ENCRYPTION_KEY": "bench-encryption-key",
            "PAPEREXCHANGE_URL": paper_url,
            "LOG_LEVEL": "WARNING",
            "LOG_FORMAT": "text",
            "Q_SYNC": "off",
        }
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "oneclick.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("createcachetable", verbosity=0)


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
        proc, url, markets = start_paper(tmp)
        try:
            setup_django(tmp, url)
            close = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=2)
            close -= timedelta(hours=close.hour % 4)
            runs = {n: measure_runs(markets[:n], close) for n in MARKET_COUNTS}
            training = measure_training(markets[:3], close)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    lines = [f"machine: {os.cpu_count()} CPUs, python {platform.python_version()}; trend strategy (4h), paper exchange over loopback"]
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
    text = "\n".join(lines)
    print(text)
    results = ROOT / "bench" / "RESULTS.md"
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    with results.open("a") as handle:
        handle.write(f"\n## strategy_run, {stamp}\n\n```\n{text}\n```\n")


if __name__ == "__main__":
    main()
