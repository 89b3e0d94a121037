"""What every exchange adapter shares: ccxt just in time, the shared budget, markets, reads.

Everything the platform asks of an exchange goes through an adapter, so that
- ccxt's many exception classes are mapped once to a few
  (:mod:`exchanges.errors`), each saying whether a retry may help and none
  carrying a URL, a credential or a signature;
- every request is paid for from the one request budget shared by every
  worker (:mod:`exchanges.budget`);
- markets are loaded for spot only and cached per process;
- a ccxt instance is built just in time from decrypted credentials, inside the
  process that uses it; credentials are registered with the log scrubber;
- what differs between venues is a method or an attribute of the venue's
  subclass (client order ids and where they travel, the lookup of an order by
  client order id, the trade cursor, which fills an answer tells in full, the
  permission probe, published limits and how they are counted, error codes
  ccxt misfiles, quote currencies), so no code above this layer branches on a
  venue. A fill's fee and its asset come in ccxt's unified trade structure,
  which each venue's ccxt class parses.
"""

import hashlib
import json
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlsplit

import ccxt
from django.conf import settings
from django.core.cache import caches

from exchanges.budget import Budget, BudgetExhausted, Limits
from exchanges.errors import ClockSkew, ExchangeError, ExchangeRejected, OrderUnknown, RateLimited, translate
from oneclick.lib.logscrub import register_secret

log = logging.getLogger(__name__)

MARKETS_TTL_SECONDS = 3600
TICKER_CACHE_SECONDS = 10


# --- credentials and permissions -------------------------------------------


@dataclass(frozen=True)
class Credentials:
    api_key: str
    secret: str = ""
    passphrase: str = ""
    private_key: str = ""

    def __repr__(self):  # never print a credential, even in a traceback's locals
        return "Credentials(***)"

    __str__ = __repr__


@dataclass
class KeyPermissions:
    """What a key may do, as the exchange reports it (``verified``) or as assumed."""

    can_read: bool = True
    can_trade: bool = False
    can_withdraw: bool = False
    ip_restricted: bool | None = None
    verified: bool = False
    raw: dict = field(default_factory=dict)

    def as_dict(self):
        return {
            "can_read": self.can_read,
            "can_trade": self.can_trade,
            "can_withdraw": self.can_withdraw,
            "ip_restricted": self.ip_restricted,
            "verified": self.verified,
            "raw": self.raw,
        }


@dataclass
class Probe:
    permissions: KeyPermissions
    balances: dict  # asset -> {"free": Decimal, "used": Decimal, "total": Decimal}


@dataclass(frozen=True)
class TradesPage:
    """New trades of one market, oldest first, and where the next read starts.

    ``cursor`` is opaque to the caller (a trade id on venues that page by id,
    a time on venues that page by time); ``more`` says another page follows
    at once.
    """

    trades: list
    cursor: str
    more: bool = False


@dataclass(frozen=True)
class CredentialField:
    name: str
    label: str
    help: str = ""
    required: bool = True
    multiline: bool = False


API_KEY = CredentialField("api_key", "API key")
API_SECRET = CredentialField("api_secret", "API secret")


# --- exchanges --------------------------------------------------------------

# Building a ccxt instance costs milliseconds (and a new HTTP session), so a
# worker keeps the ones it uses for a few minutes, keyed by a digest of the
# credentials: the secrets stay in this process's memory only, as they would
# in the instance anyway, and never in a cache shared with other processes.
# One instance per thread: a fan-out runs keys on several threads, and an
# instance (its nonce, its HTTP session) is used by one thread at a time.
CLIENT_TTL_SECONDS = 300
CLIENT_CACHE_SIZE = 256
_clients = {}
_clients_lock = threading.Lock()


def _client_for(exchange):
    creds = exchange.credentials
    digest = ""
    if creds is not None:
        material = "\0".join((creds.api_key, creds.secret, creds.passphrase, creds.private_key))
        digest = hashlib.sha256(material.encode()).hexdigest()
    key = (type(exchange), digest, exchange.base_url(), threading.get_ident())
    now = time.monotonic()
    with _clients_lock:
        found = _clients.get(key)
        if found and now - found[0] < CLIENT_TTL_SECONDS:
            return found[1]
    client = exchange.configure(getattr(ccxt, exchange.ccxt_id)(exchange.ccxt_config()))
    with _clients_lock:
        if len(_clients) >= CLIENT_CACHE_SIZE:
            _clients.pop(min(_clients, key=lambda k: _clients[k][0]))
        _clients[key] = (now, client)
    return client


def _rebased(urls, base):
    """ccxt's ``urls['api']`` (nested dicts included) with each URL's scheme and host replaced by ``base``."""
    if isinstance(urls, dict):
        return {name: _rebased(value, base) for name, value in urls.items()}
    if not isinstance(urls, str) or "://" not in urls:
        return urls
    parts = urlsplit(urls)
    return base.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")


def clients_forget():
    """Drop every cached ccxt instance of this process."""
    with _clients_lock:
        _clients.clear()


def caches_clear():
    """Forget this process's markets, published limits and clock offsets (tests, a changed exchange)."""
    with _markets_lock:
        _markets_cache.clear()
        _limits_cache.clear()
        _clock_offsets.clear()
        _clock_measured.clear()

_markets_cache = {}
_limits_cache = {}
# ccxt's timeDifference (ms our clock is ahead of the exchange's) per exchange endpoint, once measured.
_clock_offsets = {}
# (time.monotonic() mid-way through the round trip, the exchange's time in ms, time.monotonic() when its answer
# came) at each measurement: the exchange's clock is read from the monotonic clock, so a worker's wall clock
# stepped or off changes nothing until the next measurement.
_clock_measured = {}
# The exchange's clock is measured again after this long (drift, a corrected machine clock).
CLOCK_MEASURE_SECONDS = 300
_markets_lock = threading.Lock()
_flights = {}


def _one_flight(name):
    """A lock per thing this process reads once for every thread (markets, a ticker): the first thread
    reads it, the others wait for its answer instead of asking the exchange too."""
    with _markets_lock:
        return _flights.setdefault(name, threading.Lock())


class Exchange:
    """One supported exchange. Subclasses set the class attributes."""

    name = ""
    label = ""
    ccxt_id = ""
    credential_fields = (API_KEY, API_SECRET)
    reports_permissions = False
    is_paper = False
    # Corrections to ccxt's classes for some of the venue's error codes: (regex over the error text, ccxt class).
    error_classes = ()
    # The quote currencies a bot may allocate in, as the venue lists its main markets.
    quotes = ("USDT", "USDC")
    # "text": our readable id (``oc-<bot>-<tag>-<digest>``); "uuid": the venue takes UUIDs only.
    client_order_id_style = "text"
    # Conservative defaults where an exchange publishes no machine-readable limits.
    default_limits = Limits(weight_per_minute=600, orders_per_10s=10, orders_per_day=10_000)
    # Request weight per ccxt method (1 when not listed).
    weights = {}
    # How long after its own timestamp the venue still executes a signed order request (ms): Binance's
    # recvWindow, Bitvavo's access window, Kraken's deadline. ``None``: the venue sets no such limit, and
    # a request whose answer was lost is given ``unbounded_request_ms`` before the order is sent again.
    request_window_ms = 5000
    unbounded_request_ms = 120_000
    # What our reading of the exchange's clock may be off by (half a round trip, drift since measured).
    clock_margin_ms = 1000

    def __init__(self, credentials=None):
        self.credentials = credentials
        self._client = None

    # ccxt instance, just in time

    def ccxt_config(self):
        # ccxt's own per-instance throttle is off: the shared budget
        # (exchanges.budget) paces every request of every worker instead.
        config = {"enableRateLimit": False, "timeout": 15000, "options": {"fetchCurrencies": False}}
        creds = self.credentials
        if creds is not None:
            config["apiKey"] = creds.api_key
            config["secret"] = creds.private_key or creds.secret
            if creds.passphrase:
                config["password"] = creds.passphrase
            for value in (creds.api_key, creds.secret, creds.passphrase, creds.private_key):
                register_secret(value)
        return config

    def base_url(self):
        """Where the venue's API is, when not where ccxt knows it: ``EXCHANGE_API_URLS`` (a testnet, a staging server)."""
        return settings.EXCHANGE_API_URLS.get(self.name, "")

    def configure(self, client):
        """Adjust a fresh ccxt instance (URLs, options). Default: every API URL on :meth:`base_url`, if any."""
        base = self.base_url()
        if base:
            client.urls["api"] = _rebased(client.urls["api"], base)
        return client

    @property
    def client(self):
        if self._client is None:
            self._client = _client_for(self)
            offset = _clock_offsets.get(self.cache_key())
            if offset is not None:
                self._client.options["timeDifference"] = offset
            # A new instance starts with the markets this process holds: ccxt would otherwise load them again
            # (exchangeInfo, 20 weight on Binance) on its first call that needs them, a balance read included.
            self._markets_cached(self.cache_key())
        return self._client

    def cache_key(self):
        return (self.name, str(self.client.urls.get("api")))

    def limits(self):
        return _limits_cache.get(self.cache_key(), self.default_limits)

    def budget(self):
        creds = self.credentials
        return Budget(
            exchange=self.name, host=str(self.client.urls.get("api")), limits=self.limits(),
            account=creds.api_key if creds else "",
        )

    def weight_of(self, method, args, kwargs):
        weight = self.weights.get(method, 1)
        return weight(args, kwargs) if callable(weight) else weight

    # Set by a caller whose every read is bookkeeping (reconciliation): they all leave the reserve to orders.
    bookkeeping = False

    def call(self, method, *args, bookkeeping=False, **kwargs):
        """Call a ccxt method within the shared request budget, mapping its errors to ours.

        ``bookkeeping`` reads (reconciliation) leave a reserve of the budget
        to order placement.

        A request refused for its timestamp (our clock out of step with the
        exchange's beyond its recvWindow) resynchronises this process's clock
        offset and is made once more; an order is not, its sender looks it up
        by client order id first.
        """
        try:
            return self._call(method, args, kwargs, bookkeeping)
        except ClockSkew:
            self.clock_resync()
            if method == "create_order":
                raise
            return self._call(method, args, kwargs, bookkeeping)

    def clock_resync(self):
        """Measure the exchange's clock against ours; every client of this process signs with it from now on."""
        self.clock_measure()
        log.warning("%s: clock resynchronised, ours is %s ms ahead", self.label, self.client.options["timeDifference"])

    def clock_measure(self):
        """Read the exchange's time, taken as of the middle of the round trip."""
        before, before_wall = time.monotonic(), time.time()
        server_ms = int(self._call("fetch_time", (), {}, False))
        after, after_wall = time.monotonic(), time.time()
        # ccxt signs with the wall clock less timeDifference.
        self.client.options["timeDifference"] = int((before_wall + after_wall) * 500) - server_ms
        _clock_offsets[self.cache_key()] = self.client.options["timeDifference"]
        _clock_measured[self.cache_key()] = ((before + after) / 2, server_ms, after)

    def exchange_clock_ms(self):
        """The exchange's clock now (ms): its time when last measured (within minutes) plus the time since."""
        key = self.cache_key()
        measured = _clock_measured.get(key)
        if measured is None or time.monotonic() - measured[0] > CLOCK_MEASURE_SECONDS:
            with _one_flight(("clock", key)):
                measured = _clock_measured.get(key)  # another thread may have measured it meanwhile
                if measured is None or time.monotonic() - measured[0] > CLOCK_MEASURE_SECONDS:
                    self.clock_measure()
                    measured = _clock_measured[key]
        return int(measured[1] + (time.monotonic() - measured[0]) * 1000)

    def exchange_clock_floor_ms(self):
        """The earliest the exchange's clock can read now (ms).

        The exchange read its time somewhere in the round trip, at the latest when its answer came: counting
        from then never runs ahead of it, whatever a slow or lopsided round trip did to the estimate that
        :meth:`exchange_clock_ms` takes from its middle.
        """
        self.exchange_clock_ms()  # measured when due
        _mid, server_ms, answered = _clock_measured[self.cache_key()]
        return int(server_ms + (time.monotonic() - answered) * 1000)

    # the request window: when a sent order can no longer execute

    def request_deadline_ms(self, stamp_ms):
        """The exchange-clock time after which a request stamped ``stamp_ms`` can no longer execute (margin in)."""
        window = self.request_window_ms if self.request_window_ms is not None else self.unbounded_request_ms
        return stamp_ms + window + self.clock_margin_ms

    def request_time_params(self, stamp_ms):
        """Order parameters that bind the request to its stamp (Binance's timestamp and recvWindow, ...)."""
        return {}

    def request_expired(self, deadline_ms):
        """Whether a request with that deadline can no longer execute, by the exchange's own clock.

        Judged by the earliest the exchange's clock can read, never by an estimate that may run ahead of it:
        a process whose measurement took a slow round trip (a busy machine) would otherwise call a request
        expired while the exchange could still execute it, and the order would be sent twice.
        """
        return self.exchange_clock_floor_ms() > deadline_ms

    def _call(self, method, args, kwargs, bookkeeping):
        budget = self.budget()
        bookkeeping = bookkeeping or (self.bookkeeping and method != "create_order")
        try:
            budget.acquire(self.weight_of(method, args, kwargs), order=method == "create_order",
                           bookkeeping=bookkeeping)
        except BudgetExhausted as error:
            raise RateLimited("Our request budget for this exchange is used up", error.retry_after) from None
        try:
            return getattr(self.client, method)(*args, **kwargs)
        except ccxt.BaseError as error:
            translated = translate(error, self.client, error_classes=self.error_classes)
            if isinstance(translated, RateLimited):
                budget.block(translated.retry_after or 60)
            raise translated from None
        finally:
            budget.observe(self.used_weight(getattr(self.client, "last_response_headers", None)))

    # markets

    def markets(self):
        """Spot markets, loaded once per process (and refreshed hourly)."""
        key = self.cache_key()
        fresh = self._markets_cached(key)
        if fresh is not None:
            return fresh
        with _one_flight(("markets", key)):
            fresh = self._markets_cached(key)  # another thread may have loaded them meanwhile
            return fresh if fresh is not None else self._markets_load(key)

    def _markets_cached(self, key):
        with _markets_lock:
            cached = _markets_cache.get(key)
        if cached and time.monotonic() - cached[0] < MARKETS_TTL_SECONDS:
            if not self.client.markets:
                _, spot, currencies, helpers = cached
                self.client.set_markets(spot, currencies)
                # What the venue's ccxt class builds beside the markets while loading them (Kraken's markets by
                # altname, which its order and trade parsers look pairs up in): without it a client given the
                # markets of another one parses an order's pair as an unknown market and loses it.
                self.client.options.update(helpers)
            return self.client.markets
        return None

    def _markets_load(self, key):
        markets = self.call("load_markets", True)
        spot = {symbol: market for symbol, market in markets.items() if market.get("spot")}
        limits = self.limits_from_markets_response(self._last_json())
        options = self.client.options
        helpers = {name: options[name] for name in options.get("marketHelperProps") or () if options.get(name) is not None}
        with _markets_lock:
            _markets_cache[key] = (time.monotonic(), spot, self.client.currencies, helpers)
            if limits is not None:
                _limits_cache[key] = limits
        self.client.set_markets(spot)
        return self.client.markets

    def _last_json(self):
        """The body of the last response, parsed (ccxt keeps it as text)."""
        body = getattr(self.client, "last_json_response", None) or getattr(self.client, "last_http_response", None)
        if isinstance(body, str):
            try:
                return json.loads(body)
            except ValueError:
                return None
        return body

    def used_weight(self, headers):
        """The weight the venue says we used in its current window, from its response headers, or None."""
        return None

    def limits_from_markets_response(self, response):
        """Limits published with the markets (Binance's exchangeInfo.rateLimits)."""
        return None

    def market(self, symbol):
        markets = self.markets()
        if symbol not in markets:
            raise ExchangeRejected(f"{self.label} has no spot market {symbol}")
        return markets[symbol]

    def ticker(self, symbol):
        """Last price and 24 h quote volume, cached for a few seconds for every caller in the process."""
        cache_key = f"ticker:{self.name}:{symbol}"
        cache = caches["local"]
        found = cache.get(cache_key)
        if found is None:
            with _one_flight(("ticker", cache_key)):
                found = cache.get(cache_key)  # another thread may have read it meanwhile
                if found is None:
                    raw = self.call("fetch_ticker", symbol)
                    found = {"last": str(raw.get("last") or raw.get("close") or 0),
                             "quoteVolume": str(raw.get("quoteVolume") or 0)}
                    cache.set(cache_key, found, TICKER_CACHE_SECONDS)
        return {"last": Decimal(found["last"]), "quoteVolume": Decimal(found["quoteVolume"])}

    def ticker_price(self, symbol):
        return self.ticker(symbol)["last"]

    def candle_close(self, symbol, at_ms):
        """The close of the one-minute candle holding ``at_ms`` (a price at a past moment), or None."""
        minute = at_ms - at_ms % 60_000
        candles = self.call("fetch_ohlcv", symbol, "1m", minute, 1, bookkeeping=True)
        return candles[0][4] if candles and candles[0][0] == minute else None

    # account

    def balances(self):
        raw = self.call("fetch_balance")
        result = {}
        for asset, amounts in raw.items():
            if asset in ("info", "free", "used", "total", "timestamp", "datetime"):
                continue
            if not isinstance(amounts, dict):
                continue
            total = amounts.get("total") or 0
            if total:
                result[asset] = {k: Decimal(str(amounts.get(k) or 0)) for k in ("free", "used", "total")}
        return result

    def permissions(self):
        """What the key may do. Exchanges that cannot tell return unverified."""
        return KeyPermissions(can_read=True, can_trade=True, can_withdraw=False, verified=False)

    def probe(self):
        """Authenticate (a balance read) and read the key's permissions."""
        balances = self.balances()
        return Probe(permissions=self.permissions(), balances=balances)

    # orders: what differs between venues

    def client_order_id(self, *, bot_id, tag, salt):
        """Deterministic for (bot, tag, salt), unique across deployments, valid on this venue.

        The same (bot, signal) always gives the same id, so a second delivery
        of a task, a crash or a resend can never make a second order.
        """
        digest = hashlib.sha256(f"{bot_id}:{tag}:{salt}".encode())
        if self.client_order_id_style == "uuid":
            return str(uuid.UUID(bytes=digest.digest()[:16], version=4))
        return f"oc-{bot_id}-{tag}-{digest.hexdigest()[:8]}"[:36]

    def order_params(self, *, client_order_id, bot_id):
        """The request parameters that carry our client order id (and whatever else the venue demands)."""
        return {"clientOrderId": client_order_id}

    def order_create(self, *, symbol, side, quantity, client_order_id, bot_id, stamp_ms=None):
        """Send a market order; the order as the venue has it (with its fills when the venue tells them).

        ``stamp_ms`` (from :meth:`exchange_clock_ms`) binds the request to that
        time where the venue allows it, so that it cannot execute after
        :meth:`request_deadline_ms`. Venues that answer a new order with its id
        alone (Kraken) are asked for the order once more; if that read fails,
        the answer stands and reconciliation finishes the order.
        """
        params = self.order_params(client_order_id=client_order_id, bot_id=bot_id)
        if stamp_ms is not None:
            params.update(self.request_time_params(stamp_ms))
        answer = self.call("create_order", symbol, "market", side, float(quantity), None, params)
        if answer.get("status") in ("closed", "canceled", "rejected", "expired") or not answer.get("id"):
            return answer
        try:
            return self.order_fetch(symbol=symbol, order_id=answer["id"])
        except ExchangeError:
            return answer

    def order_trades(self, answer):
        """The fills an order's answer tells in full (Kraken's lists trade ids only: those come with reconciliation)."""
        return [t for t in answer.get("trades") or []
                if isinstance(t, dict) and t.get("id") and t.get("amount") and t.get("price")]

    def order_fills(self, *, symbol, order_id, since_ms):
        """Every fill of one order (for an order whose answer did not tell them: a lookup's, Kraken's)."""
        return self.call("fetch_order_trades", order_id, symbol)

    def order_by_client_id(self, *, symbol, client_order_id):
        """The venue's record of our order, found by its client order id, or None when it has none."""
        try:
            return self.call("fetch_order", None, symbol, {"clientOrderId": client_order_id})
        except OrderUnknown:
            return None

    def order_fetch(self, *, symbol, order_id, bookkeeping=False):
        return self.call("fetch_order", order_id, symbol, bookkeeping=bookkeeping)

    def order_cancel(self, *, symbol, order_id, bot_id):
        """Cancel a resting order; the order as the venue has it afterwards."""
        answer = self.cancel_request(symbol=symbol, order_id=order_id, bot_id=bot_id)
        if (answer or {}).get("status") in ("canceled", "closed"):
            return answer
        # Some venues answer a cancel with the id alone: read the order's final state.
        return self.order_fetch(symbol=symbol, order_id=order_id)

    def cancel_request(self, *, symbol, order_id, bot_id):
        return self.call("cancel_order", order_id, symbol)

    # trades: the cursor of incremental reconciliation

    trades_page_size = 1000
    trades_newest_first = False
    # Trades read again before the cursor's time (venues that page by time): a
    # trade stamped in the same millisecond as the last one seen is never missed;
    # one read twice is stored once (one fill per exchange trade id).
    trades_overlap_ms = 1000

    def trades_after(self, *, symbol, cursor, since_ms):
        """The trades of ``symbol`` after ``cursor`` (or since ``since_ms`` on a first read), oldest first.

        Default: by time, for venues whose trade ids are not ordered numbers.
        ``cursor`` is the time (ms) of the newest trade seen.
        """
        seen = int(cursor) if cursor else 0
        start = seen - self.trades_overlap_ms if seen else since_ms
        trades = self.trades_between(symbol=symbol, start_ms=start)
        trades.sort(key=lambda t: (t.get("timestamp") or 0, str(t.get("id"))))
        newest = max([seen, *(t.get("timestamp") or 0 for t in trades)])
        # No trade seen yet: the cursor stays empty and the next read starts from ``since`` again.
        return TradesPage(trades=trades, cursor=str(newest) if newest else "", more=False)

    def trades_between(self, *, symbol, start_ms, end_ms=None):
        """Every trade of ``symbol`` from ``start_ms`` (to ``end_ms``), in pages of :attr:`trades_page_size`.

        Venues that answer the oldest trades first page forward (``since``
        moves on); those that answer the newest first (:attr:`trades_newest_first`)
        page backward (``until`` moves back). A trade at a page's edge comes
        twice and is kept once.
        """
        found, since, until = {}, start_ms, end_ms
        while True:
            params = {"until": until} if until else {}
            page = self.call("fetch_my_trades", symbol, since, self.trades_page_size, params, bookkeeping=True)
            fresh = [t for t in page if str(t.get("id")) not in found]
            for trade in fresh:
                found[str(trade.get("id"))] = trade
            if len(page) < self.trades_page_size or not fresh:
                return list(found.values())
            if self.trades_newest_first:
                until = min(t.get("timestamp") or 0 for t in page)
            else:
                since = max(t.get("timestamp") or since for t in page)
