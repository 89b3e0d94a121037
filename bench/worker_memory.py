"""Resident memory (RSS) of a task worker with ccxt loaded, beside its parts.

Measured in separate processes of one run, from /proc/<pid>/status:
- a bare Python interpreter;
- Django set up with the platform's apps;
- the same with a ccxt instance built and the exchange's markets loaded;
- a real orders `manage.py qcluster` worker process after it placed orders for
  20 bots (ccxt loaded, markets cached, one instance per key kept).
Printed: the RSS of each and the ratio worker / bare Django.

    .venv/bin/python bench/worker_memory.py
"""

import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import Paper, machine, record, setup_django  # noqa: E402

PROBE = textwrap.dedent(
    """
    import sys
    stage = sys.argv[1]
    if stage != "python":
        import django
        django.setup()
    if stage == "ccxt":
        from exchanges import public_exchange
        public_exchange("paper").markets()
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            print(int(line.split()[1]))
    """
)


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            found = [int(p) for p in handle.read().split()]
    except OSError:
        return []
    return found + [c for child in found for c in children(child)]


def main():
    with tempfile.TemporaryDirectory() as tmp:
        paper = Paper(tmp)
        try:
            env = setup_django(database_url=f"sqlite:///{Path(tmp) / 'bench.sqlite3'}", paper_url=paper.url,
                               extra={"Q_ORDER_WORKERS": "1"})
            run(paper, env)
        finally:
            paper.stop()


def run(paper, env):
    from decimal import Decimal

    from django.contrib.auth import get_user_model

    from keys.services import key_link
    from exchanges import Credentials
    from portfolios.models import Bot, Order
    from portfolios.services import signals_fan_out
    from strategies.services import strategy_create
    from tests.portfolios.conftest import issue_signal

    stages = {}
    for stage in ("python", "django", "ccxt"):
        out = subprocess.run([sys.executable, "-c", PROBE, stage], env=env, capture_output=True, text=True, check=True)
        stages[stage] = int(out.stdout.strip().splitlines()[-1])

    owner = get_user_model().objects.create_user(username="mem", email="mem@example.com", password="x")
    strategy = strategy_create(name="Memory", kind="trend", markets=["BTC/USDT"])
    for i in range(20):
        made = paper.key(paper.account(USDT=10_000))
        key = key_link(owner=owner, exchange="paper", label=f"k{i}",
                       credentials=Credentials(api_key=made["api_key"], secret=made["secret"]))
        Bot.objects.create(owner=owner, name=f"b{i}", key=key, strategy=strategy, markets=["BTC/USDT"],
                           allocation=Decimal("100"), position_cap=Decimal("1000"))
    signal = issue_signal(strategy, "BTC/USDT", "buy", "0.5")
    cluster = subprocess.Popen([sys.executable, "manage.py", "qcluster"], env={**env, "Q_QUEUE": "orders"},
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        signals_fan_out(signal_ids=[signal.pk])
        deadline = time.monotonic() + 300
        while Order.objects.filter(signal=signal, state="filled").count() < 20 and time.monotonic() < deadline:
            time.sleep(0.5)
        time.sleep(1)
        processes = {pid: rss_kib(pid) for pid in children(cluster.pid)}
    finally:
        cluster.terminate()
        cluster.wait(timeout=60)
    worker = max(processes.values()) if processes else 0
    mib = lambda kib: f"{kib / 1024:6.1f} MiB"  # noqa: E731
    text = "\n".join([
        f"machine: {machine()}",
        f"bare python:                         {mib(stages['python'])}",
        f"django with the platform's apps:     {mib(stages['django'])}",
        f"  + ccxt instance, markets loaded:   {mib(stages['ccxt'])}",
        f"qcluster worker after 20 bots' orders (largest of {len(processes)} cluster processes): {mib(worker)}",
        f"ratio worker / django: {worker / stages['django']:.2f}; cluster processes total: "
        f"{mib(sum(processes.values()))}",
    ])
    record("worker_memory", text)


if __name__ == "__main__":
    main()
