"""The HTTP server: Binance Spot REST routes, the ``/_paper/`` control routes.

Each request runs synchronously inside the event loop once its body is read
(SQLite calls take microseconds), so one request's changes are atomic with
respect to every other request; only the fault knobs (latency, timeouts) await.
Nothing here logs a query string, a signature or an API key.
"""

import asyncio
import base64
import hashlib
import hmac
import logging
import secrets
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import parse_qsl, unquote

from aiohttp import web

from . import config as config_mod
from . import store
from .engine import Engine, cancel_json, order_json, parse_int, trade_json
from .errors import BinanceError, ControlError, bad_key_permissions, bad_param
from .faults import Counters, Faults
from .market import INTERVALS, Market, fmt
from .ratelimit import RateLimiter

try:
    import orjson

    def dumps(obj):
        return orjson.dumps(obj)
except ImportError:  # pragma: no cover
    import json

    def dumps(obj):
        return json.dumps(obj, separators=(",", ":")).encode()

log = logging.getLogger("paperexchange")

JSON = "application/json;charset=UTF-8"
TOKEN_FILE = "control_token"


class State:
    """Everything the server holds: the store, the market, limits, faults, counters."""

    def __init__(self, data_dir, cfg, seed=None, token=None):
        self.data_dir = Path(data_dir)
        self.cfg = cfg
        self.conn = store.connect(self.data_dir)
        stored_seed = store.meta_get(self.conn, "seed")
        if seed is None:
            seed = cfg.get("seed")
        if seed is None:
            seed = int(stored_seed) if stored_seed is not None else config_mod.DEFAULT_SEED
        if stored_seed is None or int(stored_seed) != seed:
            store.meta_set(self.conn, "seed", seed)
        self.seed = int(seed)
        self.market = Market(cfg["symbols"], self.seed, drift=cfg["drift"], jumps_per_day=cfg["jumps_per_day"],
                             jump_size=cfg["jump_size"], slippage_bps=cfg["slippage_bps"])
        self.engine = Engine(self.conn, self.market, Decimal(str(cfg["fee_rate"])))
        self.limiter = RateLimiter(cfg["rate_limits"])
        self.faults = Faults(self.seed)
        self.counters = Counters()
        self.token = token or self._load_token()
        self.ed25519_keys = {}
        self.started_ms = int(time.time() * 1000)

    def _load_token(self):
        path = self.data_dir / TOKEN_FILE
        if path.exists():
            token = path.read_text().strip()
            if token:
                return token
        token = secrets.token_urlsafe(32)
        path.write_text(token + "\n")
        path.chmod(0o600)
        return token

    def now(self):
        return int(time.time() * 1000) + self.faults.clock_skew_ms

    def reset(self):
        self.faults.clear()
        self.limiter.reset()
        self.counters.clear()
        self.market.reset_adjustments()


# ---------------------------------------------------------------------------
# request plumbing

class Ctx:
    __slots__ = ("request", "state", "params", "now", "key", "account_id", "ip")

    def __init__(self, request, state, params, now, ip):
        self.request = request
        self.state = state
        self.params = params
        self.now = now
        self.ip = ip
        self.key = None
        self.account_id = None


def json_response(body, status=200, headers=None):
    return web.Response(body=dumps(body), status=status, content_type="application/json", headers=headers)


def error_response(err: BinanceError, headers=None):
    return web.Response(body=dumps(err.body()), status=err.status, content_type="application/json",
                        headers={**(headers or {}), **err.headers})


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


def authenticate(ctx, raw_query, raw_body, need):
    """Binance's signed-endpoint checks. ``need`` is 'read' or 'trade'."""
    state = ctx.state
    api_key = ctx.request.headers.get("X-MBX-APIKEY")
    if not api_key or len(api_key) > 128 or not api_key.isalnum():
        raise BinanceError(-2014, "API-key format invalid.", status=401)
    key = store.key_get(state.conn, api_key)
    if key is None:
        raise bad_key_permissions()
    if key["ips"] and ctx.ip not in key["ips"].split(","):
        raise bad_key_permissions()
    params = ctx.params
    ts = params.get("timestamp")
    if not ts:
        raise bad_param("timestamp")
    try:
        ts = int(ts)
        recv = int(params.get("recvWindow") or 5000)
    except ValueError:
        raise BinanceError(-1100, "Illegal characters found in parameter 'timestamp'; legal range is '^[0-9]{1,20}$'.") from None
    if recv > 60000 or recv <= 0:
        raise BinanceError(-1131, "recvWindow must be less than 60000")
    now = ctx.now
    if ts >= now + 1000:
        raise BinanceError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    if now - ts > recv:
        raise BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")
    query, sig_q = _strip_signature(raw_query)
    body, sig_b = _strip_signature(raw_body)
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
        raise BinanceError(-1022, "Signature for this request is not valid.")
    if need == "trade" and not key["can_trade"]:
        raise bad_key_permissions()
    if not key["can_read"]:
        raise bad_key_permissions()
    ctx.key = key
    ctx.account_id = key["account_id"]


def _verify_ed25519(state, key, payload, sig):
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    public = state.ed25519_keys.get(key["api_key"])
    if public is None:
        public = state.ed25519_keys[key["api_key"]] = Ed25519PublicKey.from_public_bytes(bytes.fromhex(key["secret"]))
    try:
        public.verify(base64.b64decode(sig, validate=True), payload)
        return True
    except (InvalidSignature, ValueError):
        return False


class Route:
    __slots__ = ("method", "path", "handler", "weight", "signed", "is_order", "sapi")

    def __init__(self, method, path, handler, weight=1, signed=None, is_order=False):
        self.method = method
        self.path = path
        self.handler = handler
        self.weight = weight
        self.signed = signed
        self.is_order = is_order
        self.sapi = path.startswith("/sapi/")


def _weight(route, params):
    return route.weight(params) if callable(route.weight) else route.weight


async def _drop(request):
    """Close the connection without an answer."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    raise asyncio.CancelledError()


_ERROR_BODIES = {
    500: (b'{"code":-1001,"msg":"Internal error; unable to process your request. Please try again."}', "application/json"),
    502: (b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"),
    503: (b'{"code":-1008,"msg":"Server is currently overloaded with other requests. Please try again in a few minutes."}',
          "application/json"),
    504: (b"<html><body><h1>504 Gateway Time-out</h1></body></html>", "text/html"),
}


def _injected_error(status):
    body, ctype = _ERROR_BODIES[status]
    return web.Response(body=body, status=status, content_type=ctype)


def make_handler(state: State, route: Route):
    faults, counters, limiter = state.faults, state.counters, state.limiter

    async def handler(request):
        counters.requests += 1
        counters.by_path[route.path] += 1
        # every fault is decided when the request arrives, before any added latency
        delay = faults.delay()
        forced = faults.take_force()
        is_order = route.is_order
        error_knob = faults.take("error", is_order)
        timeout_knob = faults.take("timeout", is_order)
        if delay:
            await asyncio.sleep(delay)
        if forced:
            if forced == 429:
                counters.http_429 += 1
                return error_response(BinanceError(-1003, "Too many requests; current limit is exceeded. Please use "
                                                          "WebSocket Streams for live updates to avoid bans.",
                                                   status=429, headers={"Retry-After": "1"}))
            counters.http_418 += 1
            return error_response(BinanceError(-1003, "Way too much request weight used; IP banned until "
                                                      f"{state.now() + 1000}. Please use WebSocket Streams for live "
                                                      "updates to avoid bans.", status=418, headers={"Retry-After": "1"}))
        if error_knob and not error_knob["execute"]:
            counters.injected_errors += 1
            return _injected_error(error_knob["status"])
        if timeout_knob and not timeout_knob["execute"]:
            counters.injected_timeouts += 1
            await asyncio.sleep(timeout_knob["seconds"])
            await _drop(request)
        raw_query = request.rel_url.raw_query_string
        raw_body = ""
        if request.can_read_body:
            raw_body = (await request.read()).decode("utf-8", "replace")
        params = dict(parse_qsl(raw_query, keep_blank_values=True))
        if raw_body:
            params.update(parse_qsl(raw_body, keep_blank_values=True))
        ip = request.remote or "unknown"
        now = state.now()
        ctx = Ctx(request, state, params, now, ip)
        weight = _weight(route, params)
        headers = {}
        lost = False
        try:
            if route.sapi:
                used, err, kind = limiter.charge("sapi:" + ip, weight, now, limit=12000)
                headers["X-SAPI-USED-IP-WEIGHT-1M"] = str(used)
            else:
                used, err, kind = limiter.charge(ip, weight, now)
                headers["X-MBX-USED-WEIGHT-1M"] = str(used)
                headers["X-MBX-USED-WEIGHT"] = str(used)
            if err is None:
                counters.weight += weight
            if err is not None:
                if kind == 429:
                    counters.http_429 += 1
                else:
                    counters.http_418 += 1
                raise err
            if route.signed:
                authenticate(ctx, raw_query, raw_body, route.signed)
            if is_order:
                c10, cday, err = limiter.charge_order(ctx.account_id, now)
                headers["X-MBX-ORDER-COUNT-10S"] = str(c10)
                headers["X-MBX-ORDER-COUNT-1D"] = str(cday)
                if err is not None:
                    counters.http_429 += 1
                    raise err
            body = route.handler(ctx)
            if isinstance(body, asyncio.Future):
                body = await body
            status = 200
            lost = is_order and faults.take_lost_response()  # only an executed order loses its answer
        except BinanceError as exc:
            body, status = exc.body(), exc.status
            headers.update(exc.headers)
        if lost:
            counters.lost_responses += 1
            await _drop(request)
        if error_knob:
            counters.injected_errors += 1
            return _injected_error(error_knob["status"])
        if timeout_knob:
            counters.injected_timeouts += 1
            await asyncio.sleep(timeout_knob["seconds"])
            await _drop(request)
        return web.Response(body=dumps(body), status=status, content_type="application/json", headers=headers)

    return handler


# ---------------------------------------------------------------------------
# Binance routes

def h_ping(ctx):
    return {}


def h_time(ctx):
    return {"serverTime": ctx.now}


def _symbols_param(ctx):
    st = ctx.state
    if ctx.params.get("symbol"):
        sym = st.engine.symbol(ctx.params)
        return [sym.symbol]
    if ctx.params.get("symbols"):
        raw = ctx.params["symbols"].strip()
        try:
            import json

            names = json.loads(raw)
        except ValueError:
            raise BinanceError(-1100, "Illegal characters found in parameter 'symbols'; legal range is '^\\[(\"[A-Z0-9-_.]{1,20}\"(,\"[A-Z0-9-_.]{1,20}\"){0,}){0,1}\\]$'.") from None
        if not isinstance(names, list) or any(n not in st.market.symbols for n in names):
            raise BinanceError(-1121, "Invalid symbol.")
        return names
    return None


def h_exchange_info(ctx):
    st = ctx.state
    names = _symbols_param(ctx) or list(st.market.symbols)
    return {
        "timezone": "UTC", "serverTime": ctx.now, "rateLimits": st.limiter.rate_limits_json(), "exchangeFilters": [],
        "symbols": [st.market.symbols[n].exchange_info() for n in names],
    }


def h_klines(ctx):
    st, p = ctx.state, ctx.params
    sym = st.engine.symbol(p)
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


def _ticker_weight(per_symbol, everything):
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
    return [one(n) for n in (names or ctx.state.market.symbols)]


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
    sym = st.engine.symbol(ctx.params)
    now_min = ctx.now // 60000
    cndl = st.market.aggregate(sym.symbol, now_min - 5, now_min, ctx.now)
    avg = (sym.tick * sym.step * cndl[5]) / (sym.step * cndl[4])
    return {"mins": 5, "price": fmt(avg), "closeTime": now_min * 60000 - 1}


def _depth_weight(params):
    limit = int(params.get("limit") or 100) if (params.get("limit") or "100").isdigit() else 100
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


def h_depth(ctx):
    st = ctx.state
    sym = st.engine.symbol(ctx.params)
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
        raise BinanceError(-2010, "This symbol is not permitted for this account.")


def h_order_new(ctx):
    st = ctx.state
    _check_symbol_allowed(ctx)
    def reject():
        """The "reject next order" fault, taken only by an order that passed every check."""
        knob = st.faults.take_reject()
        if knob is None:
            return None
        st.counters.rejected_orders += 1
        return BinanceError(knob["code"], knob["msg"])

    row, fills, resp_type = st.engine.place_order(ctx.account_id, ctx.params, ctx.now, reject=reject)
    st.counters.orders += 1
    st.counters.orders_by_client_id[row["client_order_id"]] += 1
    return order_json(row, resp_type=resp_type, fills=fills)


class _DryRun(BinanceError):
    """Raised by the engine after every check passed: /order/test stops there, nothing is written."""


def h_order_test(ctx):
    _check_symbol_allowed(ctx)
    try:
        ctx.state.engine.place_order(ctx.account_id, ctx.params, ctx.now, reject=_DryRun(0, "dry run"))
    except _DryRun:
        return {}
    raise AssertionError("an /order/test request must never place an order")  # pragma: no cover


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
    st.engine.symbol(ctx.params)
    out = []
    for row in st.engine.open_orders(ctx.account_id, ctx.params, ctx.now):
        canceled, cancel_id = st.engine.cancel_order(ctx.account_id, {"symbol": row["symbol"], "orderId": str(row["id"])},
                                                     ctx.now)
        out.append(cancel_json(canceled, cancel_id))
    if not out:
        raise BinanceError(-2011, "Unknown order sent.")
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
    names = [ctx.params["symbol"]] if ctx.params.get("symbol") else list(st.market.symbols)
    return [{"symbol": n, "makerCommission": rate, "takerCommission": rate} for n in names if n in st.market.symbols]


ROUTES = [
    Route("GET", "/api/v3/ping", h_ping, 1),
    Route("GET", "/api/v3/time", h_time, 1),
    Route("GET", "/api/v3/exchangeInfo", h_exchange_info, 20),
    Route("GET", "/api/v3/klines", h_klines, 2),
    Route("GET", "/api/v3/uiKlines", h_klines, 2),
    Route("GET", "/api/v3/ticker/24hr", h_ticker_24hr, _ticker_weight(2, 80)),
    Route("GET", "/api/v3/ticker/price", h_ticker_price, _ticker_weight(2, 4)),
    Route("GET", "/api/v3/ticker/bookTicker", h_book_ticker, _ticker_weight(2, 4)),
    Route("GET", "/api/v3/avgPrice", h_avg_price, 2),
    Route("GET", "/api/v3/depth", h_depth, _depth_weight),
    Route("GET", "/sapi/v1/system/status", h_system_status, 1),
    # no margin trading here: both lists are empty (ccxt asks for them when fetchMargins is on)
    Route("GET", "/sapi/v1/margin/allPairs", h_empty_list, 1, signed="read"),
    Route("GET", "/sapi/v1/margin/isolated/allPairs", h_empty_list, 10, signed="read"),
    Route("GET", "/api/v3/account", h_account, 20, signed="read"),
    Route("POST", "/api/v3/order", h_order_new, 1, signed="trade", is_order=True),
    Route("POST", "/api/v3/order/test", h_order_test, 1, signed="trade"),
    Route("GET", "/api/v3/order", h_order_get, 4, signed="read"),
    Route("DELETE", "/api/v3/order", h_order_cancel, 1, signed="trade"),
    Route("GET", "/api/v3/openOrders", h_open_orders, lambda p: 6 if p.get("symbol") else 80, signed="read"),
    Route("DELETE", "/api/v3/openOrders", h_cancel_open_orders, 1, signed="trade"),
    Route("GET", "/api/v3/allOrders", h_all_orders, 20, signed="read"),
    Route("GET", "/api/v3/myTrades", h_my_trades, lambda p: 5 if p.get("orderId") else 20, signed="read"),
    Route("GET", "/sapi/v1/account/apiRestrictions", h_api_restrictions, 1, signed="read"),
    Route("GET", "/sapi/v1/asset/tradeFee", h_trade_fee, 1, signed="read"),
]


async def not_found(request):
    return web.Response(status=404, body=b"", content_type="application/json")


# ---------------------------------------------------------------------------
# control routes

def control_routes(state: State):
    routes = web.RouteTableDef()

    def guarded(fn):
        async def wrapper(request):
            auth = request.headers.get("X-Paper-Token") or request.headers.get("Authorization", "").removeprefix("Bearer ")
            if not auth or not hmac.compare_digest(auth.encode(), state.token.encode()):
                return json_response({"error": "missing or wrong control token"}, status=401)
            try:
                data = {}
                if request.can_read_body:
                    try:
                        data = await request.json()
                    except ValueError:
                        raise ControlError("body must be JSON") from None
                    if not isinstance(data, dict):
                        raise ControlError("body must be a JSON object")
                return json_response(fn(request, data))
            except ControlError as exc:
                return json_response({"error": str(exc)}, status=400)
            except BinanceError as exc:
                return json_response({"error": exc.msg, "code": exc.code}, status=400)
        return wrapper

    @routes.get("/_paper/health")
    async def health(request):
        return json_response({"ok": True, "seed": state.seed})

    @routes.get("/_paper/counters")
    @guarded
    def counters(request, data):
        return state.counters.as_json()

    @routes.get("/_paper/faults")
    @guarded
    def faults_get(request, data):
        return state.faults.describe()

    @routes.post("/_paper/faults")
    @guarded
    def faults_set(request, data):
        state.faults.set(data)
        return state.faults.describe()

    @routes.delete("/_paper/faults")
    @guarded
    def faults_clear(request, data):
        state.faults.clear()
        return state.faults.describe()

    @routes.post("/_paper/reset")
    @guarded
    def reset(request, data):
        state.reset()
        return {"ok": True}

    @routes.get("/_paper/limits")
    @guarded
    def limits_get(request, data):
        return {**state.limiter.limits, "ip_weight": {ip: s.used for ip, s in state.limiter.ips.items()}}

    @routes.post("/_paper/limits")
    @guarded
    def limits_set(request, data):
        try:
            state.limiter.configure(**data)
        except (ValueError, TypeError) as exc:
            raise ControlError(str(exc)) from None
        return dict(state.limiter.limits)

    @routes.post("/_paper/accounts")
    @guarded
    def account_create(request, data):
        return {"account": store.account_create(state.conn, data.get("balances") or {})}

    @routes.get("/_paper/accounts/{account_id}")
    @guarded
    def account_show(request, data):
        return account_snapshot(state, request.match_info["account_id"])

    @routes.post("/_paper/keys")
    @guarded
    def key_create(request, data):
        return store.key_create(
            state.conn, data.get("account"), ed25519=bool(data.get("ed25519")),
            can_withdraw=bool(data.get("can_withdraw")), trade=bool(data.get("trade", True)), ips=data.get("ips"),
            symbols=data.get("symbols"), known_symbols=state.market.symbols)

    @routes.patch("/_paper/keys/{api_key}")
    @guarded
    def key_update(request, data):
        return store.key_update(
            state.conn, request.match_info["api_key"], can_withdraw=data.get("can_withdraw"),
            trade=data.get("trade"), read=data.get("read"), ips=data.get("ips"), clear_ips=data.get("ips") == [],
            symbols=data.get("symbols"), clear_symbols=data.get("symbols") == [], known_symbols=state.market.symbols)

    @routes.delete("/_paper/keys/{api_key}")
    @guarded
    def key_delete(request, data):
        store.key_delete(state.conn, request.match_info["api_key"])
        return {"ok": True}

    @routes.post("/_paper/foreign-trade")
    @guarded
    def foreign_trade(request, data):
        account_id = _account_arg(state, data.get("account"))
        symbol = str(data.get("symbol") or "").upper().replace("/", "")
        side = str(data.get("side") or "BUY").upper()
        qty = _decimal_arg(data, "quantity")
        price = _decimal_arg(data, "price", required=False)
        row, fills = state.engine.foreign_trade(account_id, symbol, side, qty, price, state.now())
        return order_json(row, resp_type="FULL", fills=fills)

    @routes.post("/_paper/move-price")
    @guarded
    def move_price(request, data):
        symbol = _symbol_arg(state, data)
        now = state.now()
        if data.get("price") is not None:
            target = _decimal_arg(data, "price")
            current = state.market.price(symbol, now)
            factor = float(target / current)
        else:
            factor = float(_decimal_arg(data, "factor"))
        if factor <= 0:
            raise ControlError("factor must be positive")
        state.market.move_price(symbol, factor, now)
        return {"symbol": symbol, "price": fmt(state.market.price(symbol, state.now()))}

    @routes.post("/_paper/add-volume")
    @guarded
    def add_volume(request, data):
        symbol = _symbol_arg(state, data)
        qty = _decimal_arg(data, "quantity")
        state.market.add_volume(symbol, qty, state.now())
        return {"symbol": symbol, "volume_24h": state.market.ticker_24h(symbol, state.now())["volume"]}

    @routes.get("/_paper/prices")
    @guarded
    def prices(request, data):
        now = state.now()
        return {n: fmt(state.market.price(n, now)) for n in state.market.symbols}

    return routes


def _account_arg(state, value):
    try:
        account_id = int(value)
    except (TypeError, ValueError):
        raise ControlError("account must be an account id") from None
    if not store.account_exists(state.conn, account_id):
        raise ControlError(f"no account {account_id}")
    return account_id


def _symbol_arg(state, data):
    symbol = str(data.get("symbol") or "").upper().replace("/", "")
    if symbol not in state.market.symbols:
        raise ControlError(f"unknown symbol {symbol!r} (known: {', '.join(state.market.symbols)})")
    return symbol


def _decimal_arg(data, name, required=True):
    value = data.get(name)
    if value is None:
        if required:
            raise ControlError(f"{name} is required")
        return None
    try:
        out = Decimal(str(value))
    except ArithmeticError:
        raise ControlError(f"{name} must be a number") from None
    if not out.is_finite() or out <= 0:
        raise ControlError(f"{name} must be a positive number")
    return out


def account_snapshot(state, account_id):
    account_id = _account_arg(state, account_id)
    now = state.now()
    engine = state.engine
    engine.match_account(account_id, now)
    conn = state.conn
    orders = conn.execute("SELECT * FROM orders WHERE account_id = ? ORDER BY id", (account_id,)).fetchall()
    trades = conn.execute("SELECT * FROM trades WHERE account_id = ? ORDER BY id", (account_id,)).fetchall()
    return {
        "account": account_id,
        "balances": {a: {"free": fmt(f), "locked": fmt(lk)} for a, (f, lk) in store.balances_of(conn, account_id).items()},
        "orders": [{**order_json(r, query=True), "origin": r["origin"]} for r in orders],
        "trades": [trade_json(r) for r in trades],
        "keys": store.keys_of_account(conn, account_id),
    }


# ---------------------------------------------------------------------------
# app and entry point

async def _sweeper(app):
    state = app["state"]

    async def loop():
        while True:
            await asyncio.sleep(1.0)
            try:
                state.engine.match_all(state.now())
            except Exception:  # keep serving; the next sweep or request retries the match
                log.exception("resting order sweep failed")

    task = asyncio.create_task(loop())
    yield
    task.cancel()


def make_app(state: State) -> web.Application:
    app = web.Application(client_max_size=1 << 20)
    app["state"] = state
    for route in ROUTES:
        app.router.add_route(route.method, route.path, make_handler(state, route))
    app.router.add_routes(control_routes(state))
    app.cleanup_ctx.append(_sweeper)
    return app


def serve(host, port, data_dir, seed=None, config_path=None, token=None, print_fn=print):
    cfg = config_mod.load(config_path)
    state = State(data_dir, cfg, seed=seed, token=token or config_mod.control_token_from_env())
    app = make_app(state)
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass

    async def on_startup(app):
        print_fn(f"paperexchange listening on http://{host}:{port} (data {state.data_dir}, seed {state.seed})", flush=True)
        print_fn(f"control token: {state.token}", flush=True)

    app.on_startup.append(on_startup)
    logging.getLogger("aiohttp.access").disabled = True
    web.run_app(app, host=host, port=port, access_log=None, print=None, handle_signals=True,
                shutdown_timeout=1.0)
