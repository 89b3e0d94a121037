"""The exchange gateway: one small class per supported exchange around ccxt.

Everything the platform asks of an exchange goes through here, so that
- ccxt's many exception classes are mapped once to our five
  (:class:`AuthFailed`, :class:`PermissionDenied`, :class:`RateLimited`,
  :class:`ExchangeRejected`, :class:`Transient`), each saying whether a retry
  may help and none carrying a URL, a credential or a signature;
- markets are loaded for spot only and cached per process;
- a ccxt instance is built just in time from decrypted credentials, inside the
  process that uses it; credentials are registered with the log scrubber.

The registry :data:`EXCHANGES` is a plain dict: no discovery.
"""

import hashlib
import json
import logging
import re
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal

import ccxt
from django.conf import settings

from oneclick.lib.logscrub import register_secret
from portfolios.ratelimit import Budget, BudgetExhausted, Limits

log = logging.getLogger(__name__)

MARKETS_TTL_SECONDS = 3600


# --- errors -----------------------------------------------------------------


class ExchangeError(Exception):
    """Base of the gateway's errors. ``str()`` is safe to show a user."""

    retryable = False

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class AuthFailed(ExchangeError):
    """The exchange does not accept the key or its signature."""


class PermissionDenied(ExchangeError):
    """The key works but lacks a permission, or the request came from an IP it refuses."""


class RateLimited(ExchangeError):
    """Too many requests (HTTP 429) or banned for a while (HTTP 418)."""

    retryable = True

    def __init__(self, reason, retry_after=None, banned=False):
        super().__init__(reason)
        self.retry_after = retry_after
        self.banned = banned


class ExchangeRejected(ExchangeError):
    """The exchange refused the request itself (filters, balance, unknown order, ...)."""


class Transient(ExchangeError):
    """Network trouble, timeouts, 5xx, clock skew: the same request may succeed later."""

    retryable = True


class ClockSkew(Transient):
    """The exchange refused the request's timestamp (Binance -1021) before doing anything with it."""


_CODE_MESSAGE = re.compile(r'"code"\s*:\s*(-?\d+)\s*,\s*"msg"\s*:\s*"([^"]*)"')


def _exchange_words(error):
    """The exchange's own code and message from a ccxt error, without URLs."""
    text = str(error)
    match = _CODE_MESSAGE.search(text)
    if match:
        return f"{match.group(2)} (code {match.group(1)})"
    # ccxt puts "<id> <METHOD> <url> <status> <body>" in some messages: keep no URL.
    text = re.sub(r"https?://\S+", "", text)
    return " ".join(text.split())[:300]


def _retry_after(exchange):
    headers = getattr(exchange, "last_response_headers", None) or {}
    for name, value in headers.items():
        if name.lower() == "retry-after":
            try:
                return float(value)
            except (TypeError, ValueError):
                return None
    return None


# Binance codes that mean "this key (or its IP, or its signature) is refused",
# whatever class ccxt picked (it reports -2015 as DDoSProtection after a first
# successful private call).
_AUTH_CODES = ("-2014", "-2015", "-1022", "-2008")


def translate(error, exchange=None):
    """Map a ccxt exception to the gateway's own (the original is chained)."""
    words = _exchange_words(error)
    code = _CODE_MESSAGE.search(str(error))
    if code and code.group(1) in _AUTH_CODES:
        return AuthFailed(f"The exchange refused the key: {words}")
    if isinstance(error, (ccxt.DDoSProtection, ccxt.RateLimitExceeded)):
        banned = "418" in str(error) or "banned" in str(error).lower()
        return RateLimited(f"Rate limited by the exchange: {words}", _retry_after(exchange), banned=banned)
    if isinstance(error, ccxt.PermissionDenied):
        return PermissionDenied(f"The key lacks a permission or is used from an IP it refuses: {words}")
    if isinstance(error, ccxt.AuthenticationError):
        return AuthFailed(f"The exchange refused the key: {words}")
    if isinstance(error, ccxt.InvalidNonce):
        return ClockSkew(f"Clock out of step with the exchange: {words}")
    if isinstance(error, (ccxt.NetworkError, ccxt.BadResponse)):
        return Transient(f"The exchange did not answer properly: {words}")
    if isinstance(error, ccxt.ExchangeError):
        return ExchangeRejected(words)
    return Transient(f"Unexpected exchange error: {type(error).__name__}")


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
    key = (type(exchange), digest, settings.PAPEREXCHANGE_URL if exchange.name == "paper" else "")
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


def clients_forget():
    """Drop every cached ccxt instance of this process."""
    with _clients_lock:
        _clients.clear()

_markets_cache = {}
_limits_cache = {}
# ccxt's timeDifference (ms our clock is ahead of the exchange's) per exchange endpoint, once measured.
_clock_offsets = {}
_markets_lock = threading.Lock()


class Exchange:
    """One supported exchange. Subclasses set the class attributes."""

    name = ""
    label = ""
    ccxt_id = ""
    credential_fields = (API_KEY, API_SECRET)
    reports_permissions = False
    # Conservative defaults where an exchange publishes no machine-readable limits.
    default_limits = Limits(weight_per_minute=600, orders_per_10s=10, orders_per_day=10_000)
    # Request weight per ccxt method (1 when not listed).
    weights = {}

    def __init__(self, credentials=None):
        self.credentials = credentials
        self._client = None

    # ccxt instance, just in time

    def ccxt_config(self):
        # ccxt's own per-instance throttle is off: the shared budget
        # (portfolios.ratelimit) paces every request of every worker instead.
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

    def configure(self, client):
        """Adjust a fresh ccxt instance (URLs, options). Default: nothing."""
        return client

    @property
    def client(self):
        if self._client is None:
            self._client = _client_for(self)
            offset = _clock_offsets.get(self.cache_key())
            if offset is not None:
                self._client.options["timeDifference"] = offset
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
        self._call("load_time_difference", (), {}, False)
        _clock_offsets[self.cache_key()] = self.client.options["timeDifference"]
        log.warning("%s: clock resynchronised, ours is %s ms ahead", self.label, self.client.options["timeDifference"])

    def _call(self, method, args, kwargs, bookkeeping):
        budget = self.budget()
        try:
            budget.acquire(self.weight_of(method, args, kwargs), order=method == "create_order",
                           bookkeeping=bookkeeping)
        except BudgetExhausted as error:
            raise RateLimited("Our request budget for this exchange is used up", error.retry_after) from None
        try:
            return getattr(self.client, method)(*args, **kwargs)
        except ccxt.BaseError as error:
            translated = translate(error, self.client)
            if isinstance(translated, RateLimited):
                budget.block(translated.retry_after or 60)
            raise translated from None
        finally:
            budget.observe(getattr(self.client, "last_response_headers", None))

    # markets

    def markets(self):
        """Spot markets, loaded once per process (and refreshed hourly)."""
        key = self.cache_key()
        with _markets_lock:
            cached = _markets_cache.get(key)
        if cached and time.monotonic() - cached[0] < MARKETS_TTL_SECONDS:
            if not self.client.markets:
                self.client.set_markets(cached[1])
            return self.client.markets
        markets = self.call("load_markets", True)
        spot = {symbol: market for symbol, market in markets.items() if market.get("spot")}
        limits = self.limits_from_markets_response(self._last_json())
        with _markets_lock:
            _markets_cache[key] = (time.monotonic(), spot)
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

    def limits_from_markets_response(self, response):
        """Limits published with the markets (Binance's exchangeInfo.rateLimits)."""
        return None

    def market(self, symbol):
        markets = self.markets()
        if symbol not in markets:
            raise ExchangeRejected(f"{self.label} has no spot market {symbol}")
        return markets[symbol]

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


class Binance(Exchange):
    name = "binance"
    label = "Binance"
    ccxt_id = "binance"
    credential_fields = (
        API_KEY,
        CredentialField("api_secret", "API secret", "The HMAC secret. Leave empty if you use an Ed25519 key.", required=False),
        CredentialField(
            "private_key",
            "Ed25519 private key",
            "For a self-generated Ed25519 key pair: the private key in PEM format.",
            required=False,
            multiline=True,
        ),
    )
    reports_permissions = True
    default_limits = Limits(weight_per_minute=6000, orders_per_10s=100, orders_per_day=200_000)
    weights = {
        "load_markets": 20,
        "fetch_balance": 20,
        "create_order": 1,
        "fetch_order": 4,
        "cancel_order": 1,
        "fetch_open_orders": lambda args, kwargs: 6 if (args and args[0]) or kwargs.get("symbol") else 80,
        "fetch_my_trades": lambda args, kwargs: 5 if (kwargs.get("params") or {}).get("orderId") else 20,
        "fetch_orders": 20,
        "fetch_ohlcv": 2,
        "fetch_ticker": 2,
        "fetch_tickers": 80,
        "sapi_get_account_apirestrictions": 1,
    }

    def limits_from_markets_response(self, response):
        if not isinstance(response, dict) or "rateLimits" not in response:
            return None
        found = {}
        seconds = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}
        for rule in response["rateLimits"]:
            window = seconds.get(rule.get("interval"), 0) * int(rule.get("intervalNum", 1))
            found[(rule.get("rateLimitType"), window)] = int(rule.get("limit", 0))
        d = self.default_limits
        return Limits(
            weight_per_minute=found.get(("REQUEST_WEIGHT", 60), d.weight_per_minute),
            orders_per_10s=found.get(("ORDERS", 10), d.orders_per_10s),
            orders_per_day=found.get(("ORDERS", 86400), d.orders_per_day),
        )

    def ccxt_config(self):
        config = super().ccxt_config()
        config["options"].update({"fetchMarkets": {"types": ["spot"]}, "defaultType": "spot", "fetchMargins": False})
        return config

    def permissions(self):
        raw = self.call("sapi_get_account_apirestrictions")
        return KeyPermissions(
            can_read=bool(raw.get("enableReading")),
            can_trade=bool(raw.get("enableSpotAndMarginTrading")),
            can_withdraw=bool(raw.get("enableWithdrawals") or raw.get("enableInternalTransfer")),
            ip_restricted=bool(raw.get("ipRestrict")),
            verified=True,
            raw={k: v for k, v in raw.items() if isinstance(v, (bool, int, str))},
        )


class Paper(Binance):
    """The built-in paper exchange: ccxt's Binance with its URLs pointed at it."""

    name = "paper"
    label = "Paper exchange"
    SPOT_PATHS = {"public": "/api/v3", "private": "/api/v3", "v1": "/api/v1", "sapi": "/sapi/v1"}

    def configure(self, client):
        base = settings.PAPEREXCHANGE_URL
        client.urls["api"] = {**client.urls["api"], **{name: base + path for name, path in self.SPOT_PATHS.items()}}
        # ccxt picks Binance's spot error table by the URL's host; use it here too.
        errors = client.exceptions
        spot = errors.get("spot", {})
        client.exceptions = {
            **errors,
            "exact": {**errors.get("exact", {}), **spot.get("exact", {})},
            "broad": {**errors.get("broad", {}), **spot.get("broad", {})},
        }
        return client


class Kraken(Exchange):
    name = "kraken"
    label = "Kraken"
    ccxt_id = "kraken"
    credential_fields = (
        API_KEY,
        CredentialField("api_secret", "Private key", "Kraken's base64 private key, as shown when the key was made."),
    )
    reports_permissions = True

    def permissions(self):
        raw = self.call("private_post_getapikeyinfo")
        result = raw.get("result", raw) if isinstance(raw, dict) else {}
        granted = " ".join(str(p).lower() for p in result.get("permissions", []) or [])
        restrictions = result.get("restrictions") or result.get("ip_allowlist") or []
        return KeyPermissions(
            can_read="query" in granted or "funds" in granted,
            can_trade="order" in granted or "trade" in granted,
            can_withdraw="withdraw" in granted,
            ip_restricted=bool(restrictions),
            verified=bool(granted),
            raw={"permissions": result.get("permissions", [])},
        )


class Bitvavo(Exchange):
    name = "bitvavo"
    label = "Bitvavo"
    ccxt_id = "bitvavo"


class OneTrading(Exchange):
    name = "onetrading"
    label = "One Trading"
    ccxt_id = "onetrading"
    credential_fields = (CredentialField("api_key", "API key", "One Trading keys are a single token."),)


EXCHANGES = {cls.name: cls for cls in (Binance, Kraken, Bitvavo, OneTrading, Paper)}


def exchange_class(name):
    try:
        return EXCHANGES[name]
    except KeyError:
        raise ExchangeRejected(f"Unsupported exchange: {name}") from None


def public_exchange(name):
    """An exchange without credentials, for market data."""
    return exchange_class(name)()
