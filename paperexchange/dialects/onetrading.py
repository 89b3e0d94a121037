"""One Trading (the FAST exchange): the REST API the unmodified ccxt ``onetrading`` class uses, at ``BASE/onetrading``.

ccxt's ``urls['api']`` (``https://api.onetrading.com/fast``) becomes
``BASE/onetrading/fast`` and ccxt appends ``/v1/<path>``. What One Trading does,
and so what this dialect does (docs.onetrading.com, ccxt's ``onetrading``):

- Authentication: ``Authorization: Bearer <api key>``; the key is an opaque
  token with no secret and nothing signed. No header: 401 ``MISSING_CREDENTIALS``;
  an unknown token (or a key of another venue): 401 ``INVALID_CREDENTIALS``; a
  key without the scope a route needs (Read for GET, Trade for POST and DELETE):
  403 ``MISSING_PERMISSION``.
- Errors are ``{"error": "CODE"}``; ccxt matches the code exactly against its
  ``exceptions`` table (``INSUFFICIENT_FUNDS``: InsufficientFunds,
  ``NOT_FOUND``/``ORDER_NOT_FOUND``/``INVALID_ORDER_ID``: OrderNotFound,
  ``INVALID_INSTRUMENT_CODE``: BadRequest, ``RATELIMIT``: DDoSProtection...).
- Ids: orders and trades are UUIDs (``ids.uuid_id``, deterministic and
  reversible); a client order id (``client_id``) must be a UUID. One Trading
  does not refuse a ``client_id`` used before: a lookup or a cancel by client id
  takes the most recent order. (The engine refuses a second *open* order with
  the same id; this dialect answers that one case with ``DUPLICATE_CLIENT_ID``.)
- ``GET /account/trades`` answers the newest trades first, pages with an opaque
  ``cursor``, and reads one window: ``from`` and ``to`` (ISO 8601, epoch s/ms/us/ns
  or a date); ``from`` alone covers 7 days (or up to now), ``to`` alone the 7
  days before it, neither the 7 days since midnight UTC a week ago; a window
  over 30 days or a ``from`` in the future is refused. ``to`` is inclusive.
- Limits: 200 requests a minute per account on authenticated routes
  (``bp-remaining-quota`` tells what is left), 240 a minute per IP on every
  route; over either: 429 ``RATELIMIT``. Both are this venue's limiter's
  ``weight_per_minute`` and ``ip_requests_per_minute`` (``POST /_paper/limits``).
- At most 200 open orders per account (422 ``MAX_OPEN_ORDERS_EXCEEDED``).

Orders: ``MARKET`` and ``LIMIT`` (time in force ``GOOD_TILL_CANCELLED``,
``IMMEDIATE_OR_CANCELLED``, ``FILL_OR_KILL``, ``POST_ONLY``); stop orders are
not served. The order and trade history routes read the store directly
(read-only): the engine's own queries are Binance-shaped (one symbol, a 24-hour
window, oldest first).
"""

import asyncio
import base64
import binascii
import json
import re
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from urllib.parse import parse_qsl

from aiohttp import web

from .. import store
from ..engine import NUMBER_RE, dstr
from ..errors import BinanceError
from ..ids import from_uuid_id, uuid_id
from ..market import ORIGIN_MS
from ..plumbing import Route, dumps
from .base import Dialect

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MINUTE_MS = 60_000
DAY_MS = 86_400_000
WEEK_MS = 7 * DAY_MS
MAX_WINDOW_MS = 30 * DAY_MS
ORDER_LOOKUP_MS = 30 * DAY_MS  # an order older than this is not found by id
MAX_OPEN_ORDERS = 200
MAX_PAGE_SIZE = 100
MAX_CANDLES = 5000
LIMITS = {"weight_per_minute": 200, "ip_requests_per_minute": 240}
ACCOUNT_NAMESPACE = uuid.UUID("0b6c3f1e-8f0e-4a53-9d59-0e5a1c7d2b41")
CURRENCY_PRECISION = {"EUR": 2, "USD": 2, "CHF": 2, "USDT": 6, "USDC": 6}
CODE_RE = re.compile(r"^[A-Z][A-Z0-9_]+$")


class OneTradingError(BinanceError):
    """One Trading's answer to a refused request: ``{"error": CODE}`` with an HTTP status."""

    def __init__(self, error, status=400, headers=None, kind="bad_param"):
        super().__init__(0, error, status=status, headers=headers, kind=kind)

    def body(self):
        return {"error": self.msg}


def refuse(code, status=400, kind="bad_param", headers=None):
    return OneTradingError(code, status=status, headers=headers, kind=kind)


# engine errors in One Trading's words --------------------------------------------

_FILTERS = {"PRICE_FILTER": "BAD_PRICE_PRECISION", "LOT_SIZE": "BAD_AMOUNT_PRECISION",
            "NOTIONAL": "MIN_SIZE_NOT_SATISFIED", "MARKET_LOT_SIZE": "INSUFFICIENT_LIQUIDITY"}


def translate(exc):
    """An engine error (Binance's words and a ``kind``) as One Trading's error."""
    if isinstance(exc, OneTradingError):
        return exc
    kind = exc.kind
    if kind == "insufficient_balance":
        return refuse("INSUFFICIENT_FUNDS", 422, kind)
    if kind == "unknown_symbol":
        return refuse("INVALID_INSTRUMENT_CODE", 400, kind)
    if kind == "unknown_order":
        return refuse("ORDER_NOT_FOUND" if exc.code == -2011 else "NOT_FOUND", 404, kind)
    if kind == "filter":
        code = _FILTERS.get(exc.msg.rsplit(": ", 1)[-1], "INVALID_AMOUNT")
        return refuse(code, 422 if code == "INSUFFICIENT_LIQUIDITY" else 400, kind)
    if kind == "duplicate_client_id":
        return refuse("DUPLICATE_CLIENT_ID", 409, kind)
    if kind == "would_take":
        return refuse("POST_ONLY_ORDER_WOULD_MATCH", 422, kind)
    if kind == "rate_limit":
        return refuse("RATELIMIT", 429, kind, exc.headers)
    if kind == "auth":
        return refuse("INVALID_CREDENTIALS", 401, kind)
    return refuse("INVALID_QUERY", 400, kind)


# formats ---------------------------------------------------------------------------

def iso(ms):
    """Milliseconds since the epoch as One Trading writes times: ``2024-11-14T10:26:57.241Z``."""
    return datetime.fromtimestamp(ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def parse_time(raw):
    """A time as One Trading takes it (ISO 8601, epoch s/ms/us/ns, a date) in ms, or None."""
    raw = raw.strip()
    if raw.isdigit():
        n, digits = int(raw), len(raw)
        return n * 1000 if digits <= 10 else n if digits <= 13 else n // 1000 if digits <= 16 else n // 1_000_000
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - EPOCH  # exact, where a float timestamp is not
    return delta.days * DAY_MS + delta.seconds * 1000 + delta.microseconds // 1000


def num(value):
    return dstr(Decimal(value))


def account_uuid(account_id):
    return str(uuid.uuid5(ACCOUNT_NAMESPACE, str(account_id)))


def instrument(sym):
    return f"{sym.base}_{sym.quote}"


def venue_markets(ctx):
    """The venue's symbols as engine ``Symbol`` objects, in configuration order."""
    market = ctx.state.market
    return [market.symbols[name] for name in ctx.state.engine.venue_symbols(ctx.venue)]


def symbol_of(ctx, code):
    if not code:
        raise refuse("MISSING_INSTRUMENT_CODE")
    for sym in venue_markets(ctx):
        if instrument(sym) == code:
            return sym
    raise refuse("INVALID_INSTRUMENT_CODE", kind="unknown_symbol")


def flag(params, name):
    return str(params.get(name, "")).lower() == "true"


def client_uuid(raw):
    """A client id as stored: the UUID in its canonical form, or None if ``raw`` is not a UUID."""
    try:
        return str(uuid.UUID(str(raw)))
    except ValueError:
        return None


def positive(raw, what, missing=None):
    """An amount or price: a plain positive decimal string, as the engine takes it."""
    if raw is None or raw == "":
        raise refuse(missing or f"INVALID_{what}")
    if raw.startswith("-") and NUMBER_RE.match(raw[1:]):
        raise refuse(f"NEGATIVE_{what}")
    if not NUMBER_RE.match(raw) or Decimal(raw) == 0:
        raise refuse(f"INVALID_{what}")
    return raw


def fee_percentage(ctx):
    return num(ctx.state.engine.fee_rate * 100)


# orders and trades as One Trading shows them -----------------------------------------

_STATUS = {"NEW": "OPEN", "FILLED": "FILLED_FULLY", "CANCELED": "CANCELLED", "EXPIRED": "CANCELLED"}
_TIF_OUT = {"GTC": "GOOD_TILL_CANCELLED", "IOC": "IMMEDIATE_OR_CANCELLED", "FOK": "FILL_OR_KILL"}
_TIF_IN = {"GOOD_TILL_CANCELLED": ("LIMIT", "GTC"), "IMMEDIATE_OR_CANCELLED": ("LIMIT", "IOC"),
           "FILL_OR_KILL": ("LIMIT", "FOK"), "POST_ONLY": ("LIMIT_MAKER", None)}


def order_json(ctx, row, trades):
    sym = ctx.state.market.symbols[row["symbol"]]
    executed, cum = Decimal(row["executed_qty"]), Decimal(row["cum_quote"])
    status = _STATUS[row["status"]]
    if status == "CANCELLED" and executed:
        status = "FILLED_CLOSED"
    body = {
        "order_id": uuid_id(row["id"]), "account_id": account_uuid(row["account_id"]),
        "instrument_code": instrument(sym), "time": iso(row["time_ms"]), "side": row["side"],
        "amount": num(row["orig_qty"]), "filled_amount": dstr(executed),
        "type": "MARKET" if row["type"] == "MARKET" else "LIMIT", "status": status, "sequence": row["id"],
        "time_last_updated": iso(row["update_ms"]),
    }
    client_id = client_uuid(row["client_order_id"])
    if client_id:  # the ids the engine makes up for orders sent without one are not UUIDs: not shown
        body["client_id"] = client_id
    average = cum / executed if executed else None
    if row["type"] == "MARKET":
        if average is not None:
            body["price"] = dstr(average)
    else:
        body["price"] = num(row["price"])
        body["time_in_force"] = "POST_ONLY" if row["type"] == "LIMIT_MAKER" else _TIF_OUT[row["time_in_force"]]
        body["is_post_only"] = row["type"] == "LIMIT_MAKER"
    if average is not None:
        body["average_price"] = dstr(average)
    if trades:
        body["total_fee"] = dstr(sum(Decimal(t["commission"]) for t in trades))
        body["fee_currency"] = trades[0]["commission_asset"]
    return body


def trade_json(ctx, row):
    sym = ctx.state.market.symbols[row["symbol"]]
    role = "MAKER" if row["is_maker"] else "TAKER"
    return {
        "trade": {
            "trade_id": uuid_id(row["id"], "trade"), "order_id": uuid_id(row["order_id"]),
            "account_id": account_uuid(row["account_id"]), "amount": num(row["qty"]),
            "side": "BUY" if row["is_buyer"] else "SELL", "instrument_code": instrument(sym),
            "price": num(row["price"]), "time": iso(row["time_ms"]), "matched_as": role, "sequence": row["id"],
        },
        "fee": {
            "fee_amount": num(row["commission"]), "fee_currency": row["commission_asset"],
            "fee_percentage": fee_percentage(ctx), "fee_group_id": "SPOT", "fee_type": role,
            "running_trading_volume": "0",
        },
    }


def trades_of_orders(conn, order_ids):
    """{order id: [trade rows, oldest first]}."""
    out = {i: [] for i in order_ids}
    if order_ids:
        marks = ",".join("?" * len(order_ids))
        for row in conn.execute(f"SELECT * FROM trades WHERE order_id IN ({marks}) ORDER BY id", tuple(order_ids)):
            out[row["order_id"]].append(row)
    return out


def order_with_trades(ctx, row):
    trades = trades_of_orders(ctx.state.conn, [row["id"]])[row["id"]]
    return {"order": order_json(ctx, row, trades), "trades": [trade_json(ctx, t) for t in trades]}


# history windows and pages --------------------------------------------------------------

def history_window(params, now, span, default_from):
    """(from, to) in ms by One Trading's rules for the account history routes."""
    raw_from, raw_to = params.get("from"), params.get("to")
    start = end = None
    if raw_from:
        start = parse_time(raw_from)
        if start is None:
            raise refuse("INVALID_ACCOUNT_HISTORY_FROM_TIME")
    if raw_to:
        end = parse_time(raw_to)
        if end is None:
            raise refuse("INVALID_ACCOUNT_HISTORY_TO_TIME")
    if start is None and end is None:
        start, end = default_from, now
    elif end is None:
        end = min(start + span, now)
    elif start is None:
        start = end - span
    if start > now:
        raise refuse("INVALID_ACCOUNT_HISTORY_FROM_TIME")
    if end < start:
        raise refuse("INVALID_ACCOUNT_HISTORY_TIME_PERIOD")
    if end - start > MAX_WINDOW_MS:
        raise refuse("ACCOUNT_HISTORY_TIME_RANGE_TOO_BIG")
    return start, end


def page_size(params):
    raw = params.get("max_page_size")
    if raw is None or raw == "":
        return MAX_PAGE_SIZE
    if not raw.isdigit() or int(raw) > MAX_PAGE_SIZE:
        raise refuse("INVALID_ACCOUNT_HISTORY_MAX_PAGE_SIZE")
    return int(raw) or MAX_PAGE_SIZE


def encode_cursor(row):
    return base64.urlsafe_b64encode(json.dumps([row["time_ms"], row["id"]]).encode()).decode().rstrip("=")


def decode_cursor(raw):
    """The (time, id) a page ended with, or None for the first page."""
    if not raw:
        return None
    try:
        time_ms, row_id = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        return int(time_ms), int(row_id)
    except (ValueError, TypeError, binascii.Error):
        raise refuse("INVALID_CURSOR") from None


def newest_first(conn, table, where, args, params):
    """One page of ``table`` rows matching ``where``, newest first, and the cursor of the next page (or None)."""
    size = page_size(params)
    after = decode_cursor(params.get("cursor"))
    if after is not None:
        where += " AND (time_ms < ? OR (time_ms = ? AND id < ?))"
        args = (*args, after[0], after[0], after[1])
    rows = conn.execute(f"SELECT * FROM {table} WHERE {where} ORDER BY time_ms DESC, id DESC LIMIT ?",
                        (*args, size + 1)).fetchall()
    if len(rows) > size:
        return rows[:size], size, encode_cursor(rows[size - 1])
    return rows, size, None


def instruments_clause(ctx, params):
    codes = params.get("instrument_code")
    if not codes:
        return "", ()
    names = tuple(symbol_of(ctx, code.strip()).symbol for code in codes.split(","))
    return f" AND symbol IN ({','.join('?' * len(names))})", names


def paged(key, items, size, cursor):
    """A page as One Trading answers it: the items, the page size and, when more follow, the cursor."""
    body = {key: items, "max_page_size": size}
    if cursor:
        body["cursor"] = cursor
    return body


# public routes -------------------------------------------------------------------------

def h_time(ctx):
    return {"iso": iso(ctx.now), "epoch_millis": ctx.now}


def h_currencies(ctx):
    codes = []
    for sym in venue_markets(ctx):
        for code in (sym.base, sym.quote):
            if code not in codes:
                codes.append(code)
    return [{"code": code, "precision": CURRENCY_PRECISION.get(code, 8), "name": code, "collateral_percentage": 0}
            for code in codes]


def h_instruments(ctx):
    return [{
        "base": {"code": sym.base, "precision": CURRENCY_PRECISION.get(sym.base, 8)},
        "quote": {"code": sym.quote, "precision": CURRENCY_PRECISION.get(sym.quote, 8)},
        "amount_precision": sym.step_places, "market_precision": sym.tick_places, "min_size": num(sym.min_notional),
        "min_price": num(sym.tick), "max_price": num(sym.max_price), "id": instrument(sym), "type": "SPOT",
        "state": "ACTIVE",
    } for sym in venue_markets(ctx)]


def _fee_tier(ctx, group):
    pct = num(ctx.state.engine.fee_rate * 100)
    return {"fee_group_id": group, "volume": "0", "maker_fee": pct, "taker_fee": pct}


def h_fee_groups(ctx):
    return [{"fee_group_id": group, "display_text": f"The fee plan for {group.lower()} trading.",
             "volume_currency": "EUR", "fee_tiers": [_fee_tier(ctx, group)]} for group in ("SPOT", "FUTURES")]


def ticker_json(ctx, sym):
    t = ctx.state.market.ticker_24h(sym.symbol, ctx.now)
    return {
        "instrument_code": instrument(sym), "sequence": ctx.now // 1000, "time": iso(ctx.now), "state": "ACTIVE",
        "is_frozen": 0, "quote_volume": num(t["quoteVolume"]), "base_volume": num(t["volume"]),
        "last_price": num(t["lastPrice"]), "best_bid": num(t["bidPrice"]), "best_ask": num(t["askPrice"]),
        "price_change": num(t["priceChange"]), "price_change_percentage": num(t["priceChangePercent"]),
        "high": num(t["highPrice"]), "low": num(t["lowPrice"]),
    }


def h_tickers(ctx):
    return [ticker_json(ctx, sym) for sym in venue_markets(ctx)]


def h_ticker(ctx):
    return ticker_json(ctx, symbol_of(ctx, ctx.request.match_info["instrument_code"]))


def h_order_book(ctx):
    sym = symbol_of(ctx, ctx.request.match_info["instrument_code"])
    raw_level, raw_depth = ctx.params.get("level") or "3", ctx.params.get("depth") or "100"
    if raw_level not in ("1", "2", "3"):
        raise refuse("INVALID_ORDER_BOOK_LEVEL")
    if not raw_depth.isdigit() or not 1 <= int(raw_depth) <= 5000:
        raise refuse("INVALID_ORDER_BOOK_DEPTH")
    depth = 1 if raw_level == "1" else int(raw_depth)
    book = ctx.state.market.depth(sym.symbol, depth, ctx.now)

    def side(levels, name):
        out = []
        for i, (price, amount) in enumerate(levels):
            entry = {"price": num(price), "amount": num(amount)}
            if raw_level == "3":
                seed = f"book:{sym.symbol}:{name}:{book['lastUpdateId']}:{i}"
                entry["order_id"] = str(uuid.uuid5(ACCOUNT_NAMESPACE, seed))
            else:
                entry["number_of_orders"] = 1
            out.append(entry)
        return out
    return {"instrument_code": instrument(sym), "time": iso(ctx.now), "sequence": book["lastUpdateId"],
            "bids": side(book["bids"], "bid"), "asks": side(book["asks"], "ask")}


# candlesticks: unit -> {period: the market's interval, or "month"}
_GRANULARITIES = {"MINUTES": {1: "1m", 5: "5m", 15: "15m", 30: "30m"}, "HOURS": {1: "1h", 4: "4h"},
                  "DAYS": {1: "1d"}, "WEEKS": {1: "1w"}, "MONTHS": {1: "month"}}
_MINUTES = {"1m": 1, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "4h": 240, "1d": 1440, "1w": 10080}


def _month_buckets(start_ms, end_ms, now):
    """(first minute, minutes) of each calendar month starting in [start, min(end, now)]."""
    moment = datetime.fromtimestamp(max(start_ms, ORIGIN_MS) // 1000, UTC)
    year, month = moment.year, moment.month
    first = datetime(year, month, 1, tzinfo=UTC)
    if first.timestamp() * 1000 < max(start_ms, ORIGIN_MS):
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    out = []
    while True:
        begin = int(datetime(year, month, 1, tzinfo=UTC).timestamp() * 1000)
        if begin > min(end_ms, now):
            return out
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        stop = int(datetime(year, month, 1, tzinfo=UTC).timestamp() * 1000)
        out.append((begin // MINUTE_MS, (stop - begin) // MINUTE_MS))


def _candles(market, symbol, interval, start, end, now):
    if interval == "month":
        return [market.kline_row(symbol, bucket, step, now) for bucket, step in _month_buckets(start, end, now)]
    return market.klines(symbol, interval, start, end, MAX_CANDLES, now)


def h_candlesticks(ctx):
    p = ctx.params
    sym = symbol_of(ctx, ctx.request.match_info["instrument_code"])
    unit, period = p.get("unit"), p.get("period")
    if not unit:
        raise refuse("MISSING_CANDLESTICKS_UNIT_PARAM")
    if not period:
        raise refuse("MISSING_CANDLESTICKS_PERIOD_PARAM")
    if unit not in _GRANULARITIES:
        raise refuse("INVALID_CANDLESTICKS_UNIT")
    if not period.isdigit():
        raise refuse("INVALID_PERIOD")
    interval = _GRANULARITIES[unit].get(int(period))
    if interval is None:
        raise refuse("INVALID_CANDLESTICKS_GRANULARITY")
    if not p.get("from"):
        raise refuse("MISSING_FROM_PARAM")
    if not p.get("to"):
        raise refuse("MISSING_TO_PARAM")
    start, end = parse_time(p["from"]), parse_time(p["to"])
    if start is None or end is None:
        raise refuse("INVALID_TIME")
    if end < start:
        raise refuse("INVALID_TIME_RANGE")
    if interval != "month" and (end - start) // (_MINUTES[interval] * MINUTE_MS) > MAX_CANDLES:
        raise refuse("CANDLESTICKS_TIME_RANGE_TOO_BIG")
    granularity = {"unit": unit, "period": int(period)}
    code = instrument(sym)

    def answer(rows):
        return {"candlesticks": [{
            "instrument_code": code, "granularity": granularity, "high": num(r[2]), "low": num(r[3]),
            "open": num(r[1]), "close": num(r[4]), "total_amount": num(r[5]), "volume": num(r[7]),
            "time": iso(r[6]), "last_sequence": r[8],
        } for r in rows]}

    # a long range may need days of minutes computed: do it off the event loop
    rows = asyncio.get_running_loop().run_in_executor(None, _candles, ctx.state.market, sym.symbol, interval, start,
                                                      end, ctx.now)
    return asyncio.ensure_future(_then(rows, answer))


async def _then(future, fn):
    return fn(await future)


# account routes -------------------------------------------------------------------------

def h_balances(ctx):
    account = account_uuid(ctx.account_id)
    rows = ctx.state.engine.balances(ctx.account_id, ctx.now)
    return {"account_id": account, "balances": [{
        "account_id": account, "currency_code": r["asset"], "change": "0", "available": num(r["free"]),
        "locked": num(r["locked"]), "sequence": 0, "time": iso(ctx.now)} for r in rows]}


def h_account_fees(ctx):
    return {"account_id": account_uuid(ctx.account_id),
            "running_volumes": [{"fee_group_id": g, "volume": "0", "currency": "EUR"} for g in ("SPOT", "FUTURES")],
            "active_fee_tiers": [_fee_tier(ctx, "SPOT"), _fee_tier(ctx, "FUTURES")]}


def h_order_new(ctx):
    st, p = ctx.state, ctx.params
    sym = symbol_of(ctx, p.get("instrument_code"))
    otype = (p.get("type") or "").upper()
    if not otype:
        raise refuse("MISSING_ORDER_TYPE")
    if otype not in ("MARKET", "LIMIT"):
        raise refuse("INVALID_ORDER_TYPE")
    side = p.get("side")
    if not side:
        raise refuse("MISSING_SIDE")
    if side not in ("BUY", "SELL"):
        raise refuse("INVALID_SIDE")
    request = {"symbol": sym.symbol, "side": side, "quantity": positive(p.get("amount"), "AMOUNT"),
               "newOrderRespType": "FULL"}
    if p.get("client_id"):
        client_id = client_uuid(p["client_id"])
        if client_id is None:
            raise refuse("INVALID_CLIENT_UUID")
        request["newClientOrderId"] = client_id
    if otype == "MARKET":
        request["type"] = "MARKET"
    else:
        request["price"] = positive(p.get("price"), "PRICE", missing="MISSING_PRICE")
        tif = "POST_ONLY" if flag(p, "is_post_only") else (p.get("time_in_force") or "GOOD_TILL_CANCELLED")
        if tif not in _TIF_IN:
            raise refuse("INVALID_TIME_IN_FORCE")
        request["type"], engine_tif = _TIF_IN[tif]
        if engine_tif:
            request["timeInForce"] = engine_tif
        open_orders = st.conn.execute("SELECT COUNT(*) FROM orders WHERE account_id = ? AND status = 'NEW'",
                                      (ctx.account_id,)).fetchone()[0]
        if open_orders >= MAX_OPEN_ORDERS:
            raise refuse("MAX_OPEN_ORDERS_EXCEEDED", 422)
    row, _, _ = st.engine.place_order(ctx.account_id, request, ctx.now, reject=ctx.take_reject)
    st.counters.orders += 1
    st.counters.orders_by_client_id[row["client_order_id"]] += 1
    return order_json(ctx, row, trades_of_orders(st.conn, [row["id"]])[row["id"]])


def _order_by_id(ctx, unknown):
    raw = ctx.request.match_info["order_id"]
    if client_uuid(raw) is None:
        raise refuse("INVALID_ORDER_ID", 400, "unknown_order")
    number = from_uuid_id(raw, "order")
    if number is None:
        raise unknown
    return {"orderId": str(number)}


def _order_by_client_id(ctx):
    client_id = client_uuid(ctx.request.match_info["client_id"])
    if client_id is None:
        raise refuse("INVALID_CLIENT_UUID")
    return {"origClientOrderId": client_id}


def _find(ctx, lookup, unknown):
    engine = ctx.state.engine
    engine.match_account(ctx.account_id, ctx.now)
    row = engine.find_order(ctx.account_id, None, lookup, unknown)
    if row["time_ms"] < ctx.now - ORDER_LOOKUP_MS:
        raise unknown
    return row


def _not_found():
    return refuse("NOT_FOUND", 404, "unknown_order")


def _cancel_not_found():
    return refuse("ORDER_NOT_FOUND", 404, "unknown_order")


def h_order_get(ctx):
    unknown = _not_found()
    return order_with_trades(ctx, _find(ctx, _order_by_id(ctx, unknown), unknown))


def h_order_get_by_client_id(ctx):
    return order_with_trades(ctx, _find(ctx, _order_by_client_id(ctx), _not_found()))


def _cancel(ctx, row):
    canceled, _ = ctx.state.engine.cancel_order(
        ctx.account_id, {"symbol": row["symbol"], "orderId": str(row["id"])}, ctx.now)
    return order_json(ctx, canceled, trades_of_orders(ctx.state.conn, [row["id"]])[row["id"]])


def h_order_cancel(ctx):
    unknown = _cancel_not_found()
    return _cancel(ctx, _find(ctx, _order_by_id(ctx, unknown), unknown))


def h_order_cancel_by_client_id(ctx):
    return _cancel(ctx, _find(ctx, _order_by_client_id(ctx), _cancel_not_found()))


def h_cancel_all(ctx):
    """Cancel the open orders (of ``instrument_code``, or those of ``ids``): the ids cancelled."""
    st, p = ctx.state, ctx.params
    st.engine.match_account(ctx.account_id, ctx.now)
    clause, args = instruments_clause(ctx, p)
    rows = st.conn.execute("SELECT * FROM orders WHERE account_id = ? AND status = 'NEW'" + clause + " ORDER BY id",
                           (ctx.account_id, *args)).fetchall()
    if p.get("ids"):
        wanted = {from_uuid_id(i.strip(), "order") for i in p["ids"].split(",")}
        rows = [r for r in rows if r["id"] in wanted]
    for row in rows:
        st.engine.cancel_order(ctx.account_id, {"symbol": row["symbol"], "orderId": str(row["id"])}, ctx.now)
    return [uuid_id(r["id"]) for r in rows]


_WITH_CANCELLED = ("NEW", "FILLED", "CANCELED", "EXPIRED")


def h_orders(ctx):
    """Open orders by default; with ``with_just_filled_inactive`` filled ones too, with
    ``with_cancelled_and_rejected`` every order (then the default window is the last day). Newest first."""
    st, p, now = ctx.state, ctx.params, ctx.now
    st.engine.match_account(ctx.account_id, now)
    if flag(p, "with_cancelled_and_rejected"):
        statuses = _WITH_CANCELLED
    elif flag(p, "with_just_filled_inactive"):
        statuses = ("NEW", "FILLED")
    else:
        statuses = ("NEW",)
    where = f"account_id = ? AND status IN ({','.join('?' * len(statuses))})"
    args = (ctx.account_id, *statuses)
    if statuses != ("NEW",) or p.get("from") or p.get("to"):
        start, end = history_window(p, now, DAY_MS, now - DAY_MS)
        where += " AND time_ms >= ? AND time_ms <= ?"
        args += (start, end)
    clause, names = instruments_clause(ctx, p)
    rows, size, cursor = newest_first(st.conn, "orders", where + clause, args + names, p)
    trades = {} if flag(p, "with_just_orders") else trades_of_orders(st.conn, [r["id"] for r in rows])
    history = [{"order": order_json(ctx, r, trades.get(r["id"])),
                "trades": [trade_json(ctx, t) for t in trades.get(r["id"], ())]} for r in rows]
    return paged("order_history", history, size, cursor)


def h_order_trades(ctx):
    unknown = _not_found()
    row = _find(ctx, _order_by_id(ctx, unknown), unknown)
    rows, size, cursor = newest_first(ctx.state.conn, "trades", "account_id = ? AND order_id = ?",
                                      (ctx.account_id, row["id"]), ctx.params)
    return paged("trade_history", [trade_json(ctx, r) for r in rows], size, cursor)


def h_trades(ctx):
    """The account's trades in one window, newest first, ``max_page_size`` a page, then ``cursor``."""
    st, p = ctx.state, ctx.params
    midnight_week_ago = (ctx.now - WEEK_MS) // DAY_MS * DAY_MS
    start, end = history_window(p, ctx.now, WEEK_MS, midnight_week_ago)
    clause, names = instruments_clause(ctx, p)
    st.engine.match_account(ctx.account_id, ctx.now)
    rows, size, cursor = newest_first(st.conn, "trades", "account_id = ? AND time_ms >= ? AND time_ms <= ?" + clause,
                                      (ctx.account_id, start, end, *names), p)
    return paged("trade_history", [trade_json(ctx, r) for r in rows], size, cursor)


def h_trade(ctx):
    raw = ctx.request.match_info["trade_id"]
    if client_uuid(raw) is None:
        raise refuse("INVALID_TRADE_ID")
    number = from_uuid_id(raw, "trade")
    ctx.state.engine.match_account(ctx.account_id, ctx.now)
    row = None if number is None else ctx.state.conn.execute(
        "SELECT * FROM trades WHERE id = ? AND account_id = ? AND time_ms >= ?",
        (number, ctx.account_id, ctx.now - ORDER_LOOKUP_MS)).fetchone()
    if row is None:
        raise _not_found()
    return trade_json(ctx, row)


V1 = "/fast/v1"
ROUTES = [
    Route("GET", V1 + "/time", h_time),
    Route("GET", V1 + "/currencies", h_currencies),
    Route("GET", V1 + "/instruments", h_instruments),
    Route("GET", V1 + "/fees", h_fee_groups),
    Route("GET", V1 + "/market-ticker", h_tickers),
    Route("GET", V1 + "/market-ticker/{instrument_code}", h_ticker),
    Route("GET", V1 + "/candlesticks/{instrument_code}", h_candlesticks),
    Route("GET", V1 + "/order-book/{instrument_code}", h_order_book),
    Route("GET", V1 + "/account/balances", h_balances, signed="read"),
    Route("GET", V1 + "/account/fees", h_account_fees, signed="read"),
    Route("GET", V1 + "/account/orders", h_orders, signed="read"),
    Route("POST", V1 + "/account/orders", h_order_new, signed="trade", is_order=True),
    Route("DELETE", V1 + "/account/orders", h_cancel_all, signed="trade"),
    Route("GET", V1 + "/account/orders/client/{client_id}", h_order_get_by_client_id, signed="read"),
    Route("DELETE", V1 + "/account/orders/client/{client_id}", h_order_cancel_by_client_id, signed="trade"),
    Route("GET", V1 + "/account/orders/{order_id}", h_order_get, signed="read"),
    Route("DELETE", V1 + "/account/orders/{order_id}", h_order_cancel, signed="trade"),
    Route("GET", V1 + "/account/orders/{order_id}/trades", h_order_trades, signed="read"),
    Route("GET", V1 + "/account/trades", h_trades, signed="read"),
    Route("GET", V1 + "/account/trade/{trade_id}", h_trade, signed="read"),
]

_SERVER_ERRORS = {
    500: (b'{"error":"INTERNAL_SERVER_ERROR"}', "application/json"),
    502: (b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>",
          "text/html"),
    503: (b'{"error":"SERVICE_UNAVAILABLE"}', "application/json"),
    504: (b'{"error":"GATEWAY_TIMEOUT"}', "application/json"),
}


def bearer_token(request):
    """The token of ``Authorization: Bearer <token>``; "" without one (no header, or "Bearer" alone);
    None when the header holds another scheme."""
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    if not scheme:
        return ""
    return token.strip() if scheme.lower() == "bearer" else None


class OneTradingDialect(Dialect):
    venue = "onetrading"
    prefix = "/onetrading"
    routes = ROUTES

    def rate_limits(self, configured):
        return {**configured, **LIMITS}

    def read_params(self, raw_query, raw_body):
        """The query string, then a JSON body (ccxt sends POST parameters as JSON), as strings."""
        params = dict(parse_qsl(raw_query, keep_blank_values=True))
        if raw_body:
            try:
                body = json.loads(raw_body)
            except ValueError:
                raise refuse("INVALID_QUERY") from None
            if not isinstance(body, dict):
                raise refuse("INVALID_QUERY")
            for name, value in body.items():
                if value is not None:
                    params[name] = ("true" if value else "false") if isinstance(value, bool) else str(value)
        return params

    def charge(self, ctx, route, weight):
        """Every request counts per IP; an authenticated one also per account (``bp-remaining-quota``)."""
        limiter = ctx.limiter
        _, err, _ = limiter.charge("ip:" + ctx.ip, weight, ctx.now, limit=limiter.limits["ip_requests_per_minute"])
        if err is not None:
            return {}, refuse("RATELIMIT", 429, "rate_limit", err.headers)
        if not route.signed:
            return {}, None
        token = bearer_token(ctx.request)
        key = store.key_get(ctx.state.conn, token, venue=self.venue) if token else None
        if key is None:
            return {}, None  # refused by authenticate
        ctx.key = key
        used, err, _ = limiter.charge(f"account:{key['account_id']}", weight, ctx.now)
        headers = {"bp-remaining-quota": str(max(0, limiter.limits["weight_per_minute"] - used))}
        if err is not None:
            return headers, refuse("RATELIMIT", 429, "rate_limit", err.headers)
        return headers, None

    def authenticate(self, ctx, route):
        token = bearer_token(ctx.request)
        if token == "":
            raise refuse("MISSING_CREDENTIALS", 401, "auth")
        key = ctx.key or (store.key_get(ctx.state.conn, token, venue=self.venue) if token else None)
        if key is None:
            raise refuse("INVALID_CREDENTIALS", 401, "auth")
        if key["ips"] and ctx.ip not in key["ips"].split(","):
            raise refuse("INVALID_IP_RESTRICTION", 403, "auth")
        if not (key["can_trade"] if route.signed == "trade" else key["can_read"]):
            raise refuse("MISSING_PERMISSION", 403, "auth")
        ctx.key = key
        ctx.account_id = key["account_id"]

    def error_response(self, exc, headers=None):
        err = translate(exc)
        return web.Response(body=dumps(err.body()), status=err.status, content_type="application/json",
                            headers={**(headers or {}), **err.headers})

    def forced_error(self, status, now):
        # One Trading throttles an account with 429 RATELIMIT; an IP over its limit is blocked at the edge
        return refuse("RATELIMIT" if status == 429 else "CF_RATELIMIT", 429, "rate_limit", {"Retry-After": "1"})

    def server_error(self, status):
        body, ctype = _SERVER_ERRORS[status]
        return web.Response(body=body, status=status, content_type=ctype)

    def reject_error(self, knob):
        """The reject knob's ``msg`` if it is a One Trading code (``INSUFFICIENT_LIQUIDITY``), else ORDER_REJECTED."""
        msg = knob["msg"]
        return refuse(msg if CODE_RE.match(msg) else "ORDER_REJECTED", 422, "rejected")


DIALECT = OneTradingDialect()
