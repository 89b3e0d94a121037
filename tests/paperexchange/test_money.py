"""No sequence of orders creates or destroys money: every balance is its start plus its fills, minus fees."""

import tempfile
from collections import defaultdict
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from paperexchange import config, store
from paperexchange.engine import Engine
from paperexchange.errors import BinanceError
from paperexchange.market import Market

NOW = 1_790_000_000_000
MARKET = Market(config.load(environ={})["symbols"], seed=11)
START = {"USDT": Decimal("2500"), "USDC": Decimal("300"), "BTC": Decimal("0.01"), "ETH": Decimal("0.5"),
         "PUMP": Decimal("40000")}
SYMBOLS = ["BTCUSDT", "ETHUSDT", "BTCUSDC", "PUMPUSDT"]

operation = st.one_of(
    st.tuples(st.just("market"), st.sampled_from(SYMBOLS), st.sampled_from(["BUY", "SELL"]),
              st.integers(1, 4000)),
    st.tuples(st.just("quote"), st.sampled_from(SYMBOLS), st.sampled_from(["BUY", "SELL"]),
              st.integers(1, 3000)),
    st.tuples(st.just("limit"), st.sampled_from(SYMBOLS), st.sampled_from(["BUY", "SELL"]),
              st.integers(1, 4000), st.integers(-300, 300)),
    st.tuples(st.just("cancel"), st.integers(0, 20)),
    st.tuples(st.just("wait"), st.integers(1, 600)),
)


def order_params(op, now):
    kind, symbol, side = op[0], op[1], op[2]
    sym = MARKET.symbols[symbol]
    if kind == "quote":
        return {"symbol": symbol, "side": side, "type": "MARKET", "quoteOrderQty": str(Decimal(op[3]) / 10)}
    qty = sym.step * op[3] * (1000 if symbol == "PUMPUSDT" else 1)
    if kind == "market":
        return {"symbol": symbol, "side": side, "type": "MARKET", "quantity": str(qty)}
    price = MARKET.price(symbol, now) * (1 + Decimal(op[4]) / 1000)
    price = (price / sym.tick).quantize(Decimal(1)) * sym.tick
    return {"symbol": symbol, "side": side, "type": "LIMIT", "timeInForce": "GTC", "quantity": str(qty),
            "price": str(price)}


def expected_balances(conn, account_id):
    """Start plus every fill, as a reconciler reading only the trades would compute it."""
    out = defaultdict(Decimal, START)
    for t in conn.execute("SELECT * FROM trades WHERE account_id = ?", (account_id,)):
        sym = MARKET.symbols[t["symbol"]]
        qty, quote, fee = Decimal(t["qty"]), Decimal(t["quote_qty"]), Decimal(t["commission"])
        assert quote == Decimal(t["price"]) * qty
        if t["is_buyer"]:
            assert t["commission_asset"] == sym.base
            out[sym.base] += qty - fee
            out[sym.quote] -= quote
        else:
            assert t["commission_asset"] == sym.quote
            out[sym.base] -= qty
            out[sym.quote] += quote - fee
        received = qty if t["is_buyer"] else quote
        assert fee >= received * Decimal("0.001") and fee - received * Decimal("0.001") < Decimal("1e-8")
    return out


def check(conn, account_id):
    balances = store.balances_of(conn, account_id)
    expected = expected_balances(conn, account_id)
    locks = defaultdict(Decimal)
    for o in conn.execute("SELECT * FROM orders WHERE account_id = ? AND status = 'NEW'", (account_id,)):
        locks[o["lock_asset"]] += Decimal(o["lock_amount"])
    for asset in set(balances) | set(expected):
        free, locked = balances.get(asset, (Decimal(0), Decimal(0)))
        assert free >= 0 and locked >= 0, asset
        assert free + locked == expected[asset], asset
        assert locked == locks[asset], asset


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operation, min_size=1, max_size=25))
def test_no_sequence_of_orders_creates_or_destroys_money(ops):
    with tempfile.TemporaryDirectory() as tmp:
        conn = store.connect(tmp)
        engine = Engine(conn, MARKET)
        account_id = store.account_create(conn, START)
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
                        assert exc.code == -2011
                        assert store.balances_of(conn, account_id) == before
            else:
                engine.match_account(account_id, now)
                before = store.balances_of(conn, account_id)
                try:
                    row, _, _ = engine.place_order(account_id, order_params(op, now), now)
                    placed.append(row)
                except BinanceError:
                    assert store.balances_of(conn, account_id) == before  # a refused order changes nothing
            check(conn, account_id)
            now += 1_000
        conn.close()


def test_a_foreign_trade_moves_money_like_any_fill():
    with tempfile.TemporaryDirectory() as tmp:
        conn = store.connect(tmp)
        engine = Engine(conn, MARKET)
        account_id = store.account_create(conn, START)
        row, fills = engine.foreign_trade(account_id, "PUMPUSDT", "BUY", Decimal(100000), Decimal("0.02"), NOW)
        assert row["origin"] == "foreign" and row["client_order_id"].startswith("web_")
        check(conn, account_id)
        assert store.balances_of(conn, account_id)["USDT"][0] == Decimal(500)
