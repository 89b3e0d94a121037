"""Bitvavo: the REST API v2 subset the unmodified ccxt ``bitvavo`` class uses, at ``BASE/bitvavo``.

ccxt's ``urls['api']`` entries (``https://api.bitvavo.com``) become
``BASE/bitvavo`` and ccxt appends ``/v2/<path>``, so every route here is
``/v2/...`` below the prefix. What follows Bitvavo (docs.bitvavo.com) and
ccxt's ``bitvavo`` class:

- JSON bodies for POST; query strings for GET and DELETE. Markets are
  ``BTC-EUR``; numbers are strings; ``operatorId`` is a JSON number.
- Signing: ``Bitvavo-Access-Signature`` is the hex HMAC-SHA256, keyed with the
  64-hex secret as text, of timestamp + method + url + body, where url is the
  path from ``/v2`` with its query string (ccxt signs ``/v2/...``; the server
  receives ``/bitvavo/v2/...`` and verifies without the prefix).
  ``Bitvavo-Access-Timestamp`` must be within ``Bitvavo-Access-Window``
  (100..60000 ms, default 10000) of the server's clock, either way.
- Ids: orders and trades are UUIDs (``ids.uuid_id``). A ``clientOrderId``
  must be a UUID and unique among the account's open orders; it is returned
  only when the order was given one. ``operatorId`` (an integer naming the
  trader or bot) is required to create and to cancel an order; it is checked,
  not stored.
- Errors: ``{"errorCode": n, "error": "..."}``. 400 for request and order
  errors (203 missing, 205 invalid, 216 insufficient balance, 217 below the
  minimum order, 220 clientOrderId in use, 233 not open), 403 for keys (300
  to 311), 404 for an unknown order (240), 429 for the rate limit (110; 105
  for the ban the ``force`` 418 knob stands for).
- Rate limit: 1,000 weight points a minute (``weight_per_minute``), counted
  per API key for signed requests and per IP otherwise, in fixed minutes;
  every answer carries ``Bitvavo-Ratelimit-Limit``, ``-Remaining`` and
  ``-ResetAt``. A key over the limit is refused until the end of the next
  minute, an IP for 15 minutes more. Bitvavo publishes no separate
  order-count limit, so none is counted.
- Trades (``GET /v2/trades``) and orders (``GET /v2/orders``) come newest
  first; ``start`` and ``end`` (ms) are inclusive; ``limit`` 1..1000 (500).
"""

import asyncio
import hashlib
import hmac
import json
import re
from decimal import Decimal
from urllib.parse import parse_qsl

from aiohttp import web

from .. import store
from ..engine import dstr
from ..errors import BinanceError
from ..ids import from_uuid_id, uuid_id
from ..plumbing import Route, dumps
from ..ratelimit import IpState
from .base import Dialect

MINUTE_MS = 60000
KEY_BLOCK_MS = MINUTE_MS  # a key over the limit: the rest of this minute, then one more
IP_BLOCK_MS = 15 * MINUTE_MS  # an IP over the limit: the rest of this minute, then fifteen more
DEFAULT_WINDOW_MS = 10000
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
NUMBER_RE = re.compile(r"^[0-9]{1,20}(\.[0-9]{1,20})?$")
INT64_MAX = (1 << 63) - 1
# Bitvavo's candle intervals; "1W" is a Monday-to-Monday week, as the engine's "1w"
CANDLE_INTERVALS = {name: name for name in ("1m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d")}
CANDLE_INTERVALS["1W"] = "1w"
ASSET_DECIMALS = {"EUR": 2, "USDT": 6, "USDC": 6}
ASSET_NAMES = {"BTC": "Bitcoin", "ETH": "Ethereum", "SOL": "Solana", "USDT": "Tether", "USDC": "USD Coin", "EUR": "Euro",
               "USD": "US Dollar", "PUMP": "Pump"}
CAPABILITIES = ["buy", "sell", "depositCrypto", "depositFiat", "withdrawCrypto", "withdrawFiat"]


class BitvavoError(BinanceError):
    """An error in Bitvavo's shape, ``{"errorCode": n, "error": "..."}``; ``kind`` as the engine's errors."""

    def __init__(self, code, msg, status=400, kind="bad_param", headers=None):
        super().__init__(code, msg, status=status, headers=headers, kind=kind)

    def body(self):
        return {"errorCode": self.code, "error": self.msg}


def missing(name):
    return BitvavoError(203, f"{name} parameter is required.")


def invalid(name):
    return BitvavoError(205, f"{name} parameter is invalid.")


def no_order():
    return BitvavoError(240, "No order found. Please be aware that simultaneously updating the same order may return "
                             "this error.", status=404, kind="unknown_order")


def insufficient_balance():
    return BitvavoError(216, "You do not have sufficient balance to complete this operation.",
                        kind="insufficient_balance")


def auth_error(code, msg):
    return BitvavoError(code, msg, status=403, kind="auth")


def rate_limited(limit, until):
    return BitvavoError(110, f"You have exceeded the rate limit of {limit} weight points per minute. "
                             f"Requests are refused until {until}.", status=429, kind="rate_limit")


def banned(until):
    return BitvavoError(105, f"Your IP or API key has been banned for not respecting the rate limit. The ban expires "
                             f"at {until}.", status=429, kind="rate_limit")


def _filter_error(exc, sym):
    """An engine filter failure (Binance's filter names) as Bitvavo's order error."""
    name = exc.msg.rsplit(" ", 1)[-1]
    if name == "NOTIONAL":
        quote = sym.quote if sym else "EUR"
        minimum = f"{sym.min_notional:.2f}" if sym else "5.00"
        return BitvavoError(217, f"Minimum order size in quote currency is {minimum} {quote}.", kind="filter")
    if name == "MARKET_LOT_SIZE":
        maximum = dstr(sym.market_max_qty) if sym else "the maximum"
        return BitvavoError(210, f"Amount exceeds the maximum allowed amount ({maximum}).", kind="filter")
    if name == "PRICE_FILTER":
        return BitvavoError(205, "price parameter is invalid.", kind="filter")
    return BitvavoError(205, "amount parameter is invalid.", kind="filter")


def from_engine(exc, sym=None):
    """An engine error (Binance's words and a venue-neutral kind) as Bitvavo's error."""
    if isinstance(exc, BitvavoError):
        return exc
    kind = exc.kind
    if kind == "insufficient_balance":
        return insufficient_balance()
    if kind == "unknown_symbol":
        return BitvavoError(205, "market parameter is invalid.", kind=kind)
    if kind == "unknown_order":
        return no_order()
    if kind == "duplicate_client_id":
        return BitvavoError(220, "clientOrderId conflict within the market.", kind=kind)
    if kind == "would_take":
        return BitvavoError(230, "The order is rejected by the matching engine. A postOnly order would have taken "
                                 "liquidity.", kind=kind)
    if kind == "filter":
        return _filter_error(exc, sym)
    if kind == "rate_limit":
        return BitvavoError(110, exc.msg, status=429, kind=kind)
    if kind == "auth":
        return auth_error(300, "Authentication is required for this endpoint.")
    return BitvavoError(205, exc.msg, kind=kind)


# shapes ---------------------------------------------------------------------------

def market_id(sym):
    return f"{sym.base}-{sym.quote}"


def num(value):
    """A Decimal (or a decimal string) as Bitvavo's plain decimal string."""
    return dstr(Decimal(value))


def client_id_of(row):
    """The order's clientOrderId if the client gave one (a UUID); generated and web ids are not shown."""
    cid = row["client_order_id"]
    return cid if cid and UUID_RE.match(cid) else None


def _fee_currency(row, sym):
    if row["fee_asset"] == "quote" or row["side"] == "SELL":
        return sym.quote
    return sym.base


def fill_json(trade):
    return {"id": uuid_id(trade["id"], "trade"), "timestamp": trade["time_ms"], "amount": trade["qty"],
            "price": trade["price"], "taker": not trade["is_maker"], "fee": trade["commission"],
            "feeCurrency": trade["commission_asset"], "settled": True}


def _status(row):
    status = row["status"]
    if status == "EXPIRED":
        return {"IOC": "canceledIOC", "FOK": "canceledFOK"}.get(row["time_in_force"], "expired")
    return status.lower()


def order_json(st, row, fills):
    sym = st.market.symbols[row["symbol"]]
    executed, cum = Decimal(row["executed_qty"]), Decimal(row["cum_quote"])
    quote_qty = Decimal(row["orig_quote_qty"])
    is_market = row["type"] == "MARKET"
    out = {"orderId": uuid_id(row["id"])}
    cid = client_id_of(row)
    if cid:
        out["clientOrderId"] = cid
    out.update({"market": market_id(sym), "created": row["time_ms"], "updated": row["update_ms"],
                "status": _status(row), "side": row["side"].lower(), "orderType": "market" if is_market else "limit"})
    if is_market and quote_qty > 0:
        out["amountQuote"] = num(quote_qty)
        out["amountQuoteRemaining"] = num(max(quote_qty - cum, Decimal(0)) if row["status"] == "NEW" else 0)
    else:
        orig = Decimal(row["orig_qty"])
        out["amount"] = num(orig)
        out["amountRemaining"] = num(orig - executed)
    if not is_market:
        out["price"] = num(row["price"])
    on_hold_currency = row["lock_asset"] or (sym.quote if row["side"] == "BUY" else sym.base)
    fee = sum((Decimal(t["commission"]) for t in fills), Decimal(0))
    out.update({
        "onHold": num(row["lock_amount"]), "onHoldCurrency": on_hold_currency,
        "filledAmount": num(executed), "filledAmountQuote": num(cum),
        "feePaid": num(fee), "feeCurrency": _fee_currency(row, sym),
        "fills": [fill_json(t) for t in fills],
        "selfTradePrevention": "decrementAndCancel", "visible": not is_market,
    })
    if is_market:
        out["disableMarketProtection"] = False
    else:
        out["timeInForce"] = row["time_in_force"]
        out["postOnly"] = row["type"] == "LIMIT_MAKER"
    return out


def trade_json(st, trade):
    sym = st.market.symbols[trade["symbol"]]
    out = {"id": uuid_id(trade["id"], "trade"), "orderId": uuid_id(trade["order_id"])}
    cid = client_id_of(trade)
    if cid:
        out["clientOrderId"] = cid
    out.update({"timestamp": trade["time_ms"], "market": market_id(sym), "side": "buy" if trade["is_buyer"] else "sell",
                "amount": trade["qty"], "price": trade["price"], "taker": not trade["is_maker"],
                "fee": trade["commission"], "feeCurrency": trade["commission_asset"], "settled": True})
    return out


def _fills_of(st, order_ids):
    """{order id: [trade rows]} for the orders, oldest fill first."""
    out = {i: [] for i in order_ids}
    if not order_ids:
        return out
    marks = ",".join("?" * len(order_ids))
    for t in st.conn.execute(f"SELECT * FROM trades WHERE order_id IN ({marks}) ORDER BY id", tuple(order_ids)):
        out[t["order_id"]].append(t)
    return out


def orders_json(st, rows):
    fills = _fills_of(st, [r["id"] for r in rows])
    return [order_json(st, r, fills[r["id"]]) for r in rows]


# parameters -------------------------------------------------------------------------

def resolve_market(ctx, value=None, required=True):
    """The engine symbol named by a Bitvavo market (``BTC-EUR``) the venue lists."""
    if value is None:
        value = ctx.params.get("market")
    if value is None or value == "":
        if required:
            raise missing("market")
        return None
    st = ctx.state
    name = value.replace("-", "") if isinstance(value, str) else ""
    sym = st.market.symbols.get(name)
    if sym is None or market_id(sym) != value or not st.engine.lists(ctx.venue, name):
        raise BitvavoError(205, "market parameter is invalid.", kind="unknown_symbol")
    return sym


def _int(params, name, default=None, low=None, high=None):
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    if isinstance(raw, bool):
        raise invalid(name)
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and raw.isdigit():
        value = int(raw)
    else:
        raise invalid(name)
    if (low is not None and value < low) or (high is not None and value > high):
        raise invalid(name)
    return value


def _decimal(params, name):
    """A positive decimal parameter (a string as Bitvavo sends them; a JSON number is taken too), or None."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise invalid(name)
    text = str(raw)
    if not NUMBER_RE.match(text):
        raise invalid(name)
    value = Decimal(text)
    if value <= 0:
        raise invalid(name)
    return value


def _uuid(params, name):
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    if not isinstance(raw, str) or not UUID_RE.match(raw):
        raise invalid(name)
    return raw.lower()


def _id_param(params, name, kind):
    """The engine id behind an ``orderId``/``tradeId...`` UUID, or None when absent; an id never issued is
    ``0`` (no row has it)."""
    text = _uuid(params, name)
    if text is None:
        return None
    n = from_uuid_id(text, kind)
    return 0 if n is None else n


def operator_id(ctx):
    """``operatorId``: required to create and cancel orders, an int64 sent as a number (a string in a query)."""
    raw = ctx.params.get("operatorId")
    if raw is None or raw == "":
        raise missing("operatorId")
    if isinstance(raw, str) and ctx.request.method == "POST":
        raise invalid("operatorId")  # in a JSON body it is a number, not a string
    return _int(ctx.params, "operatorId", low=1, high=INT64_MAX)


def _window(params):
    start = _int(params, "start", low=0)
    end = _int(params, "end", low=0)
    if start is not None and end is not None and end < start:
        raise invalid("start")
    limit = _int(params, "limit", 500, low=1, high=1000)
    return start, end, limit


def _range_clause(column, start, end, id_column, id_from, id_to):
    clauses, args = [], []
    for op, value, col in ((">=", start, column), ("<=", end, column), (">=", id_from, id_column),
                           ("<=", id_to, id_column)):
        if value is not None:
            clauses.append(f" AND {col} {op} ?")
            args.append(value)
    return "".join(clauses), args


# public routes -----------------------------------------------------------------------

def h_time(ctx):
    return {"time": ctx.now, "timeNs": ctx.now * 1000000}


def _listed(ctx):
    st = ctx.state
    return [st.market.symbols[n] for n in st.engine.venue_symbols(ctx.venue)]


def market_json(sym):
    return {
        "market": market_id(sym), "status": "trading", "base": sym.base, "quote": sym.quote,
        "pricePrecision": "0", "tickSize": num(sym.tick),
        "minOrderInBaseAsset": num(sym.step), "minOrderInQuoteAsset": f"{sym.min_notional:.2f}",
        "maxOrderInBaseAsset": num(sym.max_qty), "maxOrderInQuoteAsset": "1000000000.00",
        "quantityDecimals": str(sym.step_places), "notionalDecimals": "2", "maxOpenOrders": "100",
        "feeCategory": "A", "orderTypes": ["market", "limit"],
    }


def h_markets(ctx):
    sym = resolve_market(ctx, required=False)
    if sym is not None:
        return market_json(sym)
    return [market_json(s) for s in _listed(ctx)]


def _asset_json(symbol):
    decimals = ASSET_DECIMALS.get(symbol, 8)
    return {"symbol": symbol, "name": ASSET_NAMES.get(symbol, symbol), "decimals": decimals,
            "depositFee": "0", "depositConfirmations": 0 if symbol == "EUR" else 10, "depositStatus": "OK",
            "withdrawalFee": "0", "withdrawalMinAmount": "0", "withdrawalStatus": "OK",
            "networks": ["SEPA"] if symbol == "EUR" else ["Mainnet"], "message": ""}


def h_assets(ctx):
    assets = []
    for sym in _listed(ctx):
        for asset in (sym.base, sym.quote):
            if asset not in assets:
                assets.append(asset)
    wanted = ctx.params.get("symbol")
    if wanted:
        if wanted not in assets:
            raise invalid("symbol")
        return _asset_json(wanted)
    return [_asset_json(a) for a in assets]


def _per_market(ctx, one):
    sym = resolve_market(ctx, required=False)
    if sym is not None:
        return one(sym)
    return [one(s) for s in _listed(ctx)]


def h_ticker_24h(ctx):
    m, now = ctx.state.market, ctx.now

    def one(sym):
        t = m.ticker_24h(sym.symbol, now)
        return {"market": market_id(sym), "startTimestamp": now - 86400000, "timestamp": now,
                "open": num(t["openPrice"]), "openTimestamp": now - 86400000, "high": num(t["highPrice"]),
                "low": num(t["lowPrice"]), "last": num(t["lastPrice"]), "closeTimestamp": now,
                "bid": num(t["bidPrice"]), "bidSize": num(t["bidQty"]), "ask": num(t["askPrice"]),
                "askSize": num(t["askQty"]), "volume": num(t["volume"]), "volumeQuote": num(t["quoteVolume"])}
    return _per_market(ctx, one)


def h_ticker_price(ctx):
    m = ctx.state.market
    return _per_market(ctx, lambda sym: {"market": market_id(sym), "price": num(m.price(sym.symbol, ctx.now))})


def _book_top(ctx, sym):
    m = ctx.state.market
    bid, ask = m.book_top(sym.symbol, ctx.now)
    units = sym.volume_units
    return {"market": market_id(sym), "bid": num(sym.price_of(bid)), "bidSize": num(sym.qty_of(units // 3 or 1)),
            "ask": num(sym.price_of(ask)), "askSize": num(sym.qty_of(units // 4 or 1))}


def h_ticker_book(ctx):
    return _per_market(ctx, lambda sym: _book_top(ctx, sym))


def h_book(ctx):
    sym = resolve_market(ctx, ctx.request.match_info["market"])
    depth = _int(ctx.params, "depth", 1000, low=1, high=1000)
    book = ctx.state.market.depth(sym.symbol, depth, ctx.now)

    def side(levels):
        return [[num(p), num(q)] for p, q in levels]
    return {"market": market_id(sym), "nonce": book["lastUpdateId"], "bids": side(book["bids"]),
            "asks": side(book["asks"])}


def h_candles(ctx):
    p = ctx.params
    sym = resolve_market(ctx, ctx.request.match_info["market"])
    interval = p.get("interval")
    if not interval:
        raise missing("interval")
    if interval not in CANDLE_INTERVALS:
        raise invalid("interval")
    limit = _int(p, "limit", 1440, low=1, high=1440)
    start = _int(p, "start", low=0)
    end = _int(p, "end", low=0)
    if start is not None and end is not None and end <= start:
        raise invalid("end")
    # the newest `limit` candles that open in [start, end), newest first
    last_ms = None if end is None else end - 1

    def compute():
        rows = ctx.state.market.klines(sym.symbol, CANDLE_INTERVALS[interval], None, last_ms, limit, ctx.now)
        return [[r[0], num(r[1]), num(r[2]), num(r[3]), num(r[4]), num(r[5])]
                for r in reversed(rows) if start is None or r[0] >= start]
    # a long interval may need days of minutes computed: do it off the event loop
    return asyncio.get_running_loop().run_in_executor(None, compute)


# private routes ----------------------------------------------------------------------

def h_balance(ctx):
    wanted = ctx.params.get("symbol")
    out = []
    for r in ctx.state.engine.balances(ctx.account_id, ctx.now):
        free, locked = Decimal(r["free"]), Decimal(r["locked"])
        if (wanted and r["asset"] != wanted) or (not wanted and not free and not locked):
            continue
        out.append({"symbol": r["asset"], "available": num(free), "inOrder": num(locked)})
    return out


def _fees(ctx):
    rate = num(ctx.state.engine.fee_rate)
    return {"tier": 0, "volume": "0.00", "maker": rate, "taker": rate}


def h_account(ctx):
    return {"fees": _fees(ctx), "capabilities": list(CAPABILITIES)}


def h_account_fees(ctx):
    resolve_market(ctx, required=False)
    fees = _fees(ctx)
    return {"tier": str(fees["tier"]), "volume": fees["volume"], "taker": fees["taker"], "maker": fees["maker"]}


def _order_request(ctx, sym):
    """The engine's order parameters for a Bitvavo ``POST /order`` body, checked as Bitvavo checks it."""
    p = ctx.params
    side = p.get("side")
    if not side:
        raise missing("side")
    if side not in ("buy", "sell"):
        raise invalid("side")
    order_type = p.get("orderType")
    if not order_type:
        raise missing("orderType")
    if order_type not in ("market", "limit"):
        raise invalid("orderType")  # stop and take-profit orders are not simulated here
    amount, amount_quote, price = _decimal(p, "amount"), _decimal(p, "amountQuote"), _decimal(p, "price")
    request = {"symbol": sym.symbol, "side": side.upper(), "newOrderRespType": "FULL"}
    if order_type == "market":
        if price is not None:
            raise BitvavoError(202, "price order parameter is not supported.")
        if amount is not None and amount_quote is not None:
            raise BitvavoError(206, "Use either amount or amountQuote. The usage of both parameters at the same time "
                                    "is not supported.")
        if amount is None and amount_quote is None:
            raise BitvavoError(203, "amount or amountQuote parameter is required.")
        request["type"] = "MARKET"
    else:
        if amount_quote is not None:
            raise BitvavoError(202, "amountQuote order parameter is not supported.")
        if amount is None:
            raise missing("amount")
        if price is None:
            raise missing("price")
        if price % sym.tick:
            raise BitvavoError(214, "Price is too detailed.", kind="filter")
        if price > sym.max_price:
            raise BitvavoError(211, f"Price exceeds the maximum allowed amount ({num(sym.max_price)}).", kind="filter")
        post_only = p.get("postOnly") in (True, "true")
        tif = p.get("timeInForce") or "GTC"
        if tif not in ("GTC", "IOC", "FOK"):
            raise invalid("timeInForce")
        if post_only:
            if tif != "GTC":
                raise BitvavoError(206, "Use either postOnly or timeInForce IOC/FOK. The usage of both parameters at "
                                        "the same time is not supported.")
            request["type"] = "LIMIT_MAKER"
        else:
            request.update({"type": "LIMIT", "timeInForce": tif})
        request["price"] = dstr(price)
    if amount is not None:
        if amount % sym.step:
            raise BitvavoError(205, "amount parameter is invalid.", kind="filter")
        if amount < sym.step:
            raise BitvavoError(212, "Amount is below the minimum allowed amount for this asset.", kind="filter")
        if amount > sym.max_qty:
            raise BitvavoError(210, f"Amount exceeds the maximum allowed amount ({num(sym.max_qty)}).", kind="filter")
        request["quantity"] = dstr(amount)
    else:
        request["quoteOrderQty"] = dstr(amount_quote)
    client_id = _uuid(p, "clientOrderId")
    if client_id is not None:
        request["newClientOrderId"] = client_id
    return request


def h_order_new(ctx):
    st = ctx.state
    sym = resolve_market(ctx)
    operator_id(ctx)
    request = _order_request(ctx, sym)
    try:
        row, _, _ = st.engine.place_order(ctx.account_id, request, ctx.now, reject=ctx.take_reject)
    except BitvavoError:
        raise
    except BinanceError as exc:
        raise from_engine(exc, sym) from None
    st.counters.orders += 1
    st.counters.orders_by_client_id[row["client_order_id"]] += 1
    return orders_json(st, [row])[0]


def _find_params(ctx, sym):
    """The engine's lookup parameters: ``clientOrderId`` wins over ``orderId`` when both are sent."""
    client_id = _uuid(ctx.params, "clientOrderId")
    if client_id is not None:
        return {"symbol": sym.symbol, "origClientOrderId": client_id}
    order_id = _id_param(ctx.params, "orderId", "order")
    if order_id is None:
        raise missing("orderId")
    return {"symbol": sym.symbol, "orderId": str(order_id)}


def _get_order(ctx, sym):
    try:
        return ctx.state.engine.get_order(ctx.account_id, _find_params(ctx, sym), ctx.now)
    except BitvavoError:
        raise
    except BinanceError as exc:
        raise from_engine(exc, sym) from None


def h_order_get(ctx):
    sym = resolve_market(ctx)
    return orders_json(ctx.state, [_get_order(ctx, sym)])[0]


def h_order_cancel(ctx):
    st = ctx.state
    sym = resolve_market(ctx)
    operator = operator_id(ctx)
    row = _get_order(ctx, sym)
    if row["status"] != "NEW":
        raise BitvavoError(233, "Order must be active (status new or partiallyFilled) to allow updating/cancelling.",
                           kind="unknown_order")
    try:
        row, _ = st.engine.cancel_order(ctx.account_id, {"symbol": sym.symbol, "orderId": str(row["id"])}, ctx.now)
    except BinanceError as exc:
        raise from_engine(exc, sym) from None
    out = {"orderId": uuid_id(row["id"])}
    cid = client_id_of(row)
    if cid:
        out["clientOrderId"] = cid
    out["operatorId"] = operator
    return out


def h_orders_open(ctx):
    st = ctx.state
    sym = resolve_market(ctx, required=False)
    rows = st.engine.open_orders(ctx.account_id, {"symbol": sym.symbol} if sym else {}, ctx.now)
    return orders_json(st, sorted(rows, key=lambda r: r["id"], reverse=True))


def h_orders(ctx):
    st = ctx.state
    sym = resolve_market(ctx)
    start, end, limit = _window(ctx.params)
    id_from = _id_param(ctx.params, "orderIdFrom", "order")
    id_to = _id_param(ctx.params, "orderIdTo", "order")
    st.engine.match_account(ctx.account_id, ctx.now)
    clause, args = _range_clause("time_ms", start, end, "id", id_from, id_to)
    rows = st.conn.execute(f"SELECT * FROM orders WHERE account_id = ? AND symbol = ?{clause} "
                           "ORDER BY time_ms DESC, id DESC LIMIT ?",
                           (ctx.account_id, sym.symbol, *args, limit)).fetchall()
    return orders_json(st, rows)


def h_trades(ctx):
    st = ctx.state
    sym = resolve_market(ctx)
    start, end, limit = _window(ctx.params)
    id_from = _id_param(ctx.params, "tradeIdFrom", "trade")
    id_to = _id_param(ctx.params, "tradeIdTo", "trade")
    st.engine.match_account(ctx.account_id, ctx.now)
    clause, args = _range_clause("t.time_ms", start, end, "t.id", id_from, id_to)
    rows = st.conn.execute(
        "SELECT t.*, o.client_order_id FROM trades t LEFT JOIN orders o ON o.id = t.order_id "
        f"WHERE t.account_id = ? AND t.symbol = ?{clause} ORDER BY t.time_ms DESC, t.id DESC LIMIT ?",
        (ctx.account_id, sym.symbol, *args, limit)).fetchall()
    return [trade_json(st, r) for r in rows]


def per_market(with_market, without):
    return lambda params: with_market if params.get("market") else without


ROUTES = [
    Route("GET", "/v2/time", h_time, 1),
    Route("GET", "/v2/markets", h_markets, 1),
    Route("GET", "/v2/assets", h_assets, 1),
    Route("GET", "/v2/ticker/24h", h_ticker_24h, per_market(1, 25)),
    Route("GET", "/v2/ticker/price", h_ticker_price, 1),
    Route("GET", "/v2/ticker/book", h_ticker_book, 1),
    Route("GET", "/v2/{market}/book", h_book, 1),
    Route("GET", "/v2/{market}/candles", h_candles, 1),
    Route("GET", "/v2/balance", h_balance, 5, signed="read"),
    Route("GET", "/v2/account", h_account, 1, signed="read"),
    Route("GET", "/v2/account/fees", h_account_fees, 1, signed="read"),
    Route("POST", "/v2/order", h_order_new, 1, signed="trade", is_order=True),
    Route("GET", "/v2/order", h_order_get, 1, signed="read"),
    Route("DELETE", "/v2/order", h_order_cancel, 1, signed="trade"),
    Route("GET", "/v2/ordersOpen", h_orders_open, per_market(1, 25), signed="read"),
    Route("GET", "/v2/orders", h_orders, 5, signed="read"),
    Route("GET", "/v2/trades", h_trades, 5, signed="read"),
]


# the dialect -----------------------------------------------------------------------------

_SERVER_ERRORS = {
    500: (b'{"errorCode":101,"error":"Unknown error. Operation may or may not have succeeded."}', "application/json"),
    502: ((b"<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center>"
           b"</body></html>"), "text/html"),
    503: ((b'{"errorCode":109,"error":"The matching engine did not respond in time. Operation may or may not have '
           b'succeeded."}'), "application/json"),
    504: ((b"<html><head><title>504 Gateway Time-out</title></head><body><center><h1>504 Gateway Time-out</h1>"
           b"</center></body></html>"), "text/html"),
}


def _key_bucket(api_key):
    """The rate-limit bucket of a key: a digest, so the control endpoint's ``ip_weight`` never shows a key."""
    return "key:" + hashlib.sha256(api_key.encode()).hexdigest()[:16]


class BitvavoDialect(Dialect):
    venue = "bitvavo"
    prefix = "/bitvavo"
    routes = ROUTES

    def rate_limits(self, configured):
        return {"weight_per_minute": 1000}

    def read_params(self, raw_query, raw_body):
        """Query string parameters (strings), then the JSON body's (as JSON types: ``operatorId`` is a number)."""
        params = dict(parse_qsl(raw_query, keep_blank_values=True))
        if raw_body:
            try:
                body = json.loads(raw_body)
            except ValueError:
                raise BitvavoError(102, "Invalid JSON.") from None
            if not isinstance(body, dict):
                raise BitvavoError(102, "Invalid JSON.")
            params.update(body)
        return params

    def _bucket(self, ctx, route):
        """Signed requests count against their API key (when it is one of this venue's), others against the IP."""
        if route.signed:
            api_key = ctx.request.headers.get("Bitvavo-Access-Key")
            if api_key and store.key_get(ctx.state.conn, api_key, venue=self.venue) is not None:
                return _key_bucket(api_key), KEY_BLOCK_MS
        return ctx.ip, IP_BLOCK_MS

    def charge(self, ctx, route, weight):
        bucket, block_ms = self._bucket(ctx, route)
        limiter, now = ctx.limiter, ctx.now
        limit = limiter.limits["weight_per_minute"]
        st = limiter.ips.get(bucket)
        if st is None:
            st = limiter.ips[bucket] = IpState()
        if now < st.ban_until:
            return self._headers(limit, 0, st.ban_until), rate_limited(limit, st.ban_until)
        minute = now // MINUTE_MS
        if st.minute != minute:
            st.minute, st.used = minute, 0
        st.used += weight
        reset_at = (minute + 1) * MINUTE_MS
        if st.used > limit:
            st.ban_until = reset_at + block_ms
            return self._headers(limit, 0, st.ban_until), rate_limited(limit, st.ban_until)
        return self._headers(limit, limit - st.used, reset_at), None

    @staticmethod
    def _headers(limit, remaining, reset_at):
        return {"Bitvavo-Ratelimit-Limit": str(limit), "Bitvavo-Ratelimit-Remaining": str(remaining),
                "Bitvavo-Ratelimit-ResetAt": str(reset_at)}

    def authenticate(self, ctx, route):
        headers, st = ctx.request.headers, ctx.state
        api_key = headers.get("Bitvavo-Access-Key")
        signature = headers.get("Bitvavo-Access-Signature")
        raw_ts = headers.get("Bitvavo-Access-Timestamp")
        if not api_key or not signature or not raw_ts:
            raise auth_error(300, "Authentication is required for this endpoint.")
        if len(api_key) != 64:
            raise auth_error(301, "API Key must be of length 64.")
        if not raw_ts.isdigit():
            raise auth_error(302, "Timestamp is invalid. This must be a timestamp in ms. See Bitvavo-Access-Timestamp "
                                  "header or timestamp parameter for websocket.")
        raw_window = headers.get("Bitvavo-Access-Window") or str(DEFAULT_WINDOW_MS)
        if not raw_window.isdigit() or not 100 <= int(raw_window) <= 60000:
            raise auth_error(303, "Window must be between 100 and 60000 ms.")
        if len(signature) != 64:
            raise auth_error(308, "The signature length is invalid (HMAC-SHA256 should return a 64 length hexadecimal "
                                  "string).")
        key = store.key_get(st.conn, api_key, venue=self.venue)
        if key is None or key["kind"] != "hmac":
            raise auth_error(305, "No active API key found.")
        if abs(ctx.now - int(raw_ts)) > int(raw_window):
            raise auth_error(304, "Request was not received within acceptable window (default 30s, or custom with "
                                  "Bitvavo-Access-Window header) of Bitvavo-Access-Timestamp header (or timestamp "
                                  "parameter for websocket).")
        path = ctx.request.rel_url.raw_path[len(self.prefix):]
        url = path + ("?" + ctx.raw_query if ctx.raw_query else "")
        payload = (raw_ts + ctx.request.method + url + ctx.raw_body).encode()
        expected = hmac.new(key["secret"].encode(), payload, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise auth_error(309, "The signature is invalid.")
        if key["ips"] and ctx.ip not in key["ips"].split(","):
            raise auth_error(307, "This key does not allow access from this IP.")
        if not key["can_read"]:
            raise auth_error(311, "This key does not allow showing account information.")
        if route.signed == "trade" and not key["can_trade"]:
            raise auth_error(310, "This key does not allow trading actions.")
        ctx.key = key
        ctx.account_id = key["account_id"]

    def error_response(self, exc, headers=None):
        exc = from_engine(exc)
        return web.Response(body=dumps(exc.body()), status=exc.status, content_type="application/json",
                            headers={**(headers or {}), **exc.headers})

    def forced_error(self, status, now):
        if status == 429:
            return rate_limited(self.rate_limits(None)["weight_per_minute"], (now // MINUTE_MS + 1) * MINUTE_MS)
        # Bitvavo never answers 418: its ban is a 429 with errorCode 105
        return banned((now // MINUTE_MS + 1) * MINUTE_MS + IP_BLOCK_MS)

    def server_error(self, status):
        body, ctype = _SERVER_ERRORS[status]
        return web.Response(body=body, status=status, content_type=ctype)

    def reject_error(self, knob):
        """The reject knob's message, as the matching engine's refusal (230); a positive ``code`` is used as it is."""
        code = knob["code"] if knob["code"] > 0 else 230
        return BitvavoError(code, knob["msg"], kind="rejected")


DIALECT = BitvavoDialect()
