"""`make run` as a newcomer types it, from a fresh copy of the project on ports of its own: the demo trades,
and Ctrl-C leaves no process behind, also when its output is piped."""

import os
import shutil
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from tests.plugins import free_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.xdist_group("make-run")


def _fresh_copy(tmp_path):
    """The project as a fresh checkout has it (no .env, no database), sharing this machine's virtualenv."""
    copy = tmp_path / "oneclick"
    shutil.copytree(ROOT, copy, symlinks=True, ignore=shutil.ignore_patterns(
        ".venv", "var", ".env", "db.sqlite3*", ".git", "__pycache__", "node_modules", ".pytest_cache"))
    (copy / ".venv").symlink_to(ROOT / ".venv")
    return copy


def _processes_in(directory):
    """Pids of the processes working in ``directory`` (every process `make run` starts works there)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if Path(os.readlink(entry / "cwd")).resolve() == directory.resolve():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def _filled_orders(copy):
    database = copy / "db.sqlite3"
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM portfolios_order WHERE state = 'filled'").fetchone()[0]
    except sqlite3.OperationalError:  # not migrated yet
        return 0


def _ctrl_c(proc, copy, log):
    """What a terminal does on Ctrl-C: SIGINT to the whole foreground process group."""
    os.killpg(proc.pid, signal.SIGINT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _processes_in(copy):
        time.sleep(0.2)
    left = _processes_in(copy)
    for pid in left:  # never leave them running after the test
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not left, f"still running 10 s after Ctrl-C: {left}\n{log.read_text()[-3000:]}"


@pytest.mark.parametrize("piped", [False, True], ids=["terminal", "piped-to-tee"])
def test_make_run_on_other_ports_trades_within_minutes_and_ctrl_c_stops_everything(tmp_path, piped):
    copy = _fresh_copy(tmp_path)
    web_port, paper_port = free_port(), free_port()
    log = tmp_path / "run.log"
    command = f"WEB_PORT={web_port} PAPER_PORT={paper_port} make run"
    command = f"{command} 2>&1 | tee {log}" if piped else f"{command} > {log} 2>&1"
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("DATABASE_URL", "REDIS_URL", "ONECLICK_", "PAPEREXCHANGE_", "DJANGO_",
                                  "PYTEST_", "Q_", "CACHE_", "EMAIL_"))}
    # Its own session: the shell, make, honcho and tee form the foreground group a terminal would signal.
    proc = subprocess.Popen(["bash", "-c", command], cwd=copy, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not _filled_orders(copy):
            assert proc.poll() is None, log.read_text()[-3000:]
            time.sleep(1)
        assert _filled_orders(copy) >= 1, log.read_text()[-3000:]
        output = log.read_text()
        assert f"http://127.0.0.1:{web_port}" in output  # the URL it prints is the one it serves
        pinned = (copy / ".env").read_text()
        assert "PAPEREXCHANGE_URL" not in pinned and "ONECLICK_SITE_URL" not in pinned  # the ports decide
    finally:
        _ctrl_c(proc, copy, log)
    if not piped:  # (tee died with the Ctrl-C: the piped log ends there)
        # Every process stopped on its SIGTERM (the workers after their task in hand): none had to be killed.
        assert "stopped (rc=" in log.read_text() and "sending SIGKILL" not in log.read_text(), log.read_text()[-3000:]
