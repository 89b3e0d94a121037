"""The processes of `make run` (web, worker, paper from the Procfile, through honcho) on free ports.

Each stack has its own database (a temporary SQLite file, or its own PostgreSQL
database on the server of ``DATABASE_URL``), its own paper exchange data
directory, task queue and cache prefix, and sends its email to a local SMTP
server (aiosmtpd) so a test can read it.
"""

import itertools
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import logging

from aiosmtpd.controller import Controller

from tests.plugins import free_port
from tests.plugins.paper import PaperExchange

ROOT = Path(__file__).resolve().parents[2]
PAPER_TOKEN = "e2e-paper-token"
logging.getLogger("mail.log").setLevel(logging.WARNING)


class Mailbox:
    """A real SMTP server keeping every message it receives."""

    def __init__(self):
        self.port = free_port()
        self.messages = []
        self._lock = threading.Lock()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):
        with self._lock:
            self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted"

    def start(self):
        self._controller.start()
        return self

    def stop(self):
        self._controller.stop()

    def wait_for(self, to, subject_contains, timeout=30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                for message in self.messages:
                    if to in message["To"] and subject_contains in message["Subject"]:
                        return message
            time.sleep(0.1)
        raise AssertionError(f"no email to {to} about {subject_contains!r} within {timeout}s")


class StackError(RuntimeError):
    pass


# Each stack of a test process has its own database and queue names: the browser journey's stack lives for the
# whole session, and another module's may start beside it.
_numbers = itertools.count(1)


class Stack:
    def __init__(self, base_dir):
        self.number = f"{os.getpid()}_{next(_numbers)}"
        self.dir = Path(base_dir)
        self.web_port = free_port()
        self.paper_port = free_port()
        self.url = f"http://127.0.0.1:{self.web_port}"
        self.paper_url = f"http://127.0.0.1:{self.paper_port}"
        self.paper_data = self.dir / "paperexchange"
        self.log_path = self.dir / "processes.log"
        self.mailbox = Mailbox()
        self.proc = None
        self._pg_admin_url = None
        self.database_url = self._database()
        tag = f"oneclick-e2e-{self.number}"
        self.env = {
            **os.environ,
            "ONECLICK_ENV_FILE": os.devnull,
            "DATABASE_URL": self.database_url,
            "WEB_PORT": str(self.web_port),
            "PAPER_PORT": str(self.paper_port),
            "PAPEREXCHANGE_URL": self.paper_url,
            "PAPEREXCHANGE_DATA": str(self.paper_data),
            "PAPEREXCHANGE_CONTROL_TOKEN": PAPER_TOKEN,
            "EMAIL_URL": f"smtp://127.0.0.1:{self.mailbox.port}",
            "SECURE_HTTPS": "off",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "ONECLICK_SITE_URL": self.url,
            "CACHE_KEY_PREFIX": tag,
            "Q_CLUSTER_NAME": tag,
            "Q_WORKERS": "2",
            "LOG_LEVEL": "DEBUG",
            "LOG_FORMAT": "text",
            "PYTHONUNBUFFERED": "1",
            # collectstatic, as `make run` does, into this stack's own directory (never a stale var/static).
            "STATIC_ROOT": str(self.dir / "static"),
        }
        self.paper = PaperExchange(self.paper_data, token=PAPER_TOKEN)
        self.paper.port, self.paper.url = self.paper_port, self.paper_url

    # database ---------------------------------------------------------------------------
    def _database(self):
        configured = os.environ.get("DATABASE_URL", "")
        if not configured.startswith(("postgres://", "postgresql://")):
            return f"sqlite:///{self.dir / 'db.sqlite3'}"
        import psycopg

        parts = urlsplit(configured)
        name = f"oneclick_e2e_{self.number}"
        self._pg_admin_url = urlunsplit(parts._replace(scheme="postgresql", path="/postgres"))
        with psycopg.connect(self._pg_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        self._pg_name = name
        return urlunsplit(parts._replace(path=f"/{name}"))

    def _drop_database(self):
        if self._pg_admin_url is None:
            return
        import psycopg

        with psycopg.connect(self._pg_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self._pg_name}" WITH (FORCE)')

    # commands -----------------------------------------------------------------------------
    def manage(self, *args, check=True, timeout=180):
        result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=self.env,
                                capture_output=True, text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise StackError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result

    def shell(self, code):
        return self.manage("shell", "--no-imports", "-c", code).stdout

    def paper_cli(self, *args):
        result = subprocess.run([sys.executable, "-m", "paperexchange", "--data", str(self.paper_data), *args],
                                cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=60)
        if result.returncode != 0:
            raise StackError(f"paperexchange {' '.join(args)} failed: {result.stderr}")
        return json.loads(result.stdout)

    # processes ----------------------------------------------------------------------------
    def start(self, timeout=90.0):
        self.mailbox.start()
        self.manage("migrate", "--noinput")
        self.manage("collectstatic", "--noinput", "--verbosity", "0")
        self._log = open(self.log_path, "ab")
        # honcho as `make run` starts it; an empty env file, since the environment above is complete.
        self.proc = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "honcho"), "--env", os.devnull, "--no-colour", "--procfile", "Procfile",
             "start"],
            cwd=ROOT, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StackError(f"honcho exited with {self.proc.returncode}:\n{self.log_tail()}")
            if self._healthy():
                return self
            time.sleep(0.3)
        self.stop()
        raise StackError(f"the processes were not healthy within {timeout}s:\n{self.log_tail()}")

    def _healthy(self):
        try:
            with urllib.request.urlopen(f"{self.paper_url}/api/v3/ping", timeout=2):
                pass
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=5) as response:
                return response.status == 200
        except (OSError, urllib.error.HTTPError):
            return False

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            # honcho leads its own process group (start_new_session): stop it and what it started.
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None
        self.mailbox.stop()
        self._drop_database()

    def log_text(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_tail(self, chars=4000):
        return self.log_text()[-chars:]
