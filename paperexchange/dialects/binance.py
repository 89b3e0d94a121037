"""Binance Spot: the REST API subset the unmodified ccxt ``binance`` class uses, at the server's root.

``BinanceDialect`` is parameterised by venue, prefix, routes and limits, so
Binance.US (``binanceus.py``) is the same dialect with its own route table.
Errors are Binance's ``{"code", "msg"}`` bodies: engine errors are sent as they
are (the engine speaks Binance's codes natively). Weight is counted per IP in
``X-MBX-USED-WEIGHT-1M`` (sapi routes separately in ``X-SAPI-USED-IP-WEIGHT-1M``
on Binance), orders per account in ``X-MBX-ORDER-COUNT-10S`` / ``-1D``, where
only an order Binance accepts counts (an order refused by a filter, for its
balance or by the matching engine does not).

As on Binance (developers.binance.com spot REST API, "General API Information",
"Timing security", "Error codes"), on the ``/api/v3`` routes:

- a parameter the endpoint does not read is refused (-1104), so is a name sent
  twice in the query string or twice in the body (-1101); a name in both the
  query string and the body is read from the query string;
- ``timestamp``, ``startTime`` and ``endTime`` may be in milliseconds or
  microseconds; ``recvWindow`` takes up to three decimals (microseconds);
- header ``X-MBX-TIME-UNIT: MICROSECOND`` answers every time field in
  microseconds (-1194 for a unit that is neither);
- ``/order/test`` checks parameters and filters only, never the balance, and
  with ``computeCommissionRates=true`` answers the order's commission rates
  (``discount.enabledForAccount``: the account pays fees in BNB;
  ``enabledForSymbol``: a BNB market prices the symbol's quote).

Fees in BNB (fees.py ``BnbBurn``): an account that pays fees in BNB (set by the
control API, the CLI, or ``POST /sapi/v1/bnbBurn`` as on Binance) and holds
enough free BNB is charged each fill's commission in BNB, 25 % off, priced at
the BNB market of the trade's quote; ``myTrades`` and the FULL order answer's
``fills`` show it as Binance does (``"commission": "0.00011250",
"commissionAsset": "BNB"``), so ccxt's unified trade has ``fee: {"cost":
0.0001125, "currency": "BNB"}``. ``GET /sapi/v1/bnbBurn`` answers
``{"spotBNBBurn": bool, "interestBNBBurn": false}``; ``POST`` takes
``spotBNBBurn`` and ``interestBNBBurn`` ("true"/"false", at least one) and
answers the same; there is no margin, so ``interestBNBBurn=true`` is refused
(-1106). ``/api/v3/account`` carries no BNB flag, as on Binance: only
``commissionRates``. Binance.US serves none of the sapi BNB routes; its
accounts get the setting from the control API or the CLI.

An unknown path at the root answers 404 with an empty body, as Binance's
front end does.
"""

import asyncio
import base64
import hashlib
import hmac
import json
from decimal import Decimal
from urllib.parse import parse_qsl, unquote

from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from .. import store
from ..engine import NUMBER_RE, cancel_json, order_json, parse_int, trade_json
from ..errors import BinanceError, bad_key_permissions, bad_param, illegal_param, unknown_order
from ..fees import PAYERS
from ..market import INTERVALS, fmt
from ..plumbing import Route, dumps, json_response
from .base import Dialect


BNB_BURN = PAYERS["binance"]


# authentication -----------------------------------------------------------------

def _strip_signature(raw):
    if "signature=" not in raw:
        return raw, None
    keep, sig = [], None
    for part in raw.split("&"):
        if part.startswith("signature="):
            sig = unquote(part[10:])
        else:
            keep.append(part)
    return "&".join(keep), sig


def authenticate(ctx, need):
    """Binance's signed-endpoint checks. ``need`` is 'read' or 'trade'. A key of another venue is unknown here."""
    state = ctx.state
    api_key = ctx.request.headers.get("X-MBX-APIKEY")
    if not api_key or len(api_key) > 128 or not api_key.isalnum():
        raise BinanceError(-2014, "API-key format invalid.", status=401, kind="auth")
    key = store.key_get(state.conn, api_key, venue=ctx.venue)
    if key is None:
        raise bad_key_permissions()
    if key["ips"] and ctx.ip not in key["ips"].split(","):
        raise bad_key_permissions()
    params = ctx.params
    if not params.get("timestamp"):
        raise bad_param("timestamp")
    ts = _timestamp_us(params["timestamp"])
    recv = _recv_window_us(params.get("recvWindow"))
    now = ctx.now * 1000
    if ts >= now + 1_000_000:
        raise BinanceError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.", kind="auth")
    if now - ts > recv:
        raise BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.", kind="auth")
    query, sig_q = _strip_signature(ctx.raw_query)
    body, sig_b = _strip_signature(ctx.raw_body)
    sig = sig_q or sig_b
    if not sig:
        raise bad_param("signature")
    payload = (query + body).encode()
    if key["kind"] == "hmac":
        expected = hmac.new(key["secret"].encode(), payload, hashlib.sha256).hexdigest()
        ok = hmac.compare_digest(expected, sig.lower())
    else:
        ok = _verify_ed25519(state, key, payload, sig)
    if not ok:
        raise BinanceError(-1022, "Signature for this request is not valid.", kind="auth")
    if need == "trade" and not key["can_trade"]:
        raise bad_key_permissions()
    if not key["can_read"]:
        raise bad_key_permissions()
    ctx.key = key
    ctx.account_id = key["account_id"]


# A timestamp from here up is in microseconds (16 digits today; in milliseconds it would be the year 5138).
MICROSECONDS_FROM = 10 ** 14


def _timestamp_us(raw):
    """``timestamp`` in microseconds: Binance takes it in milliseconds or microseconds."""
    if not raw.isdigit() or len(raw) > 20:
        raise BinanceError(-1100, "Illegal characters found in parameter 'timestamp'; legal range is '^[0-9]{1,20}$'.")
    ts = int(raw)
    return ts if ts >= MICROSECONDS_FROM else ts * 1000


def _recv_window_us(raw):
    """``recvWindow`` (milliseconds, up to three decimals, at most 60000; default 5000) in microseconds."""
    if raw is None or raw == "":
        return 5_000_000
    if not NUMBER_RE.match(raw):
        raise illegal_param("recvWindow")
    if "." in raw and len(raw.partition(".")[2]) > 3:
        raise BinanceError(-1111, "Parameter 'recvWindow' has too much precision.")
    window = Decimal(raw)
    if window > 60000 or window <= 0:
        # the answer clients have quoted from api.binance.com since the 2019 limit
        raise BinanceError(-1131, "'recvWindow' must be less than 60000.")
    return window * 1000


def _verify_ed25519(state, key, payload, sig):
    public = state.ed25519_keys.get(key["api_key"])
    if public is None:
        public = state.ed25519_keys[key["api_key"]] = Ed25519PublicKey.from_public_bytes(bytes.fromhex(key["secret"]))
    try:
        public.verify(base64.b64decode(sig, validate=True), payload)
        return True
    except (InvalidSignature, ValueError):
        return False


_ERROR_BODIES = {
    500: (b'{"code":-1001,"msg":"Internal error; unable to process your request. Please try again."}', "application/json"),
    502: (b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"),
    503: (b'{"code":-1008,"msg":"Server is currently overloaded with other requests. Please try again in a few minutes."}',
          "application/json"),
    504: (b"<html><body><h1>504 Gateway Time-out</h1></body></html>", "text/html"),
}


# public routes ------------------------------------------------------------------

def h_ping(ctx):
    return {}


def h_time(ctx):
    return {"serverTime": ctx.now}


def _symbols_param(ctx):
    st = ctx.state
    if ctx.params.get("symbol"):
        sym = st.engine.symbol(ctx.params, venue=ctx.venue)
        return [sym.symbol]
    if ctx.params.get("symbols"):
        raw = ctx.params["symbols"].strip()
        try:
            names = json.loads(raw)
        except ValueError:
            raise BinanceError(-1100, "Illegal characters found in parameter 'symbols'; legal range is '^\\[(\"[A-Z0-9-_.]{1,20}\"(,\"[A-Z0-9-_.]{1,20}\"){0,}){0,1}\\]$'.") from None
        if not isinstance(names, list) or any(not st.engine.lists(ctx.venue, n) for n in names):
            raise BinanceError(-1121, "Invalid symbol.", kind="unknown_symbol")
        return names
    return None


def h_exchange_info(ctx):
    st = ctx.state
    names = _symbols_param(ctx) or st.engine.venue_symbols(ctx.venue)
    return {
        "timezone": "UTC", "serverTime": ctx.now, "rateLimits": ctx.limiter.rate_limits_json(), "exchangeFilters": [],
        "symbols": [st.market.symbols[n].exchange_info() for n in names],
    }


def h_klines(ctx):
    st, p = ctx.state, ctx.params
    sym = st.engine.symbol(p, venue=ctx.venue)
    interval = p.get("interval")
    if not interval:
        raise bad_param("interval")
    if interval not in INTERVALS:
        raise BinanceError(-1120, "Invalid interval.")
    limit = parse_int(p, "limit", default=500)
    if not 1 <= limit <= 1000:
        raise BinanceError(-1100, "Illegal characters found in parameter 'limit'; legal range is '1..1000'.")
    start, end = parse_int(p, "startTime"), parse_int(p, "endTime")
    if start is not None and end is not None and end < start:
        raise BinanceError(-1023, "Start time is greater than end time.")
    # a long range may need days of minutes computed: do it off the event loop
    return asyncio.get_running_loop().run_in_executor(
        None, st.market.klines, sym.symbol, interval, start, end, limit, ctx.now)


def ticker_weight(per_symbol, everything):
    def weight(params):
        if params.get("symbol"):
            return per_symbol
        if params.get("symbols"):
            n = params["symbols"].count(",") + 1
            return per_symbol if n <= 20 else (40 if n <= 100 else everything)
        return everything
    return weight


def _tickers(ctx, one):
    names = _symbols_param(ctx)
    if ctx.params.get("symbol"):
        return one(names[0])
    return [one(n) for n in (names or ctx.state.engine.venue_symbols(ctx.venue))]


def h_ticker_24hr(ctx):
    return _tickers(ctx, lambda n: ctx.state.market.ticker_24h(n, ctx.now))


def h_ticker_price(ctx):
    m = ctx.state.market
    return _tickers(ctx, lambda n: {"symbol": n, "price": fmt(m.price(n, ctx.now))})


def h_book_ticker(ctx):
    m = ctx.state.market

    def one(n):
        sym = m.symbols[n]
        bid, ask = m.book_top(n, ctx.now)
        units = sym.volume_units
        return {"symbol": n, "bidPrice": fmt(sym.price_of(bid)), "bidQty": fmt(sym.qty_of(units // 3 or 1)),
                "askPrice": fmt(sym.price_of(ask)), "askQty": fmt(sym.qty_of(units // 4 or 1))}
    return _tickers(ctx, one)


def h_avg_price(ctx):
    st = ctx.state
    sym = st.engine.symbol(ctx.params, venue=ctx.venue)
    now_min = ctx.now // 60000
    cndl = st.market.aggregate(sym.symbol, now_min - 5, now_min, ctx.now)
    avg = (sym.tick * sym.step * cndl[5]) / (sym.step * cndl[4])
    return {"mins": 5, "price": fmt(avg), "closeTime": now_min * 60000 - 1}


def _depth_weight(params):
    limit = int(params.get("limit") or 100) if (params.get("limit") or "100").isdigit() else 100
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


def h_depth(ctx):
    st = ctx.state
    sym = st.engine.symbol(ctx.params, venue=ctx.venue)
    raw = ctx.params.get("limit") or "100"
    if not raw.isdigit() or not 1 <= int(raw) <= 5000:
        raise BinanceError(-1100, "Illegal characters found in parameter 'limit'; legal range is '1..5000'.")
    return st.market.depth(sym.symbol, int(raw), ctx.now)


def h_system_status(ctx):
    return {"status": 0, "msg": "normal"}


def h_empty_list(ctx):
    return []


# signed ----------------------------------------------------------------------

def h_account(ctx):
    st = ctx.state
    rows = st.engine.balances(ctx.account_id, ctx.now)
    omit_zero = ctx.params.get("omitZeroBalances") == "true"
    balances = [{"asset": r["asset"], "free": fmt(Decimal(r["free"])), "locked": fmt(Decimal(r["locked"]))}
                for r in rows if not (omit_zero and Decimal(r["free"]) == 0 and Decimal(r["locked"]) == 0)]
    rate = fmt(st.engine.fee_rate)
    bps = int(st.engine.fee_rate * 10000)
    key = ctx.key
    return {
        "makerCommission": bps, "takerCommission": bps, "buyerCommission": 0, "sellerCommission": 0,
        "commissionRates": {"maker": rate, "taker": rate, "buyer": fmt(0), "seller": fmt(0)},
        "canTrade": bool(key["can_trade"]), "canWithdraw": bool(key["can_withdraw"]), "canDeposit": True,
        "brokered": False, "requireSelfTradePrevention": False, "preventSor": False, "updateTime": ctx.now,
        "accountType": "SPOT", "balances": balances, "permissions": ["SPOT"], "uid": ctx.account_id,
    }


def _check_symbol_allowed(ctx):
    allowed = ctx.key["symbols"]
    if allowed and ctx.params.get("symbol") not in allowed.split(","):
        raise BinanceError(-2010, "This symbol is not permitted for this account.", kind="rejected")


def h_order_new(ctx):
    st = ctx.state
    _check_symbol_allowed(ctx)
    row, fills, resp_type = st.engine.place_order(ctx.account_id, ctx.params, ctx.now, reject=ctx.take_reject)
    # only an accepted order counts towards the order limits (checked before placing, in charge_order)
    c10, cday = ctx.limiter.count_order(ctx.account_id, ctx.now)
    st.counters.orders += 1
    st.counters.orders_by_client_id[row["client_order_id"]] += 1
    return Answer(order_json(row, resp_type=resp_type, fills=fills), _order_count_headers(c10, cday))


def h_order_test(ctx):
    """Parameters and filters only, as Binance's /order/test: no balance or open-order check, nothing written."""
    _check_symbol_allowed(ctx)
    compute = (ctx.params.get("computeCommissionRates") or "false").lower()
    if compute not in ("true", "false"):
        raise BinanceError(-1130, "Data sent for parameter 'computeCommissionRates' is not valid.")
    st = ctx.state
    st.engine.place_order(ctx.account_id, ctx.params, ctx.now, dry_run=True)
    if compute == "false":
        return {}
    rate, zero = fmt(st.engine.fee_rate), fmt(0)
    sym = st.engine.symbol(ctx.params, venue=ctx.venue)
    priced = st.engine.value_in(Decimal(1), sym.quote, BNB_BURN.asset, ctx.venue, ctx.now) is not None
    return {
        "standardCommissionForOrder": {"maker": rate, "taker": rate},
        "specialCommissionForOrder": {"maker": zero, "taker": zero},
        "taxCommissionForOrder": {"maker": zero, "taker": zero},
        "discount": {"enabledForAccount": st.engine.bnb_fees(ctx.account_id), "enabledForSymbol": priced,
                     "discountAsset": BNB_BURN.asset, "discount": fmt(BNB_BURN.discount)},
    }


def h_bnb_burn_get(ctx):
    return {"spotBNBBurn": ctx.state.engine.bnb_fees(ctx.account_id), "interestBNBBurn": False}


def h_bnb_burn_set(ctx):
    """Binance's "Toggle BNB Burn On Spot Trade And Margin Interest": ``spotBNBBurn`` is the account's setting."""
    values = {}
    for name in ("spotBNBBurn", "interestBNBBurn"):
        raw = ctx.params.get(name)
        if raw is None or raw == "":
            continue
        if raw not in ("true", "false"):
            raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'; legal range is "
                                      "'true, false'.")
        values[name] = raw == "true"
    if not values:
        raise BinanceError(-1102, "Param 'spotBNBBurn' or 'interestBNBBurn' must be sent, but both were empty/null!")
    if values.get("interestBNBBurn"):
        raise BinanceError(-1106, "Parameter 'interestBNBBurn' sent when not required.")  # no margin here
    if "spotBNBBurn" in values:
        store.account_set_bnb_fees(ctx.state.conn, ctx.account_id, values["spotBNBBurn"])
    return h_bnb_burn_get(ctx)


def h_order_get(ctx):
    row = ctx.state.engine.get_order(ctx.account_id, ctx.params, ctx.now)
    return order_json(row, query=True)


def h_order_cancel(ctx):
    row, cancel_id = ctx.state.engine.cancel_order(ctx.account_id, ctx.params, ctx.now)
    return cancel_json(row, cancel_id)


def h_open_orders(ctx):
    return [order_json(r, query=True) for r in ctx.state.engine.open_orders(ctx.account_id, ctx.params, ctx.now)]


def h_cancel_open_orders(ctx):
    st = ctx.state
    st.engine.symbol(ctx.params, venue=ctx.venue)
    out = []
    for row in st.engine.open_orders(ctx.account_id, ctx.params, ctx.now):
        canceled, cancel_id = st.engine.cancel_order(ctx.account_id, {"symbol": row["symbol"], "orderId": str(row["id"])},
                                                     ctx.now)
        out.append(cancel_json(canceled, cancel_id))
    if not out:
        raise unknown_order(cancel=True)
    return out


def h_all_orders(ctx):
    return [order_json(r, query=True) for r in ctx.state.engine.all_orders(ctx.account_id, ctx.params, ctx.now)]


def h_my_trades(ctx):
    return [trade_json(r) for r in ctx.state.engine.my_trades(ctx.account_id, ctx.params, ctx.now)]


def h_api_restrictions(ctx):
    key = ctx.key
    return {
        "ipRestrict": bool(key["ips"]), "createTime": key["created_ms"], "enableReading": bool(key["can_read"]),
        "enableSpotAndMarginTrading": bool(key["can_trade"]), "enableWithdrawals": bool(key["can_withdraw"]),
        "enableInternalTransfer": False, "enableMargin": False, "enableFutures": False,
        "permitsUniversalTransfer": False, "enableVanillaOptions": False, "enableFixApiTrade": False,
        "enableFixReadOnly": False, "enablePortfolioMarginTrading": False,
    }


def h_trade_fee(ctx):
    st = ctx.state
    rate = fmt(st.engine.fee_rate)
    listed = st.engine.venue_symbols(ctx.venue)
    names = [ctx.params["symbol"]] if ctx.params.get("symbol") else listed
    return [{"symbol": n, "makerCommission": rate, "takerCommission": rate} for n in names if n in listed]


ROUTES = [
    Route("GET", "/api/v3/ping", h_ping, 1),
    Route("GET", "/api/v3/time", h_time, 1),
    Route("GET", "/api/v3/exchangeInfo", h_exchange_info, 20),
    Route("GET", "/api/v3/klines", h_klines, 2),
    Route("GET", "/api/v3/uiKlines", h_klines, 2),
    Route("GET", "/api/v3/ticker/24hr", h_ticker_24hr, ticker_weight(2, 80)),
    Route("GET", "/api/v3/ticker/price", h_ticker_price, ticker_weight(2, 4)),
    Route("GET", "/api/v3/ticker/bookTicker", h_book_ticker, ticker_weight(2, 4)),
    Route("GET", "/api/v3/avgPrice", h_avg_price, 2),
    Route("GET", "/api/v3/depth", h_depth, _depth_weight),
    Route("GET", "/sapi/v1/system/status", h_system_status, 1),
    # no margin trading here: both lists are empty (ccxt asks for them when fetchMargins is on)
    Route("GET", "/sapi/v1/margin/allPairs", h_empty_list, 1, signed="read"),
    Route("GET", "/sapi/v1/margin/isolated/allPairs", h_empty_list, 10, signed="read"),
    Route("GET", "/api/v3/account", h_account, 20, signed="read"),
    Route("POST", "/api/v3/order", h_order_new, 1, signed="trade", is_order=True),
    Route("POST", "/api/v3/order/test", h_order_test, lambda p: 20 if p.get("computeCommissionRates") == "true" else 1,
          signed="trade"),
    Route("GET", "/api/v3/order", h_order_get, 4, signed="read"),
    Route("DELETE", "/api/v3/order", h_order_cancel, 1, signed="trade"),
    Route("GET", "/api/v3/openOrders", h_open_orders, lambda p: 6 if p.get("symbol") else 80, signed="read"),
    Route("DELETE", "/api/v3/openOrders", h_cancel_open_orders, 1, signed="trade"),
    Route("GET", "/api/v3/allOrders", h_all_orders, 20, signed="read"),
    Route("GET", "/api/v3/myTrades", h_my_trades, lambda p: 5 if p.get("orderId") else 20, signed="read"),
    Route("GET", "/sapi/v1/account/apiRestrictions", h_api_restrictions, 1, signed="read"),
    Route("GET", "/sapi/v1/asset/tradeFee", h_trade_fee, 1, signed="read"),
    Route("GET", "/sapi/v1/bnbBurn", h_bnb_burn_get, 1, signed="read"),
    Route("POST", "/sapi/v1/bnbBurn", h_bnb_burn_set, 1, signed="trade"),
]


# what Binance reads on each /api/v3 route (developers.binance.com spot REST API); anything else is -1104
SIGNED = frozenset({"timestamp", "recvWindow", "signature"})
NEW_ORDER = frozenset({
    "symbol", "side", "type", "timeInForce", "quantity", "quoteOrderQty", "price", "newClientOrderId", "strategyId",
    "strategyType", "stopPrice", "trailingDelta", "icebergQty", "newOrderRespType", "selfTradePreventionMode",
    "pegPriceType", "pegOffsetValue", "pegOffsetType"})
KLINES = frozenset({"symbol", "interval", "startTime", "endTime", "timeZone", "limit"})
TICKER = frozenset({"symbol", "symbols", "symbolStatus"})
READS = {
    ("GET", "/api/v3/ping"): frozenset(),
    ("GET", "/api/v3/time"): frozenset(),
    ("GET", "/api/v3/exchangeInfo"): frozenset({"symbol", "symbols", "permissions", "showPermissionSets",
                                                "symbolStatus"}),
    ("GET", "/api/v3/klines"): KLINES,
    ("GET", "/api/v3/uiKlines"): KLINES,
    ("GET", "/api/v3/ticker/24hr"): TICKER | {"type"},
    ("GET", "/api/v3/ticker/price"): TICKER,
    ("GET", "/api/v3/ticker/bookTicker"): TICKER,
    ("GET", "/api/v3/avgPrice"): frozenset({"symbol"}),
    ("GET", "/api/v3/depth"): frozenset({"symbol", "limit", "symbolStatus"}),
    ("GET", "/api/v3/account"): SIGNED | {"omitZeroBalances"},
    ("POST", "/api/v3/order"): SIGNED | NEW_ORDER,
    ("POST", "/api/v3/order/test"): SIGNED | NEW_ORDER | {"computeCommissionRates"},
    ("GET", "/api/v3/order"): SIGNED | {"symbol", "orderId", "origClientOrderId"},
    ("DELETE", "/api/v3/order"): SIGNED | {"symbol", "orderId", "origClientOrderId", "newClientOrderId",
                                          "cancelRestrictions"},
    ("GET", "/api/v3/openOrders"): SIGNED | {"symbol"},
    ("DELETE", "/api/v3/openOrders"): SIGNED | {"symbol"},
    ("GET", "/api/v3/allOrders"): SIGNED | {"symbol", "orderId", "startTime", "endTime", "limit"},
    ("GET", "/api/v3/myTrades"): SIGNED | {"symbol", "orderId", "startTime", "endTime", "fromId", "limit"},
}
KLINE_PATHS = ("/api/v3/klines", "/api/v3/uiKlines")
TIME_FIELDS = frozenset({"serverTime", "transactTime", "time", "updateTime", "workingTime", "openTime", "closeTime"})
TIME_UNITS = {"MILLISECOND": False, "millisecond": False, "MICROSECOND": True, "microsecond": True}


class Params(dict):
    """A request's parameters, and the first name sent twice in the query string or twice in the body."""

    duplicate = None


class Answer:
    """A handler's body with headers known only once it ran (the order counts after an accepted order)."""

    __slots__ = ("body", "headers")

    def __init__(self, body, headers):
        self.body = body
        self.headers = headers


def _order_count_headers(c10, cday):
    return {"X-MBX-ORDER-COUNT-10S": str(c10), "X-MBX-ORDER-COUNT-1D": str(cday)}


def _check_names(params, reads):
    if params.duplicate is not None:
        raise BinanceError(-1101, "Duplicate values for a parameter detected.")
    read = sum(1 for name in params if name in reads)
    if read != len(params):
        raise BinanceError(-1104, f"Not all sent parameters were read; read '{read}' parameter(s) but was sent "
                                  f"'{len(params)}'.")


def _wants_microseconds(request):
    unit = request.headers.get("X-MBX-TIME-UNIT")
    if unit is None:
        return False
    if unit not in TIME_UNITS:
        raise BinanceError(-1194, "Invalid value for time unit; expected either MICROSECOND or MILLISECOND.")
    return TIME_UNITS[unit]


def _times_in_milliseconds(params):
    """``startTime``/``endTime`` sent in microseconds, as the engine's milliseconds (a start rounds up)."""
    for name, up in (("startTime", True), ("endTime", False)):
        raw = params.get(name)
        if raw and raw.isdigit() and int(raw) >= MICROSECONDS_FROM:
            params[name] = str(-(-int(raw) // 1000) if up else int(raw) // 1000)


def _in_microseconds(body, klines=False):
    if isinstance(body, Answer):
        return Answer(_in_microseconds(body.body, klines), body.headers)
    if klines:  # open time, ..., close time (the last microsecond of the candle)
        return [[row[0] * 1000, *row[1:6], (row[6] + 1) * 1000 - 1, *row[7:]] for row in body]
    if isinstance(body, list):
        return [_in_microseconds(item) for item in body]
    if isinstance(body, dict):
        return {k: (v * 1000 if k in TIME_FIELDS and type(v) is int else _in_microseconds(v)) for k, v in body.items()}
    return body


async def _later_in_microseconds(future, klines):
    return _in_microseconds(await future, klines)


def faithful(route):
    """``route`` with Binance's parameter checks and time units, for the /api/v3 routes (sapi ones unchanged)."""
    reads = READS.get((route.method, route.path))
    if reads is None:
        return route
    handler, klines = route.handler, route.path in KLINE_PATHS

    def checked(ctx):
        _check_names(ctx.params, reads)
        micro = _wants_microseconds(ctx.request)
        _times_in_milliseconds(ctx.params)
        body = handler(ctx)
        if not micro:
            return body
        if isinstance(body, asyncio.Future):
            return asyncio.ensure_future(_later_in_microseconds(body, klines))
        return _in_microseconds(body, klines)

    return Route(route.method, route.path, checked, route.weight, route.signed, route.is_order)


class BinanceDialect(Dialect):
    """Binance's API shape. ``separate_sapi_weight``: sapi routes have their own per-IP weight (12,000 a minute,
    ``X-SAPI-USED-IP-WEIGHT-1M``), as on Binance; without it they count towards the one request weight.
    ``owns_unknown_paths``: an unknown path under the prefix answers Binance's empty 404."""

    def __init__(self, venue, prefix, routes, limits=None, separate_sapi_weight=True, owns_unknown_paths=False):
        self.venue = venue
        self.prefix = prefix
        self.routes = [faithful(route) for route in routes]
        self.limits = limits
        self.separate_sapi_weight = separate_sapi_weight
        self.owns_unknown_paths = owns_unknown_paths

    def rate_limits(self, configured):
        return dict(configured) if self.limits is None else {**configured, **self.limits}

    def read_params(self, raw_query, raw_body):
        """Query string, then body: a name in both is read from the query string, as on Binance."""
        params = Params()
        for raw in (raw_query, raw_body):
            seen = set()
            for name, value in parse_qsl(raw, keep_blank_values=True):
                if name in seen and params.duplicate is None:
                    params.duplicate = name
                seen.add(name)
                params.setdefault(name, value)
        return params

    def charge(self, ctx, route, weight):
        if self.separate_sapi_weight and route.path.startswith("/sapi/"):
            used, err, _ = ctx.limiter.charge("sapi:" + ctx.ip, weight, ctx.now, limit=12000)
            return {"X-SAPI-USED-IP-WEIGHT-1M": str(used)}, err
        used, err, _ = ctx.limiter.charge(ctx.ip, weight, ctx.now)
        return {"X-MBX-USED-WEIGHT-1M": str(used), "X-MBX-USED-WEIGHT": str(used)}, err

    def authenticate(self, ctx, route):
        authenticate(ctx, route.signed)

    def charge_order(self, ctx):
        """Whether one more order fits the limits; the order counts only once placed (h_order_new)."""
        c10, cday, err = ctx.limiter.check_order(ctx.account_id, ctx.now)
        return _order_count_headers(c10, cday), err

    def respond(self, body, headers):
        if isinstance(body, Answer):
            return json_response(body.body, headers={**headers, **body.headers})
        return json_response(body, headers=headers)

    def error_response(self, exc, headers=None):
        return web.Response(body=dumps(exc.body()), status=exc.status, content_type="application/json",
                            headers={**(headers or {}), **exc.headers})

    def not_found(self, request):
        # what api.binance.com answers for a path it does not serve: 404, Content-Length 0, no JSON
        return web.Response(status=404) if self.owns_unknown_paths else None

    def forced_error(self, status, now):
        if status == 429:
            return BinanceError(-1003, "Too many requests; current limit is exceeded. Please use WebSocket Streams "
                                       "for live updates to avoid bans.", status=429, headers={"Retry-After": "1"},
                                kind="rate_limit")
        return BinanceError(-1003, f"Way too much request weight used; IP banned until {now + 1000}. Please use "
                                   "WebSocket Streams for live updates to avoid bans.", status=418,
                            headers={"Retry-After": "1"}, kind="rate_limit")

    def server_error(self, status):
        body, ctype = _ERROR_BODIES[status]
        return web.Response(body=body, status=status, content_type=ctype)

    def reject_error(self, knob):
        return BinanceError(knob["code"], knob["msg"], kind="rejected")


DIALECT = BinanceDialect("binance", "", ROUTES, owns_unknown_paths=True)
