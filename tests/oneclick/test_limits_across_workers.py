"""Every rate limit holds across the portal's web workers and across a restart, also without Redis.

The portal runs as the README starts it (gunicorn, 2 workers), on its own database, with each worker
replaced after every request (``--max-requests 1``): a limit kept in one process's memory would start
from zero on every attempt. Wrong passwords and wrong second-factor codes are sent one request at a time
and the test counts the ones the portal actually checked (it answered "not correct" / "not valid")
against the ones it refused unchecked ("too many"); halfway the whole portal is restarted.
"""

import os
import re
import signal
import subprocess
import time

import pytest
import requests

from tests.conftest import PASSWORD
from tests.e2e.stack import ROOT, Stack, StackError

pytestmark = pytest.mark.xdist_group("gunicorn")

USERS = """
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from oneclick.models import TOTPDevice
User = get_user_model()
for email, with_2fa in (("pat@example.com", False), ("sam@example.com", True)):
    user = User.objects.create_user(username=email.split("@")[0], email=email, password={password!r})
    EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
    if with_2fa:
        TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
"""
WRONG_PASSWORD = "The email address and/or password you specified are not correct."
TOO_MANY_PASSWORDS = "Too many failed login attempts."
WRONG_CODE = "That code is not valid."
TOO_MANY_CODES = "Too many wrong codes."


class Portal(Stack):
    """Only the web processes of the stack: gunicorn with 2 workers, each serving a single request."""

    def start(self, timeout=60.0):
        if self.proc is None:
            self.mailbox.start()
            self.manage("migrate", "--noinput")  # also creates the shared cache's table
            self.shell(USERS.format(password=PASSWORD))
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [str(ROOT / ".venv" / "bin" / "gunicorn"), "oneclick.wsgi", "--bind", f"127.0.0.1:{self.web_port}",
             "--workers", "2", "--max-requests", "1", "--preload", "--access-logfile", "-",
             "--access-logformat", "pid=%(p)s %(m)s %(U)s %(s)s"],
            cwd=ROOT, env={**self.env, "Q_SYNC": "on"}, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StackError(f"gunicorn exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(f"{self.url}/accounts/login/", timeout=5).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise StackError(f"the portal did not answer within {timeout}s:\n{self.log_tail()}")

    def restart(self):
        os.killpg(self.proc.pid, signal.SIGTERM)
        self.proc.wait(timeout=30)
        self._log.close()
        self.start()

    def post_pids(self, path):
        """The worker processes that answered the POSTs to ``path``."""
        return set(re.findall(rf"pid=<?(\d+)>? POST {re.escape(path)} ", self.log_text()))


@pytest.fixture(scope="module")
def portal(tmp_path_factory):
    portal = Portal(tmp_path_factory.mktemp("portal"))
    portal.env.pop("REDIS_URL", None)  # the limits must hold without Redis: the database is the shared cache
    try:
        yield portal.start()
    finally:
        portal.stop()


def _form_post(session, url, data):
    if "token" not in session.__dict__:  # one form read per session: its CSRF token holds for every post
        page = session.get(url, timeout=30)
        session.token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    return session.post(url, data={**data, "csrfmiddlewaretoken": session.token}, headers={"Referer": url},
                        timeout=30)


def _outcome(text, checked, refused):
    if checked in text:
        return "checked"
    if refused in text:
        return "refused"
    raise AssertionError(f"neither {checked!r} nor {refused!r} in the answer:\n{text[:2000]}")


def test_wrong_passwords_are_checked_within_the_limit_whatever_worker_and_across_a_restart(portal):
    url = f"{portal.url}/accounts/login/"
    outcomes = []
    session = requests.Session()
    for attempt in range(8):
        if attempt == 3:
            portal.restart()
        answer = _form_post(session, url, {"login": "pat@example.com", "password": "wrong-password-1"})
        outcomes.append(_outcome(answer.text, WRONG_PASSWORD, TOO_MANY_PASSWORDS))
    # "5 per 5 minutes" per address: five checked, the rest refused unchecked.
    assert outcomes == ["checked"] * 5 + ["refused"] * 3
    # Served by many processes (a worker is replaced after each request, and once the whole portal).
    assert len(portal.post_pids("/accounts/login/")) >= 5
    # The right password is refused too while the limit holds: nothing was guessed in the meantime.
    answer = _form_post(session, url, {"login": "pat@example.com", "password": PASSWORD})
    assert _outcome(answer.text, WRONG_PASSWORD, TOO_MANY_PASSWORDS) == "refused"


def test_wrong_second_factor_codes_are_checked_within_the_limit_whatever_worker_and_across_a_restart(portal):
    session = requests.Session()
    answer = _form_post(session, f"{portal.url}/accounts/login/", {"login": "sam@example.com", "password": PASSWORD})
    assert answer.url.startswith(f"{portal.url}/account/2fa/verify/")
    del session.token  # signing in rotates the CSRF token
    url = f"{portal.url}/account/2fa/verify/"
    outcomes = []
    for attempt in range(10):
        if attempt == 2:
            portal.restart()
        answer = _form_post(session, url, {"code": f"{attempt:06d}"})
        outcomes.append(_outcome(answer.text, WRONG_CODE, TOO_MANY_CODES))
    # "5 per 5 minutes" per user.
    assert outcomes == ["checked"] * 5 + ["refused"] * 5
    assert len(portal.post_pids("/account/2fa/verify/")) >= 5
