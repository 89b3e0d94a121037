"""A venue whose fee_asset is "quote" (Kraken, Bitvavo) charges the fee in the quote asset; money stays exact."""

import tempfile
from collections import defaultdict
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paperexchange import config, store
from paperexchange.engine import Engine
from paperexchange.errors import BinanceError
from paperexchange.market import Market

NOW = 1_790_000_000_000
CONFIG = config.load(environ={})
MARKET = Market(CONFIG["symbols"], seed=11)
START = {"EUR": Decimal("3000"), "USD": Decimal("500"), "BTC": Decimal("0.01"), "ETH": Decimal("0.5"),
         "USDT": Decimal("400")}
SYMBOLS = ["BTCEUR", "ETHEUR", "USDTEUR", "ETHUSD"]
FEE = Decimal("0.001")


def kraken_engine(conn):
    return Engine(conn, MARKET, FEE, venues=CONFIG["venues"]), store.account_create(conn, START, venue="kraken")


def test_kraken_and_bitvavo_charge_the_quote_asset_the_binance_venues_the_asset_received():
    assert {v: CONFIG["venues"][v]["fee_asset"] for v in config.VENUES} == {
        "binance": "received", "binanceus": "received", "kraken": "quote", "bitvavo": "quote",
        "onetrading": "received"}


def test_a_market_buy_pays_cost_plus_fee_in_quote_and_receives_the_whole_quantity():
    with tempfile.TemporaryDirectory() as tmp:
        conn = store.connect(tmp)
        engine, account = kraken_engine(conn)
        row, fills, _ = engine.place_order(account, {"symbol": "ETHEUR", "side": "BUY", "type": "MARKET",
                                                     "quantity": "0.1"}, NOW)
        fill, = fills
        cost = Decimal(fill["price"]) * Decimal("0.1")
        fee = (cost * FEE).quantize(Decimal("1e-8"))
        assert fill["commissionAsset"] == "EUR" and Decimal(fill["commission"]) == fee
        balances = store.balances_of(conn, account)
        assert balances["ETH"] == (Decimal("0.6"), 0)
        assert balances["EUR"] == (Decimal("3000") - cost - fee, 0)
        sold, fills, _ = engine.place_order(account, {"symbol": "ETHEUR", "side": "SELL", "type": "MARKET",
                                                      "quantity": "0.6"}, NOW)
        proceeds = Decimal(fills[0]["price"]) * Decimal("0.6")
        assert fills[0]["commissionAsset"] == "EUR"
        assert store.balances_of(conn, account)["EUR"][0] == \
            Decimal("3000") - cost - fee + proceeds - Decimal(fills[0]["commission"])
        assert store.balances_of(conn, account)["ETH"][0] == 0
        conn.close()


def test_a_resting_buy_locks_its_fee_and_pays_exactly_the_lock_when_filled():
    with tempfile.TemporaryDirectory() as tmp:
        conn = store.connect(tmp)
        engine, account = kraken_engine(conn)
        price = (MARKET.price("BTCEUR", NOW) * Decimal("0.95")).quantize(Decimal("0.01"))
        row, _, _ = engine.place_order(account, {"symbol": "BTCEUR", "side": "BUY", "type": "LIMIT",
                                                 "timeInForce": "GTC", "quantity": "0.01", "price": str(price)}, NOW)
        lock = price * Decimal("0.01") * (1 + FEE)
        assert row["fee_asset"] == "quote" and Decimal(row["lock_amount"]) == lock
        assert store.balances_of(conn, account)["EUR"] == (Decimal("3000") - lock, lock)
        MARKET.move_price("BTCEUR", 0.9, NOW)
        try:
            engine.match_account(account, NOW + 60_000)
        finally:
            MARKET.reset_adjustments()
        assert engine.get_order(account, {"symbol": "BTCEUR", "orderId": str(row["id"])}, NOW + 60_000)["status"] \
            == "FILLED"
        assert store.balances_of(conn, account)["EUR"] == (Decimal("3000") - lock, 0)
        assert store.balances_of(conn, account)["BTC"] == (Decimal("0.02"), 0)
        conn.close()


def test_a_buy_that_could_pay_the_cost_but_not_the_fee_is_refused():
    with tempfile.TemporaryDirectory() as tmp:
        conn = store.connect(tmp)
        engine = Engine(conn, MARKET, FEE, venues=CONFIG["venues"])
        price = MARKET.price("SOLEUR", NOW) * Decimal("0.9")
        price = price.quantize(Decimal("0.01"))
        account = store.account_create(conn, {"EUR": price}, venue="bitvavo")
        params = {"symbol": "SOLEUR", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "1",
                  "price": str(price)}
        with pytest.raises(BinanceError) as refused:
            engine.place_order(account, params, NOW)
        assert refused.value.kind == "insufficient_balance"
        assert store.balances_of(conn, account)["EUR"] == (price, 0)
        received_style = store.account_create(conn, {"EUR": price}, venue="onetrading")
        row, _, _ = engine.place_order(received_style, params, NOW)  # fee in the asset received: the cost is enough
        assert row["status"] == "NEW" and row["fee_asset"] == "received"
        conn.close()


operation = st.one_of(
    st.tuples(st.just("market"), st.sampled_from(SYMBOLS), st.sampled_from(["BUY", "SELL"]), st.integers(1, 4000)),
    st.tuples(st.just("quote"), st.sampled_from(SYMBOLS), st.sampled_from(["BUY", "SELL"]), st.integers(1, 3000)),
    st.tuples(st.just("limit"), st.sampled_from(SYMBOLS), st.sampled_from(["BUY", "SELL"]), st.integers(1, 4000),
              st.integers(-300, 300)),
    st.tuples(st.just("cancel"), st.integers(0, 20)),
    st.tuples(st.just("wait"), st.integers(1, 600)),
)


def order_params(op, now):
    kind, symbol, side = op[0], op[1], op[2]
    sym = MARKET.symbols[symbol]
    if kind == "quote":
        return {"symbol": symbol, "side": side, "type": "MARKET", "quoteOrderQty": str(Decimal(op[3]) / 10)}
    qty = sym.step * op[3] * (10 if symbol == "USDTEUR" else 1)
    if kind == "market":
        return {"symbol": symbol, "side": side, "type": "MARKET", "quantity": str(qty)}
    price = MARKET.price(symbol, now) * (1 + Decimal(op[4]) / 1000)
    price = (price / sym.tick).quantize(Decimal(1)) * sym.tick
    return {"symbol": symbol, "side": side, "type": "LIMIT", "timeInForce": "GTC", "quantity": str(qty),
            "price": str(price)}


def check(conn, account_id):
    """Every balance is its start plus its fills, the fee always in the quote asset; locks match open orders."""
    expected = defaultdict(Decimal, START)
    for t in conn.execute("SELECT * FROM trades WHERE account_id = ?", (account_id,)):
        sym = MARKET.symbols[t["symbol"]]
        qty, quote, fee = Decimal(t["qty"]), Decimal(t["quote_qty"]), Decimal(t["commission"])
        assert t["commission_asset"] == sym.quote
        assert fee >= quote * FEE and fee - quote * FEE < Decimal("1e-8")
        if t["is_buyer"]:
            expected[sym.base] += qty
            expected[sym.quote] -= quote + fee
        else:
            expected[sym.base] -= qty
            expected[sym.quote] += quote - fee
    locks = defaultdict(Decimal)
    for o in conn.execute("SELECT * FROM orders WHERE account_id = ? AND status = 'NEW'", (account_id,)):
        locks[o["lock_asset"]] += Decimal(o["lock_amount"])
    balances = store.balances_of(conn, account_id)
    for asset in set(balances) | set(expected):
        free, locked = balances.get(asset, (Decimal(0), Decimal(0)))
        assert free >= 0 and locked >= 0, asset
        assert free + locked == expected[asset], asset
        assert locked == locks[asset], asset


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operation, min_size=1, max_size=25))
def test_no_sequence_of_orders_creates_or_destroys_money_with_the_fee_in_quote(ops):
    with tempfile.TemporaryDirectory() as tmp:
        conn = store.connect(tmp)
        engine, account_id = kraken_engine(conn)
        now = NOW
        placed = []
        for op in ops:
            if op[0] == "wait":
                now += op[1] * 60_000
                engine.match_account(account_id, now)
            elif op[0] == "cancel":
                if placed:
                    before = store.balances_of(conn, account_id)
                    row = placed[op[1] % len(placed)]
                    try:
                        engine.cancel_order(account_id, {"symbol": row["symbol"], "orderId": str(row["id"])}, now)
                    except BinanceError as exc:
                        assert exc.kind == "unknown_order"
                        assert store.balances_of(conn, account_id) == before
            else:
                engine.match_account(account_id, now)
                before = store.balances_of(conn, account_id)
                try:
                    row, _, _ = engine.place_order(account_id, order_params(op, now), now)
                    placed.append(row)
                except BinanceError:
                    assert store.balances_of(conn, account_id) == before
            check(conn, account_id)
            now += 1_000
        conn.close()
