"""Four worker processes share one request budget through Redis against one exchange IP.

The paper exchange publishes a deliberately low limit (600 weight per minute
by default) in exchangeInfo; four processes call it as fast as the shared
budget lets them, through the platform's gateway. The exchange itself counts
the weight it received in each calendar minute. Printed, for every full
minute of the run: the share of the published budget used (goal >= 90 %),
and the number of 429 and 418 answers (goal 0).

    .venv/bin/python bench/rate_budget.py [--limit 600] [--seconds 200]
"""

import argparse
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Paper, machine, record, setup_django  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/0"
WORKERS = 4
GOAL = 0.90

WORKER = textwrap.dedent(
    """
    import sys, time
    import django
    django.setup()
    from exchanges import RateLimited, public_exchange

    deadline = time.monotonic() + float(sys.argv[1])
    exchange = public_exchange("paper")
    exchange.markets()
    calls = 0
    while time.monotonic() < deadline:
        try:
            exchange.call("fetch_ticker", "BTC/USDT")   # weight 2, as on Binance
            calls += 1
        except RateLimited:
            pass
    print(calls)
    """
)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=600, help="weight per minute published by the exchange")
    parser.add_argument("--seconds", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        paper = Paper(tmp, limits={"weight_per_minute": args.limit})
        try:
            env = setup_django(database_url=f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", paper_url=paper.url,
                               redis_url=REDIS_URL)
            run(paper, env, args.limit, args.seconds)
        finally:
            paper.stop()


def _minute_marks(paper, until):
    """Counters read at each calendar-minute boundary of the exchange's clock."""
    marks = []
    while time.time() < until:
        now = time.time()
        boundary = (int(now // 60) + 1) * 60
        if boundary > until:
            break
        time.sleep(max(0.0, boundary - now - 0.02))
        while time.time() < boundary:
            time.sleep(0.005)
        marks.append((boundary, paper.counters()["weight_used"]))
    return marks


def run(paper, env, limit, seconds):
    start = time.time()
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(seconds)], env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(WORKERS)
    ]
    marks = _minute_marks(paper, start + seconds)
    calls = [int(worker.communicate()[0].strip() or 0) for worker in workers]
    counters = paper.counters()
    lines = [f"machine: {machine()}; {WORKERS} worker processes sharing Redis; published limit {limit} weight/min; "
             f"{seconds} s"]
    shares = []
    for (t0, w0), (t1, w1) in zip(marks, marks[1:]):
        share = (w1 - w0) / limit
        shares.append(share)
        lines.append(f"  minute {time.strftime('%H:%M', time.gmtime(t0))} UTC: {w1 - w0} weight used = {share:.1%}")
    lowest = min(shares) if shares else 0.0
    lines += [
        f"calls made by the workers: {sum(calls)} ({', '.join(map(str, calls))})",
        f"lowest full-minute share of the budget: {lowest:.1%}   goal >= {GOAL:.0%}: "
        f"{'met' if shares and lowest >= GOAL else 'NOT met'}",
        f"429 answers: {counters['http_429']}, 418 answers: {counters['http_418']}   goal 0: "
        f"{'met' if counters['http_429'] == counters['http_418'] == 0 else 'NOT met'}",
    ]
    record("rate_budget", "\n".join(lines))


if __name__ == "__main__":
    main()
