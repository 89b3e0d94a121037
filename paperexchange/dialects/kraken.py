"""Kraken Spot: the REST API subset the unmodified ccxt ``kraken`` class uses, under ``BASE/kraken``.

ccxt's ``urls['api']`` (``https://api.kraken.com``) becomes ``BASE/kraken``; ccxt appends
``/0/public/<Method>`` (GET, query string) and ``/0/private/<Method>`` (POST, a form body with a
``nonce``). Every answer is ``{"error": [...], "result": ...}`` with HTTP 200, as Kraken sends it,
and ccxt raises from the error strings (its ``exceptions`` table, ``handle_errors``).

Names. Kraken's asset codes: the X/Z names of its oldest assets (``XXBT`` alias ``XBT``, ``XETH``,
``ZEUR``, ``ZUSD``), the plain code for the rest (``SOL``, ``USDT``, ``USDC``). A pair of two such
old assets is named by both codes (``XXBTZEUR``, ``XETHZUSD``, and ``USDTZUSD``), any other by its
altname (``XBTUSDT``, ``SOLEUR``); ``pair`` takes the name, the altname or the wsname
(``XBT/EUR``). ccxt maps XBT to BTC and builds BTC/EUR.

Authentication. ``API-Key`` and ``API-Sign`` = base64(HMAC-SHA512(base64decode(secret), path +
SHA256(nonce + body))), where path is ``/0/private/<Method>`` as the client signs it, without this
server's ``/kraken`` prefix. A nonce must exceed the key's last one (``EAPI:Invalid key``,
``EAPI:Invalid nonce``). A key that does not verify is ``EAPI:Invalid key``, as Kraken answers a
signature that does not match the body (ccxt: AuthenticationError; its table has no entry for
``EAPI:Invalid signature``, which it would raise as a plain ExchangeError). A key of another venue
is unknown here. Permissions (a no-trade key placing an order, a call from an IP the key does not
allow) are ``EGeneral:Permission denied``.

Rate limits, as Kraken counts them. A call counter per key that decays (starter tier: at most 15,
-0.33 a second): most calls add 1, ``TradesHistory``, ``ClosedOrders``, ``QueryTrades``, ``Ledgers``
and ``QueryLedgers`` add 2, ``AddOrder`` and ``CancelOrder`` nothing; a call that would take it over
the maximum is refused with ``EAPI:Rate limit exceeded`` and still counted (capped at twice the
maximum), so a client that keeps calling stays limited longer. Orders have their own counter per account and pair (at most 60,
-1 a second): a new order adds 1 (over the maximum: ``EOrder:Rate limit exceeded``), a cancel adds
8, 6, 5, 4, 2 or 1 for an order younger than 5, 10, 15, 45, 90 or 300 seconds (cancels are never
refused). The limits are ``POST /_paper/limits {"venue": "kraken", ...}``: ``call_counter_max``,
``call_decay_per_100s``, ``order_counter_max``, ``order_decay_per_100s``. Public calls are free.

Ids. Orders ``OAAAAA-AAAAA-AAAAAB``, trades ``TAAAAA-AAAAA-AAAAAB`` (``ids.kraken_id``). ``cl_ord_id``
is a UUID (36 characters, or 32 hex digits) or up to 18 letters, digits, ``-`` and ``_``; it is
unique among the account's open orders (``EOrder:Duplicate order``) and shown on the orders that
carry one. ``userref`` is not kept: an order with one is refused, a filter by one finds nothing.

Orders. ``AddOrder`` takes market and limit orders (``post``, ``viqc``, IOC, ``validate``); what
would change the order's meaning and is not served here (margin, iceberg, scheduled times, a
conditional close, ``fcib``: the fee is always in the quote) is refused as invalid arguments,
never silently dropped. ``deadline`` (RFC 3339, at most 60 s ahead) is kept: an order request
handled after it is refused with ``EOrder:Deadline elapsed`` and never executes.

Times are seconds with four decimals, as Kraken sends them: the engine's millisecond plus half a
millisecond, so that ccxt (which truncates) reads back the exact millisecond. ``start`` is
exclusive and ``end`` inclusive against these times, or against ids when given a txid.

Fee credits (KFEE). Kraken's ``KFEE`` asset (altname ``FEE``, two decimals, in ``Assets`` and in
the balance as ``"KFEE": "1000.00"``; ccxt's code is ``KFEE``) is given at account creation like any
balance. While the account holds KFEE, each fill's fee is paid with it, 1 KFEE per 0.01 USD of fee
(fees.py ``FeeCredits``): the fee in the quote is valued in USD through the venue's markets (a USD
pair as it is, EUR through USDT/EUR then USDT/USD) and the KFEE taken is rounded up to 0.01, KFEE's
precision on Kraken (Kraken's support: 1,000 KFEE pay 10 USD of fees, "the trade does not need to
involve USD"; its balances and ledger show KFEE to two decimals). Credits that do not cover the whole
fee are spent to zero and the rest of the fee, in proportion, is charged in the quote. What Kraken
reports, and what this dialect reports:

- ``TradesHistory``, ``QueryTrades`` and the orders' ``fee`` stay the fee's quote-currency
  equivalent, as on Kraken, where the trade endpoints show the fee "in the quote asset" even when
  KFEE paid it (tax tools such as rotki read the ledger to find out). ccxt's ``parse_trade`` takes
  ``fee`` with the market's quote as currency, so its unified trade shows ``fee: {"cost": <quote
  fee>, "currency": "USD"}`` (or EUR), as it would against Kraken, though no USD left the account.
- ``Ledgers`` and ``QueryLedgers`` show what moved: per trade one entry for the base and one for the
  quote (``fee`` on the quote entry: what the quote paid, "0.0000" when KFEE paid it all), and one
  ``KFEE`` entry with ``amount`` "0.00" and ``fee`` the credits used, as Kraken books them. ccxt's
  ``fetch_ledger("KFEE")`` reads it as an entry of amount 0 with ``fee: {"cost": <KFEE>, "currency":
  "KFEE"}``. Ids are ``LAAAAA-AAAAA-AAAAAB`` style; ``refid`` is the trade's txid; ``balance`` is the
  asset's total after the entry. The ledger holds trades only: the starting balances of a paper
  account are not deposits.
"""

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, Decimal, InvalidOperation

from aiohttp import web

from .. import store
from ..errors import BinanceError
from ..ids import from_kraken_id, kraken_id
from ..market import QV, C, H, L, N, O, Symbol, V, fmt
from ..plumbing import Route, json_response
from .base import Dialect

PAGE = 50  # ClosedOrders and TradesHistory answer 50 a page
OHLC_ROWS = 720
OHLC_INTERVALS = (1, 5, 15, 30, 60, 240, 1440, 10080, 21600)  # minutes, aligned to the unix epoch
NUMBER_RE = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
NONCE_RE = re.compile(r"^[0-9]{1,20}$")
LONG_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
SHORT_UUID_RE = re.compile(r"^[0-9a-fA-F]{32}$")
FREE_TEXT_RE = re.compile(r"^[A-Za-z0-9_-]{1,18}$")  # Kraken: 18 ASCII characters; the engine stores these
TRUE = ("true", "True", "1")
LIMITS = {"call_counter_max": 15, "call_decay_per_100s": 33, "order_counter_max": 60, "order_decay_per_100s": 100}
CANCEL_PENALTIES = ((5000, 8), (10000, 6), (15000, 5), (45000, 4), (90000, 2), (300000, 1))
# AddOrder parameters that would change what the order is (margin, iceberg, scheduling): refused, not ignored
NOT_SERVED = ("leverage", "reduce_only", "displayvol", "starttm", "expiretm")

# code: (Kraken's asset id, altname, decimals, display decimals)
ASSETS = {
    "BTC": ("XXBT", "XBT", 10, 5), "ETH": ("XETH", "ETH", 10, 5), "LTC": ("XLTC", "LTC", 10, 5),
    "XRP": ("XXRP", "XRP", 8, 5), "XLM": ("XXLM", "XLM", 8, 5), "DOGE": ("XXDG", "XDG", 8, 5),
    "EUR": ("ZEUR", "EUR", 4, 2), "USD": ("ZUSD", "USD", 4, 2), "GBP": ("ZGBP", "GBP", 4, 2),
    "SOL": ("SOL", "SOL", 10, 5), "USDT": ("USDT", "USDT", 8, 4), "USDC": ("USDC", "USDC", 8, 4),
    "KFEE": ("KFEE", "FEE", 2, 2),  # fee credits: no market, listed by Assets all the same
}
FEE_CREDITS = "KFEE"
OLD_ASSETS = {spec[0] for spec in ASSETS.values() if spec[0] != spec[1]}
PAIR_IDS = {"USDTUSD": "USDTZUSD"}  # the one old name made of a new asset and an old one
PERMISSIONS_READ = ("query_funds", "query_open_trades", "query_closed_trades", "query_ledger")
PERMISSIONS_TRADE = ("create_modify_orders", "cancel_close_orders")
STATUSES = {"NEW": "open", "FILLED": "closed", "CANCELED": "canceled", "EXPIRED": "canceled"}
REASONS = {"CANCELED": "User requested", "EXPIRED": "Immediate or cancel"}


class KrakenError(BinanceError):
    """An error in Kraken's words (``EOrder:Insufficient funds``), sent with HTTP 200 unless ``status`` says."""

    def __init__(self, message, kind="bad_param", status=200):
        super().__init__(None, message, status=status, kind=kind)


def invalid(name=None):
    return KrakenError("EGeneral:Invalid arguments" + (f":{name}" if name else ""))


def invalid_key():
    return KrakenError("EAPI:Invalid key", kind="auth")


def permission_denied():
    return KrakenError("EGeneral:Permission denied", kind="auth")


def unknown_order():
    return KrakenError("EOrder:Unknown order", kind="unknown_order")


# the engine's errors in Kraken's words, by kind
BY_KIND = {
    "unknown_symbol": "EQuery:Unknown asset pair",
    "insufficient_balance": "EOrder:Insufficient funds",
    "unknown_order": "EOrder:Unknown order",
    "duplicate_client_id": "EOrder:Duplicate order",
    "would_take": "EOrder:Post only order",
    "auth": "EAPI:Invalid key",
    "rate_limit": "EAPI:Rate limit exceeded",
}
BY_FILTER = {
    "PRICE_FILTER": "EOrder:Invalid price",
    "LOT_SIZE": "EGeneral:Invalid arguments:volume",
    "MARKET_LOT_SIZE": "EGeneral:Invalid arguments:volume",
    "NOTIONAL": "EOrder:Cost minimum not met",
}


def error_message(exc):
    if isinstance(exc, KrakenError):
        return exc.msg
    if exc.kind == "filter":
        return BY_FILTER.get(exc.msg.removeprefix("Filter failure: "), "EGeneral:Invalid arguments")
    return BY_KIND.get(exc.kind, "EGeneral:Invalid arguments")


# names -----------------------------------------------------------------------------

def asset(code):
    """(Kraken's asset id, altname, decimals, display decimals) of an engine asset code."""
    return ASSETS.get(code) or (code, code, 8, 5)


def asset_id(code):
    return asset(code)[0]


@dataclass(frozen=True)
class Pair:
    symbol: Symbol  # the engine's
    id: str  # XXBTZEUR
    altname: str  # XBTEUR
    wsname: str  # XBT/EUR
    base: str  # XXBT
    quote: str  # ZEUR

    @classmethod
    def of(cls, sym):
        base, base_alt = asset(sym.base)[:2]
        quote, quote_alt = asset(sym.quote)[:2]
        altname = base_alt + quote_alt
        pair_id = base + quote if base in OLD_ASSETS and quote in OLD_ASSETS else PAIR_IDS.get(sym.symbol, altname)
        return cls(sym, pair_id, altname, f"{base_alt}/{quote_alt}", base, quote)

    @property
    def price_places(self):
        return self.symbol.tick_places

    @property
    def quote_places(self):
        return asset(self.symbol.quote)[2]

    def price(self, value):
        return f"{Decimal(value):.{self.price_places}f}"


def pairs(ctx):
    """The venue's pairs, in configuration order."""
    market = ctx.state.market
    return [Pair.of(market.symbols[name]) for name in ctx.state.engine.venue_symbols(ctx.venue)]


def pair_index(ctx):
    index = {}
    for p in pairs(ctx):
        index.update({p.id: p, p.altname: p, p.wsname: p})
    return index


def find_pairs(ctx, raw, required=True):
    """The pairs a comma-separated ``pair`` parameter names (Kraken's name, altname or wsname)."""
    if not raw:
        if required:
            raise invalid()
        return pairs(ctx)
    index = pair_index(ctx)
    found = [index.get(name.strip()) for name in raw.split(",")]
    if any(p is None for p in found):
        raise KrakenError("EQuery:Unknown asset pair", kind="unknown_symbol")
    return found


def pair_of_row(ctx, symbol, cache):
    if symbol not in cache:
        cache[symbol] = Pair.of(ctx.state.market.symbols[symbol])
    return cache[symbol]


# numbers and times ------------------------------------------------------------------

def amount(value, places):
    """A Decimal with at least ``places`` decimals, and all of its own when it has more: money stays exact."""
    value = Decimal(value)
    own = -value.normalize().as_tuple().exponent
    return f"{value:.{max(places, own, 0)}f}"


def plain(value):
    return format(Decimal(value).normalize(), "f")


def seconds(ms):
    """A Kraken time (seconds, four decimals) for an engine millisecond: the middle of that millisecond."""
    return (ms * 10 + 5) / 10000


def iso(ms):
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def decimal_param(params, name, required=True):
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise invalid(name)
        return None
    if not NUMBER_RE.match(raw):
        raise invalid(name)
    return Decimal(raw)


def int_param(params, name, default=0):
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit():
        raise invalid()
    return int(raw)


def seconds_param(params, name):
    """A unix time in seconds (decimals allowed), or None."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise invalid() from None
    if not value.is_finite():
        raise invalid()
    return value


def bound(params, name, prefix):
    """``start``/``end``: ("id", n) for a txid, ("time", t) for unix seconds (t in tenths of a millisecond)."""
    n = from_kraken_id(params.get(name), prefix)
    if n is not None:
        return "id", n
    value = seconds_param(params, name)
    if value is None:
        return None
    return "time", int((value * 10000).to_integral_value(rounding=ROUND_FLOOR))


def window_clause(start, end, time_column, id_column):
    """SQL for ``start`` (exclusive) and ``end`` (inclusive) against a time (``column * 10 + 5``) or an id."""
    clauses, args = [], []
    for found, op in ((start, ">"), (end, "<=")):
        if found is None:
            continue
        kind, value = found
        clauses.append(f"{id_column} {op} ?" if kind == "id" else f"({time_column} * 10 + 5) {op} ?")
        args.append(value)
    return " AND ".join(clauses) or "1", args


def is_cl_ord_id(text):
    return bool(text) and bool(LONG_UUID_RE.match(text) or SHORT_UUID_RE.match(text) or FREE_TEXT_RE.match(text))


def flag(params, name):
    return params.get(name) in TRUE


# the venue's counters ---------------------------------------------------------------

class Decaying:
    """A counter that falls linearly to zero, as Kraken's call and order counters do."""

    __slots__ = ("at", "value")

    def __init__(self):
        self.value = 0.0
        self.at = 0

    def level(self, now, per_second):
        return max(0.0, self.value - per_second * (now - self.at) / 1000)

    def add(self, amount_, now, per_second, cap):
        self.value = min(self.level(now, per_second) + amount_, cap)
        self.at = now


class Book:
    """Kraken's state kept in memory: each key's last nonce and call counter, each account's order counters."""

    def __init__(self):
        self.nonces = {}
        self.calls = defaultdict(Decaying)
        self.orders = defaultdict(Decaying)  # (account id, engine symbol)


def book(ctx):
    # kept in the venue's RateLimiter (its per-account dict), so a /_paper/reset empties it with the rest
    return ctx.limiter.accounts.setdefault("kraken", Book())


def order_counter(ctx, symbol):
    limits = ctx.limiter.limits
    most = limits["order_counter_max"]
    return book(ctx).orders[(ctx.account_id, symbol)], most, limits["order_decay_per_100s"] / 100


def cancel_penalty(age_ms):
    for younger_than, points in CANCEL_PENALTIES:
        if age_ms < younger_than:
            return points
    return 0


def count_cancel(ctx, row):
    counter, most, decay = order_counter(ctx, row["symbol"])
    counter.add(cancel_penalty(ctx.now - row["time_ms"]), ctx.now, decay, cap=2 * most)


# authentication ---------------------------------------------------------------------

def verify(ctx, route):
    """Key, signature and nonce; sets ``ctx.key`` and ``ctx.account_id``."""
    headers = ctx.request.headers
    api_key, sign = headers.get("API-Key"), headers.get("API-Sign")
    key = store.key_get(ctx.state.conn, api_key, venue=ctx.venue) if api_key else None
    if key is None or key["kind"] != "hmac" or not sign:
        raise invalid_key()
    nonce = ctx.params.get("nonce") or ""
    try:
        secret = base64.b64decode(key["secret"])
        given = base64.b64decode(sign, validate=True)
    except (binascii.Error, ValueError):
        raise invalid_key() from None
    message = route.path.encode() + hashlib.sha256((nonce + ctx.raw_body).encode()).digest()
    if not hmac.compare_digest(hmac.new(secret, message, hashlib.sha512).digest(), given):
        raise invalid_key()
    nonces = book(ctx).nonces
    if not NONCE_RE.match(nonce) or int(nonce) <= nonces.get(api_key, 0):
        raise KrakenError("EAPI:Invalid nonce", kind="auth")
    nonces[api_key] = int(nonce)
    ctx.key = key
    ctx.account_id = key["account_id"]


def permissions(key):
    granted = []
    if key["can_read"]:
        granted += PERMISSIONS_READ
    if key["can_trade"]:
        granted += PERMISSIONS_TRADE
    if key["can_withdraw"]:
        granted.append("withdraw_funds")
    return granted


# public routes ------------------------------------------------------------------------

def h_time(ctx):
    now = datetime.fromtimestamp(ctx.now // 1000, UTC)
    return {"unixtime": ctx.now // 1000, "rfc1123": now.strftime("%a, %d %b %y %H:%M:%S +0000")}


def h_system_status(ctx):
    return {"status": "online", "timestamp": iso(ctx.now)}


def asset_codes(ctx):
    """The engine codes of the venue's assets: those of its pairs, then the fee credits."""
    codes = []
    for p in pairs(ctx):
        codes += [c for c in (p.symbol.base, p.symbol.quote) if c not in codes]
    return codes + [FEE_CREDITS]


def h_assets(ctx):
    codes = asset_codes(ctx)
    infos = {code: asset(code) for code in codes}
    wanted = ctx.params.get("asset")
    if wanted:
        names = {}
        for code, (aid, alt, _, _) in infos.items():
            names.update({aid: code, alt: code, code: code})
        picked = [names.get(name.strip()) for name in wanted.split(",")]
        if any(code is None for code in picked):
            raise KrakenError("EQuery:Unknown asset", kind="unknown_symbol")
        infos = {code: infos[code] for code in picked}
    return {aid: {"aclass": "currency", "altname": alt, "decimals": places, "display_decimals": shown,
                  "status": "enabled"} for aid, alt, places, shown in infos.values()}


def h_asset_pairs(ctx):
    pct = float(ctx.state.engine.fee_rate * 100)
    out = {}
    for p in find_pairs(ctx, ctx.params.get("pair"), required=False):
        sym = p.symbol
        out[p.id] = {
            "altname": p.altname, "wsname": p.wsname, "aclass_base": "currency", "base": p.base,
            "aclass_quote": "currency", "quote": p.quote, "lot": "unit", "cost_decimals": p.quote_places,
            "pair_decimals": sym.tick_places, "lot_decimals": sym.step_places, "lot_multiplier": 1,
            "leverage_buy": [], "leverage_sell": [], "fees": [[0, pct]], "fees_maker": [[0, pct]],
            "fee_volume_currency": "ZUSD", "margin_call": 80, "margin_stop": 40, "ordermin": plain(sym.step),
            "costmin": plain(sym.min_notional), "tick_size": plain(sym.tick), "status": "online",
        }
    return out


def ticker(ctx, p):
    market, now = ctx.state.market, ctx.now
    sym = p.symbol
    now_min = now // 60000
    day = market.aggregate(sym.symbol, now_min - 1439, now_min + 1, now)
    today = market.aggregate(sym.symbol, now_min // 1440 * 1440, now_min + 1, now)
    bid, ask = market.book_top(sym.symbol, now)

    def vwap(cndl):
        return p.price(sym.tick * cndl[QV] / cndl[V] if cndl[V] else sym.tick * cndl[C])

    units = sym.volume_units
    return {
        "a": [p.price(sym.price_of(ask)), str(units // 4 or 1), fmt(sym.qty_of(units // 4 or 1), 3)],
        "b": [p.price(sym.price_of(bid)), str(units // 3 or 1), fmt(sym.qty_of(units // 3 or 1), 3)],
        "c": [p.price(sym.price_of(day[C])), fmt(sym.qty_of(max(1, units // 37)))],
        "v": [fmt(sym.qty_of(today[V])), fmt(sym.qty_of(day[V]))],
        "p": [vwap(today), vwap(day)],
        "t": [today[N], day[N]],
        "l": [p.price(sym.price_of(today[L])), p.price(sym.price_of(day[L]))],
        "h": [p.price(sym.price_of(today[H])), p.price(sym.price_of(day[H]))],
        "o": p.price(sym.price_of(today[O])),
    }


def h_ticker(ctx):
    return {p.id: ticker(ctx, p) for p in find_pairs(ctx, ctx.params.get("pair"), required=False)}


def ohlc_rows(market, p, step, since, now):
    """Up to 720 candles of ``step`` minutes, the current one last; with ``since``, only those opening after it."""
    sym = p.symbol
    current = now // 60000 // step * step
    rows = []
    for bucket in range(current - (OHLC_ROWS - 1) * step, current + 1, step):
        if since is not None and bucket * 60 <= since:
            continue
        cndl = market.aggregate(sym.symbol, bucket, bucket + step, now)
        if cndl is None:
            continue
        vwap = sym.tick * cndl[QV] / cndl[V] if cndl[V] else sym.tick * cndl[C]
        rows.append([bucket * 60, p.price(sym.price_of(cndl[O])), p.price(sym.price_of(cndl[H])),
                     p.price(sym.price_of(cndl[L])), p.price(sym.price_of(cndl[C])), p.price(vwap),
                     fmt(sym.qty_of(cndl[V])), cndl[N]])
    return rows


def h_ohlc(ctx):
    (p,) = find_pairs(ctx, ctx.params.get("pair"))
    step = int_param(ctx.params, "interval", default=1)
    if step not in OHLC_INTERVALS:
        raise invalid()
    since = seconds_param(ctx.params, "since")
    now = ctx.now
    current = now // 60000 // step * step

    def build():
        return {p.id: ohlc_rows(ctx.state.market, p, step, since, now), "last": (current - step) * 60}
    # a long interval needs many days of minutes: compute them off the event loop
    return asyncio.get_running_loop().run_in_executor(None, build)


def h_depth(ctx):
    (p,) = find_pairs(ctx, ctx.params.get("pair"))
    count = int_param(ctx.params, "count", default=100)
    if not 1 <= count <= 500:
        raise invalid()
    book_ = ctx.state.market.depth(p.symbol.symbol, count, ctx.now)
    at = ctx.now // 1000

    def side(levels):
        return [[p.price(price), f"{Decimal(qty):.8f}", at] for price, qty in levels]
    return {p.id: {"asks": side(book_["asks"]), "bids": side(book_["bids"])}}


def h_unknown_method(ctx):
    raise KrakenError("EGeneral:Unknown method")


# private: account ---------------------------------------------------------------------

def h_balance(ctx):
    out = {}
    for row in ctx.state.engine.balances(ctx.account_id, ctx.now):
        out[asset_id(row["asset"])] = amount(Decimal(row["free"]) + Decimal(row["locked"]), asset(row["asset"])[2])
    return out


def h_balance_ex(ctx):
    out = {}
    for row in ctx.state.engine.balances(ctx.account_id, ctx.now):
        places = asset(row["asset"])[2]
        free, locked = Decimal(row["free"]), Decimal(row["locked"])
        out[asset_id(row["asset"])] = {"balance": amount(free + locked, places), "hold_trade": amount(locked, places)}
    return out


def h_api_key_info(ctx):
    key = ctx.key
    return {
        "name": f"paper key {iso(key['created_ms'])}", "permissions": permissions(key),
        "restrictions": key["ips"].split(",") if key["ips"] else [], "nonce_window": 0,
        "created_at": iso(key["created_ms"]),
    }


def h_trade_volume(ctx):
    pct = f"{ctx.state.engine.fee_rate * 100:.4f}"
    fees = {p.id: {"fee": pct, "minfee": pct, "maxfee": pct, "nextfee": None, "nextvolume": None,
                   "tiervolume": "0.0000"} for p in find_pairs(ctx, ctx.params.get("pair"), required=False)}
    return {"currency": "ZUSD", "volume": "0.0000", "fees": fees, "fees_maker": fees}


# private: orders and trades -------------------------------------------------------------

def trades_of(conn, order_ids):
    """{order id: [trade rows]} for the given orders."""
    out = defaultdict(list)
    if order_ids:
        marks = ",".join("?" * len(order_ids))
        for row in conn.execute(f"SELECT id, order_id, commission FROM trades WHERE order_id IN ({marks}) ORDER BY id",
                                list(order_ids)):
            out[row["order_id"]].append(row)
    return out


def order_json(ctx, row, fills, cache, with_trades=False):
    p = pair_of_row(ctx, row["symbol"], cache)
    side = row["side"].lower()
    otype = "market" if row["type"] == "MARKET" else "limit"
    vol, executed, cost = Decimal(row["orig_qty"]), Decimal(row["executed_qty"]), Decimal(row["cum_quote"])
    price = p.price(row["price"]) if otype == "limit" else "0"
    fee = sum((Decimal(t["commission"]) for t in fills), Decimal(0))
    average = (cost / executed).quantize(Decimal("1e-12")).normalize() if executed else 0
    body = {"refid": None, "userref": None}
    if is_cl_ord_id(row["client_order_id"]):
        body["cl_ord_id"] = row["client_order_id"]
    body.update({
        "status": STATUSES[row["status"]], "reason": REASONS.get(row["status"]), "opentm": seconds(row["time_ms"]),
        "starttm": 0, "expiretm": 0,
        "descr": {"pair": p.altname, "type": side, "ordertype": otype, "price": price, "price2": "0",
                  "leverage": "none", "order": f"{side} {fmt(vol)} {p.altname} @ {otype}"
                                               + (f" {price}" if otype == "limit" else ""), "close": ""},
        "vol": fmt(vol), "vol_exec": fmt(executed), "cost": amount(cost, p.quote_places),
        "fee": amount(fee, p.quote_places), "price": p.price(average),
        "stopprice": "0.00000", "limitprice": "0.00000", "misc": "",
        "oflags": "fciq,post" if row["type"] == "LIMIT_MAKER" else "fciq",
    })
    if row["status"] != "NEW":
        body["closetm"] = seconds(row["update_ms"])
    if with_trades:
        body["trades"] = [kraken_id(t["id"], "T") for t in fills]
    return body


def orders_json(ctx, rows, with_trades):
    fills = trades_of(ctx.state.conn, [r["id"] for r in rows])
    cache = {}
    return {kraken_id(r["id"]): order_json(ctx, r, fills[r["id"]], cache, with_trades) for r in rows}


def h_open_orders(ctx):
    p = ctx.params
    rows = ctx.state.engine.open_orders(ctx.account_id, {}, ctx.now)
    if p.get("userref"):
        rows = []
    if p.get("cl_ord_id"):
        rows = [r for r in rows if r["client_order_id"] == p["cl_ord_id"]]
    return {"open": orders_json(ctx, rows[::-1], flag(p, "trades"))}


def h_closed_orders(ctx):
    p, st = ctx.params, ctx.state
    st.engine.match_account(ctx.account_id, ctx.now)
    closetime = p.get("closetime") or "both"
    if closetime not in ("open", "close", "both"):
        raise invalid()
    start, end = bound(p, "start", "O"), bound(p, "end", "O")
    ofs = int_param(p, "ofs")
    if p.get("userref"):
        return {"closed": {}, "count": 0}
    where, args = "account_id = ? AND status != 'NEW'", [ctx.account_id]
    if p.get("cl_ord_id"):
        where, args = where + " AND client_order_id = ?", args + [p["cl_ord_id"]]
    columns = {"open": ["time_ms"], "close": ["update_ms"], "both": ["time_ms", "update_ms"]}[closetime]
    windows = [window_clause(start, end, column, "id") for column in columns]
    where += " AND (" + " OR ".join(f"({clause})" for clause, _ in windows) + ")"
    args += [a for _, window_args in windows for a in window_args]
    count = st.conn.execute(f"SELECT COUNT(*) FROM orders WHERE {where}", args).fetchone()[0]
    rows = st.conn.execute(f"SELECT * FROM orders WHERE {where} ORDER BY update_ms DESC, id DESC LIMIT ? OFFSET ?",
                           args + [PAGE, ofs]).fetchall()
    return {"closed": orders_json(ctx, rows, flag(p, "trades")), "count": count}


def txids(raw, prefix, error):
    """The engine ids behind a comma-separated list of txids (at most 50); ``error`` for one that is not a txid."""
    if not raw:
        raise invalid()
    names = [t.strip() for t in raw.split(",")]
    if len(names) > 50:
        raise invalid()
    found = [(name, from_kraken_id(name, prefix)) for name in names]
    if any(n is None for _, n in found):
        raise error
    return found


def h_query_orders(ctx):
    p, st = ctx.params, ctx.state
    wanted = txids(p.get("txid"), "O", KrakenError("EOrder:Invalid order", kind="unknown_order"))
    st.engine.match_account(ctx.account_id, ctx.now)
    if p.get("userref"):
        return {}
    ids = [n for _, n in wanted]
    marks = ",".join("?" * len(ids))
    rows = {r["id"]: r for r in st.conn.execute(f"SELECT * FROM orders WHERE account_id = ? AND id IN ({marks})",
                                                [ctx.account_id, *ids])}
    found = [rows[n] for n in dict.fromkeys(ids) if n in rows]
    return orders_json(ctx, found, flag(p, "trades"))


def trade_json(row, p):
    return {
        "ordertxid": kraken_id(row["order_id"]), "pair": p.id, "time": seconds(row["time_ms"]),
        "type": "buy" if row["is_buyer"] else "sell",
        "ordertype": "market" if row["order_type"] == "MARKET" else "limit",
        "price": p.price(row["price"]), "cost": amount(row["quote_qty"], p.quote_places),
        "fee": amount(row["commission"], p.quote_places), "vol": fmt(Decimal(row["qty"])), "margin": "0.00000",
        "leverage": "0", "misc": "", "trade_id": row["id"], "maker": bool(row["is_maker"]),
    }


TRADE_SELECT = "SELECT t.*, o.type AS order_type FROM trades t JOIN orders o ON o.id = t.order_id"


def h_trades_history(ctx):
    """Every trade of the account, every pair, newest first, 50 a page from ``ofs``; ``count`` is the total."""
    p, st = ctx.params, ctx.state
    st.engine.match_account(ctx.account_id, ctx.now)
    clause, args = window_clause(bound(p, "start", "T"), bound(p, "end", "T"), "t.time_ms", "t.id")
    ofs = int_param(p, "ofs")
    where = f"t.account_id = ? AND {clause}"
    args = [ctx.account_id, *args]
    count = st.conn.execute(f"SELECT COUNT(*) FROM trades t WHERE {where}", args).fetchone()[0]
    rows = st.conn.execute(f"{TRADE_SELECT} WHERE {where} ORDER BY t.time_ms DESC, t.id DESC LIMIT ? OFFSET ?",
                           args + [PAGE, ofs]).fetchall()
    cache = {}
    return {"trades": {kraken_id(r["id"], "T"): trade_json(r, pair_of_row(ctx, r["symbol"], cache)) for r in rows},
            "count": count}


def h_query_trades(ctx):
    p, st = ctx.params, ctx.state
    wanted = txids(p.get("txid"), "T", invalid())
    st.engine.match_account(ctx.account_id, ctx.now)
    ids = [n for _, n in wanted]
    marks = ",".join("?" * len(ids))
    rows = {r["id"]: r for r in st.conn.execute(f"{TRADE_SELECT} WHERE t.account_id = ? AND t.id IN ({marks})",
                                                [ctx.account_id, *ids])}
    cache = {}
    return {kraken_id(n, "T"): trade_json(rows[n], pair_of_row(ctx, rows[n]["symbol"], cache))
            for n in dict.fromkeys(ids) if n in rows}


LEDGER_LEGS = 4  # entry numbers per trade: base, quote, and a fee paid in a third asset or with credits


def ledger_legs(row, sym):
    """A trade's ledger entries: (leg, engine asset, amount, fee), as Kraken books a trade."""
    qty, cost = Decimal(row["qty"]), Decimal(row["quote_qty"])
    charged = Decimal(row["commission"]) - Decimal(row["credit_covers"])
    sign = 1 if row["is_buyer"] else -1
    legs = [[0, sym.base, sign * qty, Decimal(0)], [1, sym.quote, -sign * cost, Decimal(0)]]
    for leg in legs:
        if leg[1] == row["commission_asset"]:
            leg[3] = charged
            break
    else:
        legs.append([2, row["commission_asset"], Decimal(0), charged])
    if row["credit_asset"]:
        legs.append([3, row["credit_asset"], Decimal(0), Decimal(row["credit"])])
    return legs


def ledger(ctx):
    """Every ledger entry of the account, oldest first: (number, trade row, asset, amount, fee, balance after).

    Only trades change a balance here, so each asset's balance before the first trade is its total now
    less every entry's amount net of its fee."""
    st = ctx.state
    st.engine.match_account(ctx.account_id, ctx.now)
    rows = st.conn.execute("SELECT * FROM trades WHERE account_id = ? ORDER BY id", (ctx.account_id,)).fetchall()
    entries = [(row["id"] * LEDGER_LEGS + leg, row, code, amount_, fee)
               for row in rows for leg, code, amount_, fee in ledger_legs(row, st.market.symbols[row["symbol"]])]
    running = defaultdict(Decimal)
    for code, (free, locked) in store.balances_of(st.conn, ctx.account_id).items():
        running[code] = free + locked
    for _, _, code, amount_, fee in entries:
        running[code] -= amount_ - fee
    out = []
    for number, row, code, amount_, fee in entries:
        running[code] += amount_ - fee
        out.append((number, row, code, amount_, fee, running[code]))
    return out


def ledger_json(entry):
    number, row, code, amount_, fee, balance = entry
    places = asset(code)[2]
    return kraken_id(number, "L"), {
        "refid": kraken_id(row["id"], "T"), "time": seconds(row["time_ms"]), "type": "trade", "subtype": "",
        "aclass": "currency", "asset": asset_id(code), "amount": amount(amount_, places), "fee": amount(fee, places),
        "balance": amount(balance, places),
    }


def in_window(entry, start, end):
    number, row = entry[0], entry[1]
    for found, after in ((start, True), (end, False)):
        if found is None:
            continue
        kind, value = found
        mine = number if kind == "id" else row["time_ms"] * 10 + 5
        if (mine <= value) if after else (mine > value):
            return False
    return True


def h_ledgers(ctx):
    """The account's ledger, newest first, 50 a page from ``ofs``: ``asset`` (ids or altnames, or "all"),
    ``type`` ("all" or "trade": only trades are booked here), ``start`` (exclusive) and ``end``
    (inclusive) in unix seconds or as ledger ids, ``count`` unless ``without_count``."""
    p = ctx.params
    wanted = None
    if p.get("asset") and p["asset"] != "all":
        names = {}
        for code in asset_codes(ctx):
            aid, alt = asset(code)[:2]
            names.update({aid: code, alt: code})
        wanted = {names.get(name.strip()) for name in p["asset"].split(",")}
        if None in wanted:
            raise KrakenError("EQuery:Unknown asset", kind="unknown_symbol")
    kind = p.get("type") or "all"
    start, end = bound(p, "start", "L"), bound(p, "end", "L")
    ofs = int_param(p, "ofs")
    entries = [e for e in ledger(ctx) if kind in ("all", "trade") and (wanted is None or e[2] in wanted)
               and in_window(e, start, end)]
    page = entries[::-1][ofs:ofs + PAGE]
    body = {"ledger": dict(ledger_json(e) for e in page)}
    if not flag(p, "without_count"):
        body["count"] = len(entries)
    return body


def h_query_ledgers(ctx):
    """Ledger entries by id (at most 20)."""
    raw = ctx.params.get("id")
    names = [n.strip() for n in (raw or "").split(",") if n.strip()]
    if not names or len(names) > 20:
        raise invalid("id")
    numbers = [from_kraken_id(name, "L") for name in names]
    if None in numbers:
        raise invalid("id")
    found = {e[0]: e for e in ledger(ctx)}
    return dict(ledger_json(found[n]) for n in dict.fromkeys(numbers) if n in found)


class DryRun(KrakenError):
    """Raised by the engine once every check passed: a ``validate`` order stops there, nothing is written."""


def engine_order(ctx, p):
    """AddOrder's parameters in the engine's words, and the order description Kraken answers with."""
    params = ctx.params
    side = params.get("type")
    if side not in ("buy", "sell"):
        raise invalid("type")
    otype = params.get("ordertype")
    if otype not in ("market", "limit"):
        raise invalid("ordertype")
    flags = {f for f in (params.get("oflags") or "").split(",") if f}
    if flags - {"post", "fciq", "nompp", "viqc"}:
        raise invalid("oflags")  # fcib too: the fee is always in the quote here
    if params.get("userref"):
        raise invalid("userref")  # this server keeps cl_ord_id, not userref
    for name in NOT_SERVED:
        if params.get(name) not in (None, "", "0", "none", "false"):
            raise invalid(name)
    if any(name.startswith("close[") for name in params):
        raise invalid("close")
    tif = (params.get("timeinforce") or "GTC").upper()
    if tif not in ("GTC", "IOC"):
        raise invalid("timeinforce")
    volume = decimal_param(params, "volume")
    if volume <= 0:
        raise invalid("volume")
    sym = p.symbol
    order = {"symbol": sym.symbol, "side": side.upper()}
    cl_ord_id = params.get("cl_ord_id")
    if cl_ord_id is not None:
        if not is_cl_ord_id(cl_ord_id):
            raise invalid("cl_ord_id")
        order["newClientOrderId"] = cl_ord_id
    if "viqc" in flags:
        if otype != "market":
            raise invalid("oflags")
        order.update(type="MARKET", quoteOrderQty=str(volume))
        return order, f"{side} {fmt(volume)} {p.altname} @ market"
    if volume < sym.step:
        raise KrakenError("EOrder:Order minimum not met", kind="filter")
    if volume % sym.step:
        raise invalid("volume")
    order["quantity"] = str(volume)
    if otype == "market":
        if "post" in flags:
            raise invalid("oflags")
        order["type"] = "MARKET"
        return order, f"{side} {fmt(volume)} {p.altname} @ market"
    price = decimal_param(params, "price")
    if price <= 0:
        raise invalid("price")
    if price % sym.tick:
        raise KrakenError("EOrder:Tick size check failed", kind="filter")
    order["price"] = str(price)
    if "post" in flags:
        if tif != "GTC":
            raise invalid("timeinforce")
        order["type"] = "LIMIT_MAKER"
    else:
        order.update(type="LIMIT", timeInForce=tif)
    return order, f"{side} {fmt(volume)} {p.altname} @ limit {p.price(price)}"


def deadline_check(ctx):
    """``deadline`` (RFC 3339): the matching engine refuses the order once it is past; at most 60 s ahead."""
    raw = ctx.params.get("deadline")
    if not raw:
        return
    try:
        deadline_ms = int(datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        raise invalid("deadline") from None
    if deadline_ms > ctx.now + 60_000:
        raise invalid("deadline")
    if ctx.now > deadline_ms:
        raise KrakenError("EOrder:Deadline elapsed")


def h_add_order(ctx):
    st = ctx.state
    deadline_check(ctx)
    (p,) = find_pairs(ctx, ctx.params.get("pair"))
    allowed = ctx.key["symbols"]
    if allowed and p.symbol.symbol not in allowed.split(","):
        raise permission_denied()
    order, descr = engine_order(ctx, p)
    if flag(ctx.params, "validate"):
        try:
            st.engine.place_order(ctx.account_id, order, ctx.now, reject=DryRun("validate"))
        except DryRun:
            return {"descr": {"order": descr}}
        raise AssertionError("a validate order must never be placed")  # pragma: no cover
    row, _, _ = st.engine.place_order(ctx.account_id, order, ctx.now, reject=ctx.take_reject)
    st.counters.orders += 1
    st.counters.orders_by_client_id[row["client_order_id"]] += 1
    return {"descr": {"order": descr}, "txid": [kraken_id(row["id"])]}


def open_order(ctx, params):
    """The open order a CancelOrder names by ``txid`` or ``cl_ord_id``, else ``EOrder:Unknown order``."""
    engine = ctx.state.engine
    engine.match_account(ctx.account_id, ctx.now)
    if params.get("cl_ord_id"):
        query = {"origClientOrderId": params["cl_ord_id"]}
    elif params.get("txid"):
        n = from_kraken_id(params["txid"])
        if n is None:
            raise unknown_order()
        query = {"orderId": str(n)}
    else:
        raise invalid()
    row = engine.find_order(ctx.account_id, None, query, unknown_order())
    if row["status"] != "NEW":
        raise unknown_order()
    return row


def cancel(ctx, row):
    count_cancel(ctx, row)
    ctx.state.engine.cancel_order(ctx.account_id, {"symbol": row["symbol"], "orderId": str(row["id"])}, ctx.now)


def h_cancel_order(ctx):
    cancel(ctx, open_order(ctx, ctx.params))
    return {"count": 1, "pending": False}


def h_cancel_all(ctx):
    rows = ctx.state.engine.open_orders(ctx.account_id, {}, ctx.now)
    for row in rows:
        cancel(ctx, row)
    return {"count": len(rows)}


PUBLIC = "/0/public/"
PRIVATE = "/0/private/"

ROUTES = [
    Route("GET", PUBLIC + "Time", h_time, 0),
    Route("GET", PUBLIC + "SystemStatus", h_system_status, 0),
    Route("GET", PUBLIC + "Assets", h_assets, 0),
    Route("GET", PUBLIC + "AssetPairs", h_asset_pairs, 0),
    Route("GET", PUBLIC + "Ticker", h_ticker, 0),
    Route("GET", PUBLIC + "OHLC", h_ohlc, 0),
    Route("GET", PUBLIC + "Depth", h_depth, 0),
    # the weight is the call counter's increment: 2 for trade and ledger history, 0 for orders (their own counter)
    Route("POST", PRIVATE + "Balance", h_balance, 1, signed="read"),
    Route("POST", PRIVATE + "BalanceEx", h_balance_ex, 1, signed="read"),
    Route("POST", PRIVATE + "GetApiKeyInfo", h_api_key_info, 1, signed="key"),  # any valid key may ask
    Route("POST", PRIVATE + "TradeVolume", h_trade_volume, 1, signed="read"),
    Route("POST", PRIVATE + "OpenOrders", h_open_orders, 1, signed="read"),
    Route("POST", PRIVATE + "ClosedOrders", h_closed_orders, 2, signed="read"),
    Route("POST", PRIVATE + "QueryOrders", h_query_orders, 1, signed="read"),
    Route("POST", PRIVATE + "TradesHistory", h_trades_history, 2, signed="read"),
    Route("POST", PRIVATE + "QueryTrades", h_query_trades, 2, signed="read"),
    Route("POST", PRIVATE + "Ledgers", h_ledgers, 2, signed="read"),
    Route("POST", PRIVATE + "QueryLedgers", h_query_ledgers, 2, signed="read"),
    Route("POST", PRIVATE + "AddOrder", h_add_order, 0, signed="trade", is_order=True),
    Route("POST", PRIVATE + "CancelOrder", h_cancel_order, 0, signed="trade"),
    Route("POST", PRIVATE + "CancelAll", h_cancel_all, 1, signed="trade"),
    # any other method, as Kraken answers it
    Route("GET", PUBLIC + "{method}", h_unknown_method, 0),
    Route("POST", PUBLIC + "{method}", h_unknown_method, 0),
    Route("POST", PRIVATE + "{method}", h_unknown_method, 0),
]

SERVER_ERRORS = {
    500: (b'{"error":["EGeneral:Internal error"]}', "application/json"),
    502: ((b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr>"
           b"<center>cloudflare</center></body></html>"), "text/html"),
    503: (b'{"error":["EService:Unavailable"]}', "application/json"),
    504: ((b"<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway Time-out</h1>"
           b"</center><hr><center>cloudflare</center></body></html>"), "text/html"),
}


class KrakenDialect(Dialect):
    venue = "kraken"
    prefix = "/kraken"
    routes = ROUTES

    def rate_limits(self, configured):
        return dict(LIMITS)

    def read_params(self, raw_query, raw_body):
        if not raw_body.lstrip().startswith("{"):
            return super().read_params(raw_query, raw_body)
        # a few Kraken methods take a JSON body
        params = super().read_params(raw_query, "")
        try:
            data = json.loads(raw_body)
        except ValueError:
            raise invalid() from None
        if not isinstance(data, dict):
            raise invalid()
        params.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()})
        return params

    def charge(self, ctx, route, weight):
        """A private call authenticates first (the counter is per key), then counts ``weight`` on the call counter."""
        if not route.signed:
            return {}, None
        verify(ctx, route)
        if not weight:
            return {}, None
        limits = ctx.limiter.limits
        most, decay = limits["call_counter_max"], limits["call_decay_per_100s"] / 100
        counter = book(ctx).calls[ctx.key["api_key"]]
        over = counter.level(ctx.now, decay) + weight > most
        counter.add(weight, ctx.now, decay, cap=2 * most)
        return {}, KrakenError("EAPI:Rate limit exceeded", kind="rate_limit") if over else None

    def authenticate(self, ctx, route):
        key = ctx.key
        if key["ips"] and ctx.ip not in key["ips"].split(","):
            raise permission_denied()
        if (route.signed == "read" and not key["can_read"]) or (route.signed == "trade" and not key["can_trade"]):
            raise permission_denied()

    def charge_order(self, ctx):
        if flag(ctx.params, "validate"):
            return {}, None
        p = pair_index(ctx).get(ctx.params.get("pair") or "")
        if p is None:
            return {}, None  # the handler answers the unknown pair
        counter, most, decay = order_counter(ctx, p.symbol.symbol)
        if counter.level(ctx.now, decay) + 1 > most:
            return {}, KrakenError("EOrder:Rate limit exceeded", kind="rate_limit")
        counter.add(1, ctx.now, decay, cap=2 * most)
        return {}, None

    def respond(self, body, headers):
        return json_response({"error": [], "result": body}, headers=headers)

    def error_response(self, exc, headers=None):
        status = exc.status if isinstance(exc, KrakenError) else 200
        return json_response({"error": [error_message(exc)], "result": {}}, status=status, headers=headers)

    def forced_error(self, status, now):
        if status == 429:
            return KrakenError("EGeneral:Too many requests", kind="rate_limit", status=429)
        return KrakenError("EGeneral:Temporary lockout", kind="rate_limit")

    def server_error(self, status):
        body, ctype = SERVER_ERRORS[status]
        return web.Response(body=body, status=status, content_type=ctype)

    def reject_error(self, knob):
        msg = knob["msg"]
        return KrakenError(msg if re.match(r"^[EW][A-Za-z]+:", msg) else "EOrder:" + msg, kind="rejected")


DIALECT = KrakenDialect()
