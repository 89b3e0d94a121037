"""Orders, fills and balances, with Binance Spot semantics and exact Decimal money.

Synchronous and free of HTTP: the server calls it from its event loop (each
call is one SQLite transaction, so it is atomic), and the property tests call
it directly.

Money rules: a buy pays ``price * qty`` in the quote asset and receives ``qty``
minus the commission in the base asset; a sell pays ``qty`` and receives
``price * qty`` minus the commission. The commission is charged in the asset
received and reported on each fill. A venue whose ``fee_asset`` is "quote"
(Kraken, Bitvavo) charges it in the quote asset instead: a buy there pays
``price * qty`` plus the commission and receives all of ``qty``; a sell is the
same either way. The rule is fixed on each order when it is placed
(``orders.fee_asset``). A resting limit order locks exactly what it will spend,
its commission included. Nothing else ever changes a balance.

Fees in a third asset (fees.py): on a Binance account paying fees in BNB the
commission of a fill is charged in BNB instead, when the free BNB covers it;
on Kraken, KFEE fee credits pay for it. Either is decided when the fill is
booked, after the trade's own money moved; a resting buy whose locked fee was
not needed gets it back as free.

Venues: every account belongs to one; an order or query for a symbol the
account's venue does not list is an unknown symbol (``kind`` "unknown_symbol").

Order requests use Binance's parameter names (``symbol``, ``side``, ``type``,
``timeInForce``, ``quantity``, ``quoteOrderQty``, ``price``,
``newClientOrderId``, ``orderId``, ``origClientOrderId``) as the engine's own
vocabulary: a dialect of another venue translates its request into them.
Errors are ``BinanceError`` with a venue-neutral ``kind`` (see errors.py).
"""

import re
import secrets
import string
from decimal import ROUND_DOWN, ROUND_UP, Decimal

from .errors import (BinanceError, bad_param, duplicate_order, filter_failure, illegal_param, insufficient_balance,
                     invalid_symbol, unknown_order)
from .fees import PAYERS, Fee
from .market import Market, fmt
from .store import account_bnb_fees, account_venue, transaction

ZERO = Decimal(0)
EIGHT = Decimal("1e-8")
CLIENT_ID_RE = re.compile(r"^[a-zA-Z0-9\-_]{1,36}$")
NUMBER_RE = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
ID_ALPHABET = string.ascii_letters + string.digits
DAY_MS = 86400000
BRIDGES = ("USDT", "USDC", "USD")  # what a value goes through when no market joins its two assets


def dstr(value: Decimal) -> str:
    """A Decimal as a plain string for storage (no exponent)."""
    return format(value.normalize(), "f") if value else "0"


def parse_decimal(params, name, required=True):
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise bad_param(name)
        return None
    if not NUMBER_RE.match(raw):
        raise illegal_param(name)
    return Decimal(raw)


def parse_int(params, name, required=False, default=None):
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise bad_param(name)
        return default
    try:
        return int(raw)
    except ValueError:
        raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '^[0-9]{{1,20}}$'.") from None


def new_client_id():
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(22))


class Engine:
    def __init__(self, conn, market: Market, fee_rate=Decimal("0.001"), venues=None):
        """``venues``: {venue: {"symbols": [...], "fee_asset": "received"|"quote"}} (config "venues");
        None lets every venue trade every symbol with the fee in the asset received."""
        self.conn = conn
        self.market = market
        self.fee_rate = Decimal(str(fee_rate))
        self.venues = venues
        self._venue_symbols = {v: frozenset(spec["symbols"]) for v, spec in (venues or {}).items()}
        self._account_venues = {}  # an account never changes venue
        self._pairs = {(sym.base, sym.quote): name for name, sym in market.symbols.items()}

    # venues -------------------------------------------------------------------
    def venue_of(self, account_id):
        venue = self._account_venues.get(account_id)
        if venue is None:
            venue = self._account_venues[account_id] = account_venue(self.conn, account_id)
        return venue

    def venue_symbols(self, venue):
        """The symbols ``venue`` lists, in configuration order."""
        if self.venues is None:
            return list(self.market.symbols)
        return list(self.venues[venue]["symbols"])

    def fee_asset(self, venue):
        return "received" if self.venues is None else self.venues[venue]["fee_asset"]

    def lists(self, venue, name):
        return self.venues is None or name in self._venue_symbols.get(venue, ())

    def _convert(self, amount, from_asset, to_asset, venue, now):
        """``amount`` of ``from_asset`` in ``to_asset`` at the current price of a market the venue lists, or None."""
        name = self._pairs.get((from_asset, to_asset))
        if name is not None and self.lists(venue, name):
            return amount * self.market.price(name, now)
        name = self._pairs.get((to_asset, from_asset))
        if name is not None and self.lists(venue, name):
            return amount / self.market.price(name, now)
        return None

    def value_in(self, amount, from_asset, to_asset, venue, now):
        """What ``amount`` of ``from_asset`` is worth in ``to_asset`` on ``venue`` now: through a market joining
        the two, else through USDT, USDC or USD (the first that joins both); None if nothing does."""
        if from_asset == to_asset:
            return amount
        value = self._convert(amount, from_asset, to_asset, venue, now)
        if value is not None:
            return value
        for bridge in BRIDGES:
            if bridge in (from_asset, to_asset):
                continue
            middle = self._convert(amount, from_asset, bridge, venue, now)
            value = None if middle is None else self._convert(middle, bridge, to_asset, venue, now)
            if value is not None:
                return value
        return None

    def bnb_fees(self, account_id):
        """Whether the account pays its fees in BNB (only a Binance venue's account can)."""
        payer = PAYERS.get(self.venue_of(account_id))
        return payer is not None and payer.opt_in and account_bnb_fees(self.conn, account_id)

    # helpers ----------------------------------------------------------------
    def symbol(self, params, required=True, venue=None):
        """The symbol named by ``params["symbol"]``; with ``venue``, only one that venue lists."""
        name = params.get("symbol")
        if not name:
            if required:
                raise bad_param("symbol")
            return None
        sym = self.market.symbols.get(name.upper()) if name.isupper() else None
        if sym is None or (venue is not None and not self.lists(venue, sym.symbol)):
            raise invalid_symbol()
        return sym

    def _symbol_of(self, account_id, params, required=True):
        return self.symbol(params, required, venue=self.venue_of(account_id))

    def _balance(self, account_id, asset):
        row = self.conn.execute("SELECT free, locked FROM balances WHERE account_id = ? AND asset = ?",
                                (account_id, asset)).fetchone()
        return (Decimal(row["free"]), Decimal(row["locked"])) if row else (ZERO, ZERO)

    def _adjust(self, account_id, asset, d_free=ZERO, d_locked=ZERO):
        free, locked = self._balance(account_id, asset)
        free, locked = free + d_free, locked + d_locked
        if free < 0 or locked < 0:  # guarded by the callers; never store a negative balance
            raise insufficient_balance()
        self.conn.execute(
            "INSERT INTO balances (account_id, asset, free, locked) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(account_id, asset) DO UPDATE SET free = excluded.free, locked = excluded.locked",
            (account_id, asset, dstr(free), dstr(locked)))

    def _commission(self, amount):
        return (amount * self.fee_rate).quantize(EIGHT, rounding=ROUND_UP)

    def _spend(self, side, price, qty, fee_asset):
        """What an order of ``qty`` at ``price`` takes from the account: quote for a buy, base for a sell."""
        if side != "BUY":
            return qty
        cost = price * qty
        return cost + self._commission(cost) if fee_asset == "quote" else cost

    def _fill(self, account_id, order_id, sym, side, price, qty, now, maker, from_locked=False, fee_asset="received"):
        """Book one fill: move the money, pay the commission, write the trade, return the fill dict."""
        quote_qty = price * qty
        buy = side == "BUY"
        spent_asset, spent, got_asset, got = (sym.quote, quote_qty, sym.base, qty) if buy else \
            (sym.base, qty, sym.quote, quote_qty)
        if buy and fee_asset != "quote":
            usual = Fee.usual(self._commission(qty), sym.base)
        else:
            usual = Fee.usual(self._commission(quote_qty), sym.quote)
        # a resting buy paying its fee in the quote locked the fee with the cost: unlock both, pay the fee from free
        locked_fee = usual.commission if from_locked and buy and fee_asset == "quote" else ZERO
        moves = {}  # asset: [d_free, d_locked]

        def move(asset, d_free=ZERO, d_locked=ZERO):
            change = moves.setdefault(asset, [ZERO, ZERO])
            change[0] += d_free
            change[1] += d_locked

        if from_locked:
            move(spent_asset, d_free=locked_fee, d_locked=-(spent + locked_fee))
        else:
            move(spent_asset, d_free=-spent)
        move(got_asset, d_free=got)
        fee = self._fee(account_id, sym, quote_qty, usual, now,
                        free=lambda asset: self._balance(account_id, asset)[0] + moves.get(asset, (ZERO,))[0])
        move(fee.asset, d_free=-fee.charged)
        if fee.credit:
            move(fee.credit_asset, d_free=-fee.credit)
        for asset, (d_free, d_locked) in moves.items():
            if d_free or d_locked:
                self._adjust(account_id, asset, d_free, d_locked)
        cur = self.conn.execute(
            "INSERT INTO trades (account_id, symbol, order_id, price, qty, quote_qty, commission, commission_asset,"
            " time_ms, is_buyer, is_maker, credit_asset, credit, credit_covers)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (account_id, sym.symbol, order_id, dstr(price), dstr(qty), dstr(quote_qty), dstr(fee.commission),
             fee.asset, now, int(buy), int(maker), fee.credit_asset, dstr(fee.credit), dstr(fee.covers)))
        return {"price": fmt(price), "qty": fmt(qty), "commission": fmt(fee.commission),
                "commissionAsset": fee.asset, "tradeId": cur.lastrowid}

    def _fee(self, account_id, sym, quote_qty, usual, now, free):
        """How the fill's ``usual`` commission is paid on the account's venue (fees.py)."""
        venue = self.venue_of(account_id)
        payer = PAYERS.get(venue)
        if payer is None:
            return usual
        return payer.pay(usual, quote=sym.quote, quote_value=quote_qty, fee_rate=self.fee_rate,
                         opted_in=not payer.opt_in or account_bnb_fees(self.conn, account_id),
                         value_in=lambda amount, a, b: self.value_in(amount, a, b, venue, now), free=free)

    # placing ------------------------------------------------------------------
    def place_order(self, account_id, params, now, reject=None, dry_run=False):
        """Validate and execute a new order. Returns (order row, fills, response type).

        ``reject`` is an optional BinanceError (or a callable returning one or
        None) raised after every check passed (the "reject next order" fault),
        so a rejected order changes nothing.

        ``dry_run`` (Binance's /order/test) runs only the checks made before an
        order reaches the matching engine, parameters and filters, and returns
        (None, [], response type): no balance, open-order count, duplicate id or
        post-only check, nothing written.
        """
        sym = self._symbol_of(account_id, params)
        fee_asset = self.fee_asset(self.venue_of(account_id))
        side = params.get("side")
        if not side:
            raise bad_param("side")
        if side not in ("BUY", "SELL"):
            raise BinanceError(-1117, "Invalid side.")
        otype = params.get("type")
        if not otype:
            raise bad_param("type")
        if otype not in ("LIMIT", "MARKET", "LIMIT_MAKER"):
            raise BinanceError(-1116, "Invalid orderType.")
        resp_type = params.get("newOrderRespType") or ("FULL" if otype in ("LIMIT", "MARKET") else "ACK")
        if resp_type not in ("ACK", "RESULT", "FULL"):
            raise BinanceError(-1136, "Invalid newOrderRespType.")
        client_id = params.get("newClientOrderId")
        if client_id is None or client_id == "":
            client_id = new_client_id()
        elif not CLIENT_ID_RE.match(client_id):
            raise BinanceError(-1100, "Illegal characters found in parameter 'newClientOrderId'; legal range is "
                                      "'^[a-zA-Z0-9-_]{1,36}$'.")
        tif = params.get("timeInForce")
        price = qty = quote_qty = None
        if otype == "MARKET":
            if tif:
                raise BinanceError(-1106, "Parameter 'timeInForce' sent when not required.")
            if params.get("price"):
                raise BinanceError(-1106, "Parameter 'price' sent when not required.")
            qty = parse_decimal(params, "quantity", required=False)
            quote_qty = parse_decimal(params, "quoteOrderQty", required=False)
            if qty is None and quote_qty is None:
                raise BinanceError(-1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!")
            if qty is not None and quote_qty is not None:
                raise BinanceError(-1106, "Parameter 'quoteOrderQty' sent when not required.")
            if quote_qty is not None and quote_qty <= 0:
                raise BinanceError(-1013, "Invalid quoteOrderQty.")
        else:
            if otype == "LIMIT":
                if not tif:
                    raise bad_param("timeInForce")
                if tif not in ("GTC", "IOC", "FOK"):
                    raise BinanceError(-1115, "Invalid timeInForce.")
            elif tif:
                raise BinanceError(-1106, "Parameter 'timeInForce' sent when not required.")
            qty = parse_decimal(params, "quantity")
            price = parse_decimal(params, "price")
            if price <= 0:
                raise BinanceError(-1013, "Invalid price.")
            if price < sym.tick or (price % sym.tick) != 0 or price > sym.max_price:
                raise filter_failure("PRICE_FILTER")
        if qty is not None:
            if qty <= 0:
                raise BinanceError(-1013, "Invalid quantity.")
            if qty < sym.step or qty > sym.max_qty or (qty % sym.step) != 0:
                raise filter_failure("LOT_SIZE")
            if otype == "MARKET" and qty > sym.market_max_qty:
                raise filter_failure("MARKET_LOT_SIZE")
        with transaction(self.conn):
            if not dry_run and self.conn.execute(
                    "SELECT 1 FROM orders WHERE account_id = ? AND client_order_id = ? AND status = 'NEW'",
                    (account_id, client_id)).fetchone():
                raise duplicate_order()
            self._match_account(account_id, now)
            if not dry_run and self._open_count(account_id, sym.symbol) >= sym.max_num_orders:
                # Binance: "Accounts that have 200 or more open orders on a symbol will not be able to place
                # new orders on that symbol until the open order count is below 200", market orders included
                raise BinanceError(-2010, "Filter failure: MAX_NUM_ORDERS", kind="filter")
            bid, ask = self.market.book_top(sym.symbol, now)
            if otype == "MARKET":
                exec_price = self.market.execution_price(sym.symbol, side, qty if qty is not None else
                                                         (quote_qty / sym.price_of(ask)).quantize(sym.step, ROUND_DOWN),
                                                         now)
                if quote_qty is not None:
                    qty = (quote_qty / exec_price).quantize(sym.step, rounding=ROUND_DOWN)
                    if qty < sym.step:
                        raise filter_failure("NOTIONAL")
                    if qty > sym.market_max_qty:
                        raise filter_failure("MARKET_LOT_SIZE")
                if exec_price * qty < sym.min_notional:
                    raise filter_failure("NOTIONAL")
                fill_price, rests, status = exec_price, False, "FILLED"
            else:
                if price * qty < sym.min_notional:
                    raise filter_failure("NOTIONAL")
                marketable = (price >= sym.price_of(ask)) if side == "BUY" else (price <= sym.price_of(bid))
                if otype == "LIMIT_MAKER" and marketable and not dry_run:
                    raise BinanceError(-2010, "Order would immediately match and take.", kind="would_take")
                if marketable:
                    exec_price = self.market.execution_price(sym.symbol, side, qty, now)
                    fill_price = min(price, exec_price) if side == "BUY" else max(price, exec_price)
                    rests, status = False, "FILLED"
                elif tif in ("IOC", "FOK"):
                    fill_price, rests, status = None, False, "EXPIRED"
                else:
                    fill_price, rests, status = None, True, "NEW"
            # the money check: what the order would spend, at its limit price for limit orders
            spend_asset = sym.quote if side == "BUY" else sym.base
            spend = self._spend(side, price if price is not None else fill_price, qty, fee_asset)
            if dry_run:
                return None, [], resp_type
            if status != "EXPIRED" and self._balance(account_id, spend_asset)[0] < spend:
                raise insufficient_balance()
            if reject is not None:
                error = reject() if callable(reject) else reject
                if error is not None:
                    raise error
            lock_amount = spend if rests else ZERO
            cur = self.conn.execute(
                "INSERT INTO orders (account_id, symbol, client_order_id, side, type, time_in_force, price, orig_qty,"
                " orig_quote_qty, executed_qty, cum_quote, status, lock_asset, lock_amount, time_ms, update_ms,"
                " checked_min, fee_asset) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, '0', '0', ?, ?, ?, ?, ?, ?, ?)",
                (account_id, sym.symbol, client_id, side, otype, tif or "GTC",
                 dstr(price or ZERO), dstr(qty), dstr(quote_qty or ZERO), status, spend_asset if rests else None,
                 dstr(lock_amount), now, now, now // 60000, fee_asset))
            order_id = cur.lastrowid
            fills = []
            if rests:
                self._adjust(account_id, spend_asset, d_free=-lock_amount, d_locked=lock_amount)
            elif status == "FILLED":
                fills.append(self._fill(account_id, order_id, sym, side, fill_price, qty, now, maker=False,
                                        fee_asset=fee_asset))
                self.conn.execute("UPDATE orders SET executed_qty = ?, cum_quote = ? WHERE id = ?",
                                  (dstr(qty), dstr(fill_price * qty), order_id))
            row = self._order_row(order_id)
        return row, fills, resp_type

    def foreign_trade(self, account_id, symbol, side, qty: Decimal, price: Decimal = None, now=None):
        """A filled order on the account that no API client placed (a web or stolen-key trade)."""
        sym = self.market.symbols.get(symbol)
        venue = self.venue_of(account_id)
        if sym is None or not self.lists(venue, symbol):
            raise invalid_symbol()
        fee_asset = self.fee_asset(venue)
        if side not in ("BUY", "SELL"):
            raise BinanceError(-1117, "Invalid side.")
        if qty <= 0 or qty % sym.step:
            raise filter_failure("LOT_SIZE")
        with transaction(self.conn):
            self._match_account(account_id, now)
            if price is None:
                price = self.market.execution_price(symbol, side, qty, now)
            spend_asset = sym.quote if side == "BUY" else sym.base
            if self._balance(account_id, spend_asset)[0] < self._spend(side, price, qty, fee_asset):
                raise insufficient_balance()
            cur = self.conn.execute(
                "INSERT INTO orders (account_id, symbol, client_order_id, side, type, time_in_force, price, orig_qty,"
                " orig_quote_qty, executed_qty, cum_quote, status, lock_asset, lock_amount, time_ms, update_ms,"
                " checked_min, origin, fee_asset) VALUES (?, ?, ?, ?, 'LIMIT', 'GTC', ?, ?, '0', ?, ?, 'FILLED', NULL,"
                " '0', ?, ?, ?, 'foreign', ?)",
                (account_id, symbol, "web_" + secrets.token_hex(16), side, dstr(price), dstr(qty), dstr(qty),
                 dstr(price * qty), now, now, now // 60000, fee_asset))
            fill = self._fill(account_id, cur.lastrowid, sym, side, price, qty, now, maker=False, fee_asset=fee_asset)
            row = self._order_row(cur.lastrowid)
        return row, [fill]

    def _open_count(self, account_id, symbol):
        return self.conn.execute("SELECT COUNT(*) FROM orders WHERE account_id = ? AND symbol = ? AND status = 'NEW'",
                                 (account_id, symbol)).fetchone()[0]

    # resting orders -------------------------------------------------------
    def match_account(self, account_id, now):
        with transaction(self.conn):
            self._match_account(account_id, now)

    def _match_account(self, account_id, now):
        """Fill the account's resting limit orders the price path has crossed since last checked."""
        rows = self.conn.execute("SELECT * FROM orders WHERE account_id = ? AND status = 'NEW'", (account_id,)).fetchall()
        now_min = now // 60000
        for row in rows:
            if row["checked_min"] >= now_min and row["update_ms"] >= now:
                continue
            sym = self.market.symbols[row["symbol"]]
            limit_ticks = sym.ticks_of(Decimal(row["price"]))
            hit_min = self._first_cross(sym.symbol, row["side"], limit_ticks, row["time_ms"], row["checked_min"], now)
            if hit_min is None:
                self.conn.execute("UPDATE orders SET checked_min = ? WHERE id = ?", (now_min, row["id"]))
                continue
            fill_time = min(now, hit_min * 60000 + 59999) if hit_min < now_min else now
            fill_time = max(fill_time, row["time_ms"])
            qty, price = Decimal(row["orig_qty"]), Decimal(row["price"])
            self._fill(account_id, row["id"], sym, row["side"], price, qty, fill_time, maker=True, from_locked=True,
                       fee_asset=row["fee_asset"])
            self.conn.execute(
                "UPDATE orders SET status = 'FILLED', executed_qty = ?, cum_quote = ?, lock_amount = '0',"
                " update_ms = ?, checked_min = ? WHERE id = ?",
                (dstr(qty), dstr(price * qty), fill_time, now_min, row["id"]))

    def _first_cross(self, symbol, side, limit_ticks, placed_ms, checked_min, now):
        """The first minute after placement whose range reaches the limit, else None."""
        market = self.market
        placed_min = placed_ms // 60000
        now_min = now // 60000
        start = max(placed_min + 1, checked_min)

        def crosses(cndl):
            return cndl is not None and (cndl[2] <= limit_ticks if side == "BUY" else cndl[1] >= limit_ticks)

        if start < now_min and crosses(market.aggregate(symbol, start, now_min, now)):
            m = start
            while m < now_min:  # hour by hour, then minute by minute
                stop = min(now_min, m + 60)
                if crosses(market.aggregate(symbol, m, stop, now)):
                    for minute in range(m, stop):
                        if crosses(market.minute(symbol, minute, now)):
                            return minute
                m = stop
        price = market.price_ticks(symbol, now)
        if (price <= limit_ticks) if side == "BUY" else (price >= limit_ticks):
            return now_min
        return None

    # cancel and queries ----------------------------------------------------
    def _order_row(self, order_id):
        return self.conn.execute("SELECT * FROM orders WHERE id = ?", (order_id,)).fetchone()

    def find_order(self, account_id, sym, params, unknown):
        """An order of the account by ``orderId`` or ``origClientOrderId``, in ``sym`` (None: in any symbol).

        A client order id may be used again once its order is no longer open
        (as on Binance); the lookup prefers the open order, then the newest.
        """
        order_id = parse_int(params, "orderId")
        client_id = params.get("origClientOrderId")
        if order_id is None and not client_id:
            raise BinanceError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        symbol_clause, symbol_args = (" AND symbol = ?", (sym.symbol,)) if sym is not None else ("", ())
        if order_id is not None:
            row = self.conn.execute("SELECT * FROM orders WHERE id = ? AND account_id = ?" + symbol_clause,
                                    (order_id, account_id, *symbol_args)).fetchone()
            if row is not None and client_id and row["client_order_id"] != client_id:
                row = None
        else:
            row = self.conn.execute(
                "SELECT * FROM orders WHERE account_id = ? AND client_order_id = ?" + symbol_clause +
                " ORDER BY (status = 'NEW') DESC, id DESC LIMIT 1", (account_id, client_id, *symbol_args)).fetchone()
        if row is None:
            raise unknown
        return row

    def get_order(self, account_id, params, now):
        sym = self._symbol_of(account_id, params)
        self.match_account(account_id, now)
        return self.find_order(account_id, sym, params, unknown_order())

    def cancel_order(self, account_id, params, now):
        sym = self._symbol_of(account_id, params)
        cancel_id = params.get("newClientOrderId") or new_client_id()
        with transaction(self.conn):
            self._match_account(account_id, now)
            row = self.find_order(account_id, sym, params, unknown_order(cancel=True))
            if row["status"] != "NEW":
                raise unknown_order(cancel=True)
            if row["lock_asset"]:
                amount = Decimal(row["lock_amount"])
                self._adjust(account_id, row["lock_asset"], d_free=amount, d_locked=-amount)
            self.conn.execute("UPDATE orders SET status = 'CANCELED', lock_amount = '0', update_ms = ? WHERE id = ?",
                              (now, row["id"]))
            row = self._order_row(row["id"])
        return row, cancel_id

    def open_orders(self, account_id, params, now):
        sym = self._symbol_of(account_id, params, required=False)
        self.match_account(account_id, now)
        if sym is None:
            return self.conn.execute("SELECT * FROM orders WHERE account_id = ? AND status = 'NEW' ORDER BY id",
                                     (account_id,)).fetchall()
        return self.conn.execute("SELECT * FROM orders WHERE account_id = ? AND symbol = ? AND status = 'NEW' ORDER BY id",
                                 (account_id, sym.symbol)).fetchall()

    def _window(self, params, max_span=DAY_MS):
        start = parse_int(params, "startTime")
        end = parse_int(params, "endTime")
        if start is not None and end is not None:
            if end < start:
                raise BinanceError(-1127, "More than 24 hours between startTime and endTime.")
            if end - start > max_span:
                raise BinanceError(-1127, "More than 24 hours between startTime and endTime.")
        elif start is not None:
            end = start + max_span
        elif end is not None:
            start = end - max_span
        limit = parse_int(params, "limit", default=500)
        if limit < 1 or limit > 1000:
            raise BinanceError(-1100, "Illegal characters found in parameter 'limit'; legal range is '1..1000'.")
        return start, end, limit

    def all_orders(self, account_id, params, now):
        sym = self._symbol_of(account_id, params)
        self.match_account(account_id, now)
        start, end, limit = self._window(params)
        from_id = parse_int(params, "orderId")
        return self._select("orders", account_id, sym.symbol, from_id, start, end, limit)

    def my_trades(self, account_id, params, now):
        sym = self._symbol_of(account_id, params)
        self.match_account(account_id, now)
        start, end, limit = self._window(params)
        from_id = parse_int(params, "fromId")
        order_id = parse_int(params, "orderId")
        if from_id is not None and start is not None:
            raise BinanceError(-1128, "Combination of optional parameters invalid.")
        if order_id is not None:
            clause, args = "order_id = ?", [order_id]
            if from_id is not None:
                clause, args = clause + " AND id >= ?", args + [from_id]
            return self.conn.execute(
                f"SELECT * FROM trades WHERE account_id = ? AND symbol = ? AND {clause} ORDER BY id LIMIT ?",
                (account_id, sym.symbol, *args, limit)).fetchall()
        return self._select("trades", account_id, sym.symbol, from_id, start, end, limit)

    def _select(self, table, account_id, symbol, from_id, start, end, limit):
        base = f"SELECT * FROM {table} WHERE account_id = ? AND symbol = ?"
        if from_id is not None:
            return self.conn.execute(base + " AND id >= ? ORDER BY id LIMIT ?",
                                     (account_id, symbol, from_id, limit)).fetchall()
        if start is not None:
            return self.conn.execute(base + " AND time_ms >= ? AND time_ms <= ? ORDER BY id LIMIT ?",
                                     (account_id, symbol, start, end, limit)).fetchall()
        rows = self.conn.execute(base + " ORDER BY id DESC LIMIT ?", (account_id, symbol, limit)).fetchall()
        return rows[::-1]

    def balances(self, account_id, now):
        self.match_account(account_id, now)
        return self.conn.execute("SELECT asset, free, locked FROM balances WHERE account_id = ? ORDER BY asset",
                                 (account_id,)).fetchall()

    def match_all(self, now):
        """Fill resting orders of every account (the periodic sweep)."""
        accounts = [r[0] for r in self.conn.execute("SELECT DISTINCT account_id FROM orders WHERE status = 'NEW'")]
        for account_id in accounts:
            self.match_account(account_id, now)
        return len(accounts)


# response shapes ------------------------------------------------------------
def order_json(row, *, resp_type="RESULT", fills=(), query=False):
    base = {"symbol": row["symbol"], "orderId": row["id"], "orderListId": -1, "clientOrderId": row["client_order_id"]}
    if resp_type == "ACK":
        return {**base, "transactTime": row["time_ms"]}
    body = {
        **base,
        "price": fmt(Decimal(row["price"])), "origQty": fmt(Decimal(row["orig_qty"])),
        "executedQty": fmt(Decimal(row["executed_qty"])), "cummulativeQuoteQty": fmt(Decimal(row["cum_quote"])),
        "status": row["status"], "timeInForce": row["time_in_force"], "type": row["type"], "side": row["side"],
    }
    if query:
        body.update({"stopPrice": fmt(ZERO), "icebergQty": fmt(ZERO), "time": row["time_ms"],
                     "updateTime": row["update_ms"], "isWorking": True, "workingTime": row["time_ms"],
                     "origQuoteOrderQty": fmt(Decimal(row["orig_quote_qty"])),
                     "selfTradePreventionMode": "EXPIRE_MAKER"})
        return body
    body = {**base, "transactTime": row["time_ms"], **{k: v for k, v in body.items() if k not in base}}
    body["origQuoteOrderQty"] = fmt(Decimal(row["orig_quote_qty"]))
    body["workingTime"] = row["time_ms"]
    body["selfTradePreventionMode"] = "EXPIRE_MAKER"
    if resp_type == "FULL":
        body["fills"] = list(fills)
    return body


def cancel_json(row, cancel_id):
    body = order_json(row, resp_type="RESULT")
    body["origClientOrderId"] = row["client_order_id"]
    body["clientOrderId"] = cancel_id
    body["transactTime"] = row["update_ms"]
    return body


def trade_json(row):
    return {
        "symbol": row["symbol"], "id": row["id"], "orderId": row["order_id"], "orderListId": -1,
        "price": fmt(Decimal(row["price"])), "qty": fmt(Decimal(row["qty"])), "quoteQty": fmt(Decimal(row["quote_qty"])),
        "commission": fmt(Decimal(row["commission"])), "commissionAsset": row["commission_asset"],
        "time": row["time_ms"], "isBuyer": bool(row["is_buyer"]), "isMaker": bool(row["is_maker"]),
        "isBestMatch": True,
    }

