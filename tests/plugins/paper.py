"""pytest plugin: a real paper exchange process per test session (per xdist worker).

Fixtures:
- ``paper_exchange`` (session): the running server. ``.url``, ``.data_dir``,
  ``.token``; ``create_account(venue="binance", bnb_fees=False, **balances)``, ``set_bnb_fees(account_id,
  on=True)``, ``create_key(account_id, ...)`` (a key of the account's venue; the dict carries ``venue``),
  ``fault(**knobs)``, ``control(method, path, body)``, ``reset()``, ``price_at(symbol, ms)`` (the server's
  price path, computed in the test), ``free_balances(account_id)`` (Decimals),
  ``counters()``, ``fresh_window()`` (reset with enough of the rate-limit minute left), ``account(account_id)`` (balances, orders, trades as the
  exchange sees them), ``foreign_trade(...)``, ``move_price(...)``,
  ``add_volume(...)``, ``set_withdraw(api_key, on=True)``, ``limits(**changes)``,
  ``ccxt(key, **config)`` (the ccxt class of the key's venue), ``venue_url(venue)``;
  ``kill()`` (SIGKILL) and ``restart()`` (same port and data: its state persists, its knobs and counters do not).
- ``paper_account`` (function): a fresh account with 10,000 USDT and 10,000
  USDC and a trade-only HMAC key; faults and rate-limit state are reset first
  and again after the test.

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
from decimal import Decimal
from functools import lru_cache
from pathlib import Path

import pytest

from paperexchange import config as paper_config
from paperexchange.client import make_ccxt, venue_url
from paperexchange.market import Market
from tests.plugins import free_port

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "paper-test-token"


class PaperExchangeError(RuntimeError):
    pass



@lru_cache
def _price_path(seed):
    cfg = paper_config.load(environ={})
    return Market(cfg["symbols"], seed, drift=cfg["drift"], jumps_per_day=cfg["jumps_per_day"],
                  jump_size=cfg["jump_size"], slippage_bps=cfg["slippage_bps"])


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

    def kill(self):
        """SIGKILL the server, as a crash would: requests in flight get no answer; what it committed stays."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self):
        """Stop (unless it is down already) and start again on the same port and data directory."""
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

    def limits(self, venue="binance", **changes):
        if changes:
            return self.control("POST", "/_paper/limits", {**changes, "venue": venue})
        return self.control("GET", f"/_paper/limits?venue={venue}")

    def venue_url(self, venue):
        """Where ``venue``'s dialect answers: the root for Binance, ``/<venue>`` for the others."""
        return venue_url(self.url, venue)

    def create_account(self, venue="binance", bnb_fees=False, **balances):
        """A new account of ``venue`` holding ``balances`` (``USDT="10000"``, ``KFEE="1000"``...); ``bnb_fees``:
        it pays its fees in BNB when it holds enough (Binance venues)."""
        body = {"balances": {k: str(v) for k, v in balances.items()}, "venue": venue}
        if bnb_fees:
            body["bnb_fees"] = True
        return self.control("POST", "/_paper/accounts", body)["account"]

    def set_bnb_fees(self, account_id, on=True):
        """Switch an account's "pay fees with BNB" on or off."""
        return self.control("PATCH", f"/_paper/accounts/{account_id}", {"bnb_fees": on})

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

    def price_at(self, symbol, ms):
        """The server's price of ``symbol`` at millisecond ``ms``, computed here: the price path is a pure
        function of (seed, symbol, time). Holds while no price was moved since the last reset."""
        with urllib.request.urlopen(self.url + "/_paper/health", timeout=30) as resp:
            seed = json.loads(resp.read())["seed"]
        return _price_path(seed).price(symbol, ms)

    def free_balances(self, account_id):
        """{asset: free balance as a Decimal} of an account, as the exchange holds it."""
        return {asset: Decimal(b["free"]) for asset, b in self.account(account_id)["balances"].items()}

    def ccxt(self, key, venue=None, **config):
        """A ccxt instance of the key's venue (``key`` is a dict from ``create_key``; ``venue`` overrides it)."""
        return make_ccxt(self.url, key["api_key"], secret=key.get("secret"), private_key=key.get("private_key"),
                         venue=venue or key.get("venue", "binance"), **config)


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
    yield PaperAccount(account_id, key, paper_exchange)
    # leave the shared server as found: a test that lowered a limit or set a knob
    # must not refuse the next test that uses the server without an account
    paper_exchange.reset()
