"""What the platform benchmarks share: a paper exchange process, a fresh database, results.

Nothing here measures; each benchmark measures what it compares side by side
in one run and appends its figures to bench/RESULTS.md.
"""

import json
import os
import platform
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from tests.plugins import free_port  # noqa: E402

TOKEN = "bench-token"
PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"



class Paper:
    """A paper exchange subprocess and its control endpoint."""

    def __init__(self, tmp, limits=None, symbols=None):
        self.data = Path(tmp) / "paper"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = {"rate_limits": limits or {"weight_per_minute": 1_000_000, "orders_per_10s": 1_000_000,
                                            "orders_per_day": 10_000_000}}
        if symbols:
            config["symbols"] = symbols
        config_path = Path(tmp) / "paper.json"
        config_path.write_text(json.dumps(config))
        env = {**os.environ, "PAPEREXCHANGE_CONTROL_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)}
        env.pop("PAPEREXCHANGE_DATA", None)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "paperexchange", "serve", "--port", str(self.port), "--data", str(self.data),
             "--config", str(config_path)],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.url + "/api/v3/ping", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    self.proc.kill()
                    raise SystemExit("the paper exchange did not start")
                time.sleep(0.1)

    def control(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, method=method,
                                         headers={"X-Paper-Token": TOKEN, "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read() or b"{}")

    def account(self, **balances):
        return self.control("POST", "/_paper/accounts", {"balances": {k: str(v) for k, v in balances.items()}})["account"]

    def key(self, account_id):
        return self.control("POST", "/_paper/keys", {"account": account_id})

    def counters(self):
        return self.control("GET", "/_paper/counters")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=15)


def postgres_database(name):
    """A fresh PostgreSQL database for a benchmark; returns its URL."""
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def setup_django(*, database_url, paper_url, redis_url="", extra=None):
    """Configure and migrate a fresh platform database in this process; returns the child env."""
    env = {
        "ONECLICK_ENV_FILE": os.devnull,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "bench-secret-key",
        "ONECLICK_ENCRYPTION_KEY": "bench-encryption-key",
        "PAPEREXCHANGE_URL": paper_url,
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "text",
        "SECURE_HTTPS": "off",
        "DJANGO_SETTINGS_MODULE": "oneclick.settings",
        "CACHE_KEY_PREFIX": f"bench-{os.getpid()}",
        "Q_CLUSTER_NAME": f"bench-{os.getpid()}",
        **(extra or {}),
    }
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return {**os.environ, "PYTHONPATH": str(ROOT)}


def machine():
    return f"{os.cpu_count()} CPUs, python {platform.python_version()}"


def record(name, text, echo=True):
    """Print the figures and append them to bench/RESULTS.md under a dated heading."""
    if echo:
        print(text)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    with open(ROOT / "bench" / "RESULTS.md", "a") as results:
        results.write(f"\n## {name}, {stamp}\n\n```\n{text.rstrip()}\n```\n")
