"""Fees paid in BNB or with KFEE credits neither create nor destroy money, whatever the sequence of orders.

A reconciler that reads only the trades (what each moved, its commission, what credits paid) finds every
balance; each BNB commission is the hand formula at the trade's millisecond, each KFEE charge the credits
its fee needed or all that was left.
"""

import tempfile
from collections import defaultdict
from decimal import ROUND_UP, Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paperexchange import config, store
from paperexchange.engine import Engine
from paperexchange.errors import BinanceError
from paperexchange.market import Market

NOW = 1_790_000_000_000
CONFIG = config.load(environ={})
MARKET = Market(CONFIG["symbols"], seed=5)
FEE = Decimal("0.001")
EIGHT = Decimal("1e-8")
CENT = Decimal("0.01")
VENUES = {
    # venue: (starting balances, symbols traded, account pays fees in BNB)
    "binance": ({"USDT": Decimal(3000), "USDC": Decimal(3000), "BTC": Decimal("0.01"), "BNB": Decimal("0.001")},
                ["BTCUSDT", "BTCUSDC", "BNBUSDT", "BNBUSDC"], True),
    "kraken": ({"EUR": Decimal(3000), "USD": Decimal(3000), "BTC": Decimal("0.01"), "KFEE": Decimal(40)},
               ["BTCEUR", "BTCUSD", "ETHEUR"], False),
}


def operations(symbols):
    return st.lists(st.one_of(
        st.tuples(st.just("market"), st.sampled_from(symbols), st.sampled_from(["BUY", "SELL"]),
                  st.integers(1, 3000)),
        st.tuples(st.just("limit"), st.sampled_from(symbols), st.sampled_from(["BUY", "SELL"]),
                  st.integers(1, 3000), st.integers(-200, 200)),
        st.tuples(st.just("wait"), st.integers(1, 600)),
    ), min_size=1, max_size=20)


def order_params(op, now):
    kind, symbol, side, units = op[:4]
    sym = MARKET.symbols[symbol]
    qty = sym.step * units * (10 if symbol.startswith("BNB") else 1)
    if kind == "market":
        return {"symbol": symbol, "side": side, "type": "MARKET", "quantity": str(qty)}
    price = MARKET.price(symbol, now) * (1 + Decimal(op[4]) / 1000)
    price = (price / sym.tick).quantize(Decimal(1)) * sym.tick
    return {"symbol": symbol, "side": side, "type": "LIMIT", "timeInForce": "GTC", "quantity": str(qty),
            "price": str(price)}


def usual_fee(t, sym, venue):
    qty, quote = Decimal(t["qty"]), Decimal(t["quote_qty"])
    if venue == "binance" and t["is_buyer"]:
        return (qty * FEE).quantize(EIGHT, rounding=ROUND_UP), sym.base
    return (quote * FEE).quantize(EIGHT, rounding=ROUND_UP), sym.quote


def check(conn, account_id, venue):
    start = VENUES[venue][0]
    expected = defaultdict(Decimal, start)
    credits_left = start.get("KFEE", Decimal(0))
    for t in conn.execute("SELECT * FROM trades WHERE account_id = ? ORDER BY id", (account_id,)):
        sym = MARKET.symbols[t["symbol"]]
        qty, quote = Decimal(t["qty"]), Decimal(t["quote_qty"])
        commission, credit, covers = Decimal(t["commission"]), Decimal(t["credit"]), Decimal(t["credit_covers"])
        sign = 1 if t["is_buyer"] else -1
        expected[sym.base] += sign * qty
        expected[sym.quote] -= sign * quote
        expected[t["commission_asset"]] -= commission - covers
        paid = [usual_fee(t, sym, venue)]
        if venue == "binance":  # or in BNB: a quarter off, at the BNB market of the quote
            bnb_price = MARKET.price("BNB" + sym.quote, t["time_ms"])
            paid.append(((quote * FEE * Decimal("0.75") / bnb_price).quantize(EIGHT, rounding=ROUND_UP), "BNB"))
        assert (commission, t["commission_asset"]) in paid
        if t["credit_asset"]:
            expected["KFEE"] -= credit
            usd = commission if sym.quote == "USD" else \
                commission / MARKET.price("USDTEUR", t["time_ms"]) * MARKET.price("USDTUSD", t["time_ms"])
            needed = (usd / CENT).quantize(CENT, rounding=ROUND_UP)
            assert credit == min(needed, credits_left) > 0
            assert covers == (commission if credit == needed else
                              commission - (commission * (needed - credit) / needed).quantize(EIGHT, rounding=ROUND_UP))
            credits_left -= credit
        else:
            assert credit == covers == 0
            assert venue != "kraken" or credits_left == 0  # credits pay as long as there are any
    locks = defaultdict(Decimal)
    for o in conn.execute("SELECT * FROM orders WHERE account_id = ? AND status = 'NEW'", (account_id,)):
        locks[o["lock_asset"]] += Decimal(o["lock_amount"])
    balances = store.balances_of(conn, account_id)
    for asset in set(balances) | set(expected):
        free, locked = balances.get(asset, (Decimal(0), Decimal(0)))
        assert free >= 0 and locked >= 0, asset
        assert free + locked == expected[asset], asset
        assert locked == locks[asset], asset


def run(venue, ops):
    start, _, bnb_fees = VENUES[venue]
    with tempfile.TemporaryDirectory() as tmp:
        conn = store.connect(tmp)
        engine = Engine(conn, MARKET, FEE, venues=CONFIG["venues"])
        account_id = store.account_create(conn, start, venue=venue, bnb_fees=bnb_fees)
        now = NOW
        for op in ops:
            if op[0] == "wait":
                now += op[1] * 60_000
                engine.match_account(account_id, now)
            else:
                engine.match_account(account_id, now)
                before = store.balances_of(conn, account_id)
                try:
                    engine.place_order(account_id, order_params(op, now), now)
                except BinanceError:
                    assert store.balances_of(conn, account_id) == before
            check(conn, account_id, venue)
            now += 1_000
        conn.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations(VENUES["binance"][1]))
def test_bnb_fees_keep_every_balance_equal_to_its_trades(ops):
    run("binance", ops)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations(VENUES["kraken"][1]))
def test_kfee_credits_keep_every_balance_equal_to_its_trades(ops):
    run("kraken", ops)


def test_bnb_that_covers_the_fee_exactly_pays_it_and_the_next_fee_falls_back():
    price = MARKET.execution_price("BTCUSDT", "BUY", Decimal("0.001"), NOW)
    fee = (price * Decimal("0.001") * FEE * Decimal("0.75") / MARKET.price("BNBUSDT", NOW)).quantize(
        EIGHT, rounding=ROUND_UP)
    with tempfile.TemporaryDirectory() as tmp:
        conn = store.connect(tmp)
        engine = Engine(conn, MARKET, FEE, venues=CONFIG["venues"])
        account_id = store.account_create(conn, {"USDT": Decimal(2000), "BNB": fee}, bnb_fees=True)
        buy = {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001"}
        _, (first,), _ = engine.place_order(account_id, buy, NOW)
        _, (second,), _ = engine.place_order(account_id, buy, NOW)
        assert (first["commission"], first["commissionAsset"]) == (f"{fee:.8f}", "BNB")
        assert (second["commission"], second["commissionAsset"]) == ("0.00000100", "BTC")
        balances = store.balances_of(conn, account_id)
        assert balances["BNB"] == (0, 0)
        assert balances["BTC"] == (Decimal("0.002") - Decimal("0.000001"), 0)
        assert balances["USDT"] == (Decimal(2000) - 2 * price * Decimal("0.001"), 0)
        conn.close()
