"""The unmodified ccxt binance class trades against the paper exchange, with HMAC and Ed25519 keys."""

import pytest


@pytest.fixture(params=["hmac", "ed25519"])
def trader(request, paper_exchange):
    paper_exchange.reset()
    account_id = paper_exchange.create_account(USDT="10000", USDC="10000", BTC="0.5")
    key = paper_exchange.create_key(account_id, ed25519=request.param == "ed25519")
    exchange = paper_exchange.ccxt(key)
    exchange.load_markets()
    exchange.paper_account_id = account_id
    return exchange


def test_load_markets_lists_the_spot_symbols_with_binance_filters(trader):
    assert set(trader.symbols) == {"BTC/USDT", "ETH/USDT", "SOL/USDT", "BTC/USDC", "ETH/USDC", "PUMP/USDT"}
    btc = trader.market("BTC/USDT")
    assert btc["spot"] and btc["active"]
    assert btc["precision"]["amount"] == 0.00001
    assert btc["limits"]["cost"]["min"] == 5
    assert btc["limits"]["market"]["max"] > 10


def test_fetch_balance_shows_the_starting_funds(trader):
    balance = trader.fetch_balance()
    assert balance["USDT"] == {"free": 10000.0, "used": 0.0, "total": 10000.0}
    assert balance["BTC"]["free"] == 0.5


def test_market_buy_fills_at_once_and_charges_the_fee_in_the_asset_received(trader):
    order = trader.create_order("BTC/USDT", "market", "buy", 0.001, params={"clientOrderId": "bot1-sig1"})
    assert order["status"] == "closed"
    assert order["clientOrderId"] == "bot1-sig1"
    assert order["filled"] == 0.001
    assert order["fee"]["currency"] == "BTC"
    assert order["fee"]["cost"] == pytest.approx(0.000001)
    balance = trader.fetch_balance()
    assert balance["BTC"]["total"] == pytest.approx(0.5 + 0.001 - 0.000001)
    assert balance["USDT"]["total"] == pytest.approx(10000 - order["cost"])


def test_limit_order_rests_locks_funds_and_cancels(trader):
    price = trader.fetch_ticker("BTC/USDT")["last"]
    order = trader.create_order("BTC/USDT", "limit", "buy", 0.001, round(price * 0.8, 2),
                                params={"clientOrderId": "rest-1"})
    assert order["status"] == "open"
    assert [o["id"] for o in trader.fetch_open_orders("BTC/USDT")] == [order["id"]]
    assert trader.fetch_balance()["USDT"]["used"] == pytest.approx(0.001 * round(price * 0.8, 2))
    assert trader.fetch_order(order["id"], "BTC/USDT")["status"] == "open"
    by_client_id = trader.fetch_order(None, "BTC/USDT", params={"clientOrderId": "rest-1"})
    assert by_client_id["id"] == order["id"]
    assert trader.cancel_order(order["id"], "BTC/USDT")["status"] == "canceled"
    assert trader.fetch_order(order["id"], "BTC/USDT")["status"] == "canceled"
    assert trader.fetch_open_orders("BTC/USDT") == []
    assert trader.fetch_balance()["USDT"] == {"free": 10000.0, "used": 0.0, "total": 10000.0}
