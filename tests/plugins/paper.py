"""pytest plugin: a real paper exchange process per test session (per xdist worker).

Fixtures:
- ``paper_exchange`` (session): the running server. ``.url``, ``.data_dir``,
  ``.token``; ``create_account(**balances)``, ``create_key(account_id, ...)``,
  ``fault(**knobs)``, ``control(method, path, body)``, ``reset()``,
  ``counters()``, ``fresh_window()`` (reset with enough of the rate-limit minute left), ``account(account_id)`` (balances, orders, trades as the
  exchange sees them), ``foreign_trade(...)``, ``move_price(...)``,
  ``add_volume(...)``, ``set_withdraw(api_key, on=True)``, ``limits(**changes)``,
  ``ccxt(key, **config)``.
- ``paper_account`` (function): a fresh account with 10,000 USDT and 10,000
  USDC and a trade-only HMAC key; faults and rate-limit state are reset first.

Load it from the root conftest with ``pytest_plugins = ["tests.plugins.paper"]``.
"""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.plugins import free_port

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "paper-test-token"


class PaperExchangeError(RuntimeError):
    pass



class PaperExchange:
    """A ``python -m paperexchange serve`` subprocess and a client for its control endpoint."""

    def __init__(self, data_dir, token=TOKEN, env=None):
        self.data_dir = Path(data_dir)
        self.token = token
        self.extra_env = env or {}
        self.proc = None
        self.port = None
        self.url = None
        self.log_path = self.data_dir / "server.log"

    # process ----------------------------------------------------------------
    def start(self, port=None, timeout=30.0):
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PAPEREXCHANGE_CONTROL_TOKEN": self.token, "PAPEREXCHANGE_BAN_SECONDS": "1",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               **self.extra_env}
        env.pop("PAPEREXCHANGE_DATA", None)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "paperexchange", "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--data", str(self.data_dir)],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PaperExchangeError(f"paper exchange exited with {self.proc.returncode}: "
                                         f"{self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(self.url + "/api/v3/ping", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise PaperExchangeError(f"paper exchange did not answer on {self.url} within {timeout}s")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None

    def restart(self):
        """Stop and start again on the same port and data directory."""
        port = self.port
        self.stop()
        return self.start(port=port)

    # control endpoint ---------------------------------------------------------
    def control(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"X-Paper-Token": self.token, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise PaperExchangeError(f"{method} {path}: HTTP {exc.code} {exc.read().decode()}") from None

    def fault(self, **knobs):
        """Set fault knobs, e.g. ``fault(lost_response={"count": 1})``; see paperexchange/faults.py."""
        return self.control("POST", "/_paper/faults", knobs)

    def clear_faults(self):
        return self.control("DELETE", "/_paper/faults")

    def reset(self):
        return self.control("POST", "/_paper/reset")

    def counters(self):
        return self.control("GET", "/_paper/counters")

    def server_time(self):
        with urllib.request.urlopen(self.url + "/api/v3/time", timeout=30) as resp:
            return json.loads(resp.read())["serverTime"]

    def fresh_window(self, seconds_left=15.0, window_seconds=60):
        """Reset, after waiting if need be so that ``seconds_left`` remain in the exchange's current window.

        Weight (and order counts) are counted in fixed windows, as on Binance:
        a test that reads ``X-MBX-USED-WEIGHT-1M`` across several calls must not
        straddle a minute boundary. Use ``window_seconds=10`` for the 10-second order count.
        """
        size = int(window_seconds * 1000)
        left = size - self.server_time() % size
        if left < seconds_left * 1000:
            time.sleep(left / 1000 + 0.05)
        self.reset()

    def limits(self, **changes):
        return self.control("POST", "/_paper/limits", changes) if changes else self.control("GET", "/_paper/limits")

    def create_account(self, **balances):
        return self.control("POST", "/_paper/accounts", {"balances": {k: str(v) for k, v in balances.items()}})["account"]

    def create_key(self, account_id, ed25519=False, can_withdraw=False, trade=True, ips=None, symbols=None):
        return self.control("POST", "/_paper/keys", {
            "account": account_id, "ed25519": ed25519, "can_withdraw": can_withdraw, "trade": trade,
            "ips": list(ips) if ips else None, "symbols": list(symbols) if symbols else None})

    def update_key(self, api_key, **changes):
        return self.control("PATCH", f"/_paper/keys/{api_key}", changes)

    def set_withdraw(self, api_key, on=True):
        return self.update_key(api_key, can_withdraw=on)

    def account(self, account_id):
        return self.control("GET", f"/_paper/accounts/{account_id}")

    def foreign_trade(self, account_id, symbol, quantity, side="BUY", price=None):
        body = {"account": account_id, "symbol": symbol, "side": side, "quantity": str(quantity)}
        if price is not None:
            body["price"] = str(price)
        return self.control("POST", "/_paper/foreign-trade", body)

    def move_price(self, symbol, factor=None, price=None):
        body = {"symbol": symbol}
        body.update({"factor": factor} if price is None else {"price": str(price)})
        return self.control("POST", "/_paper/move-price", body)

    def add_volume(self, symbol, quantity):
        return self.control("POST", "/_paper/add-volume", {"symbol": symbol, "quantity": str(quantity)})

    def prices(self):
        return self.control("GET", "/_paper/prices")

    def ccxt(self, key, **config):
        """A ccxt ``binance`` instance for ``key`` (a dict from ``create_key``)."""
        from paperexchange.client import make_ccxt

        return make_ccxt(self.url, key["api_key"], secret=key.get("secret"), private_key=key.get("private_key"),
                         **config)


@dataclass
class PaperAccount:
    id: int
    key: dict
    exchange: PaperExchange = field(repr=False)

    @property
    def api_key(self):
        return self.key["api_key"]

    @property
    def secret(self):
        return self.key.get("secret")

    def ccxt(self, **config):
        return self.exchange.ccxt(self.key, **config)

    def snapshot(self):
        return self.exchange.account(self.id)


@pytest.fixture(scope="session")
def paper_exchange(tmp_path_factory):
    server = PaperExchange(tmp_path_factory.mktemp("paperexchange"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def paper_account(paper_exchange):
    paper_exchange.reset()
    account_id = paper_exchange.create_account(USDT="10000", USDC="10000")
    key = paper_exchange.create_key(account_id)
    return PaperAccount(account_id, key, paper_exchange)
