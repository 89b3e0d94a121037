"""The HTTP server: one engine and one price path, every venue's dialect, the ``/_paper/`` control routes.

Each venue's routes live in ``dialects/`` (Binance at the root, every other
venue under ``/<venue>``); the shared request plumbing and fault knobs in
``plumbing.py``. Each request runs synchronously inside the event loop once its
body is read (SQLite calls take microseconds), so one request's changes are
atomic with respect to every other request; only the fault knobs (latency,
timeouts) await. Nothing here logs a query string, a signature or an API key.
"""

import asyncio
import hmac
import logging
import os
import secrets
import time
from decimal import Decimal
from pathlib import Path

from aiohttp import web

from . import config as config_mod
from . import store
from .dialects import DIALECTS
from .engine import Engine, order_json, trade_json
from .errors import BinanceError, ControlError
from .faults import Counters, Faults
from .market import Market, fmt
from .plumbing import json_response, make_handler
from .ratelimit import RateLimiter

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
        self.engine = Engine(self.conn, self.market, Decimal(str(cfg["fee_rate"])), venues=cfg["venues"])
        # each venue counts its own request weight and order rates, as separate exchanges do
        self.limiters = {venue: RateLimiter(dialect.rate_limits(cfg["rate_limits"]))
                         for venue, dialect in DIALECTS.items()}
        self.limiter = self.limiters[config_mod.DEFAULT_VENUE]
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

    def limiter_for(self, venue):
        venue = config_mod.venue_name(venue)
        if venue not in self.limiters:
            raise ControlError(f"no dialect serves {venue} yet, so it has no rate limits")
        return self.limiters[venue]

    def reset(self):
        self.faults.clear()
        for limiter in self.limiters.values():
            limiter.reset()
        # a fresh object: a request still in flight from before the reset counts into the old one
        self.counters = Counters()
        self.market.reset_adjustments()


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
        limiter = state.limiter_for(request.query.get("venue"))
        return {**limiter.limits, "ip_weight": {ip: s.used for ip, s in limiter.ips.items()}}

    @routes.post("/_paper/limits")
    @guarded
    def limits_set(request, data):
        changes = dict(data)
        limiter = state.limiter_for(changes.pop("venue", None))
        try:
            limiter.configure(**changes)
        except (ValueError, TypeError) as exc:
            raise ControlError(str(exc)) from None
        return dict(limiter.limits)

    @routes.post("/_paper/accounts")
    @guarded
    def account_create(request, data):
        venue = config_mod.venue_name(data.get("venue"))
        bnb_fees = data.get("bnb_fees", False)
        account_id = store.account_create(state.conn, data.get("balances") or {}, venue=venue, bnb_fees=bnb_fees)
        return {"account": account_id, "venue": venue, "bnb_fees": bnb_fees}

    @routes.get("/_paper/accounts/{account_id}")
    @guarded
    def account_show(request, data):
        return account_snapshot(state, request.match_info["account_id"])

    @routes.patch("/_paper/accounts/{account_id}")
    @guarded
    def account_update(request, data):
        account_id = _account_arg(state, request.match_info["account_id"])
        unknown = set(data) - {"bnb_fees"}
        if unknown or not data:
            raise ControlError("give bnb_fees (true or false), the one account setting that can change")
        store.account_set_bnb_fees(state.conn, account_id, data["bnb_fees"])
        return {"account": account_id, "venue": state.engine.venue_of(account_id),
                "bnb_fees": state.engine.bnb_fees(account_id)}

    @routes.post("/_paper/keys")
    @guarded
    def key_create(request, data):
        created = store.key_create(
            state.conn, data.get("account"), ed25519=bool(data.get("ed25519")),
            can_withdraw=bool(data.get("can_withdraw")), trade=bool(data.get("trade", True)), ips=data.get("ips"),
            symbols=data.get("symbols"), known_symbols=state.market.symbols)
        return {**created, "venue": store.account_venue(state.conn, int(data["account"]))}

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
        "venue": engine.venue_of(account_id),
        "bnb_fees": engine.bnb_fees(account_id),
        "balances": {a: {"free": fmt(f), "locked": fmt(lk)} for a, (f, lk) in store.balances_of(conn, account_id).items()},
        "orders": [{**order_json(r, query=True), "origin": r["origin"]} for r in orders],
        "trades": [_trade_snapshot(r) for r in trades],
        "keys": store.keys_of_account(conn, account_id),
    }


def _trade_snapshot(row):
    """A trade as Binance shows it, and what fee credits paid (Kraken's KFEE): ``credit`` of ``creditAsset``
    in place of ``creditCovers`` of the commission."""
    body = trade_json(row)
    if row["credit_asset"]:
        body.update({"creditAsset": row["credit_asset"], "credit": fmt(Decimal(row["credit"])),
                     "creditCovers": fmt(Decimal(row["credit_covers"]))})
    return body


# ---------------------------------------------------------------------------
# app and entry point

def _path_owner(path):
    """The dialect whose URL space holds ``path``: None for the control routes and for a venue without a dialect."""
    if path == "/_paper" or path.startswith("/_paper/"):
        return None
    root = None
    for venue in config_mod.VENUES:
        dialect = DIALECTS.get(venue)
        prefix = dialect.prefix if dialect is not None else f"/{venue}"
        if not prefix:
            root = dialect
        elif path == prefix or path.startswith(prefix + "/"):
            return dialect
    return root


@web.middleware
async def unknown_paths(request, handler):
    """A path no route serves answers as its venue's front end does (``Dialect.not_found``), else aiohttp's 404."""
    try:
        return await handler(request)
    except web.HTTPNotFound:
        dialect = _path_owner(request.path)
        answer = dialect.not_found(request) if dialect is not None else None
        if answer is None:
            raise
        return answer


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
    app = web.Application(client_max_size=1 << 20, middlewares=[unknown_paths])
    app["state"] = state
    for dialect in DIALECTS.values():
        for route in dialect.routes:
            app.router.add_route(route.method, dialect.prefix + route.path, make_handler(state, dialect, route))
    app.router.add_routes(control_routes(state))
    app.cleanup_ctx.append(_sweeper)
    return app


def serve(host, port, data_dir, seed=None, config_path=None, token=None, print_fn=print):
    os.umask(0o077)  # everything this server writes (its database, journals, token) is its owner's only
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
        # Never the token itself: logs are read by more people than the data directory.
        where = "PAPEREXCHANGE_CONTROL_TOKEN" if token or config_mod.control_token_from_env() else \
            state.data_dir / TOKEN_FILE
        print_fn(f"control token: in {where}", flush=True)

    app.on_startup.append(on_startup)
    logging.getLogger("aiohttp.access").disabled = True
    web.run_app(app, host=host, port=port, access_log=None, print=None, handle_signals=True,
                shutdown_timeout=1.0)
