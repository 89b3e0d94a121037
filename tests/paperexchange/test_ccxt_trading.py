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
    assert set(trader.symbols) == {"BTC/USDT", "ETH/USDT", "SOL/USDT", "BTC/USDC", "ETH/USDC", "PUMP/USDT",
                                   "USDC/USDT", "BNB/USDT", "BNB/USDC"}
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


def test_market_buy_by_cost_spends_at_most_the_quote_amount(trader):
    order = trader.create_market_buy_order_with_cost("ETH/USDT", 50)
    assert order["status"] == "closed"
    assert 0 < order["cost"] <= 50
    assert trader.fetch_balance()["USDT"]["total"] == pytest.approx(10000 - order["cost"])


def test_fetch_my_trades_with_since_and_from_id(trader):
    first = trader.create_order("BTC/USDT", "market", "buy", 0.0001)
    second = trader.create_order("BTC/USDT", "market", "sell", 0.0001)
    third = trader.create_order("BTC/USDT", "market", "buy", 0.0002)
    trades = trader.fetch_my_trades("BTC/USDT")
    assert [t["order"] for t in trades] == [first["id"], second["id"], third["id"]]
    assert [t["side"] for t in trades] == ["buy", "sell", "buy"]
    ids = [int(t["id"]) for t in trades]
    assert ids == sorted(ids)
    from_second = trader.fetch_my_trades("BTC/USDT", params={"fromId": trades[1]["id"]})
    assert [t["id"] for t in from_second] == [trades[1]["id"], trades[2]["id"]]
    since_third = trader.fetch_my_trades("BTC/USDT", since=trades[2]["timestamp"])
    assert trades[2]["id"] in [t["id"] for t in since_third]
    assert trader.fetch_my_trades("BTC/USDT", since=trades[2]["timestamp"] + 1) == []
    assert trader.fetch_my_trades("ETH/USDT") == []
    sell = trades[1]
    assert sell["fee"]["currency"] == "USDT"
    assert sell["fee"]["cost"] == pytest.approx(sell["cost"] * 0.001, abs=1e-8)


def test_fetch_orders_lists_every_order_of_the_symbol(trader):
    price = round(trader.fetch_ticker("SOL/USDT")["last"] * 0.5, 2)
    resting = trader.create_order("SOL/USDT", "limit", "buy", 1, price)
    filled = trader.create_order("SOL/USDT", "market", "buy", 0.1)
    orders = trader.fetch_orders("SOL/USDT")
    assert [(o["id"], o["status"]) for o in orders] == [(resting["id"], "open"), (filled["id"], "closed")]


def test_fetch_ticker_and_order_book_are_consistent(trader):
    ticker = trader.fetch_ticker("ETH/USDC")
    assert ticker["bid"] < ticker["ask"]
    assert ticker["low"] <= ticker["last"] <= ticker["high"]
    assert ticker["baseVolume"] > 0
    book = trader.fetch_order_book("ETH/USDC", limit=5)
    assert len(book["bids"]) == len(book["asks"]) == 5
    assert book["bids"][0][0] < book["asks"][0][0]
    tickers = trader.fetch_tickers()
    assert "PUMP/USDT" in tickers
    assert tickers["PUMP/USDT"]["quoteVolume"] < tickers["BTC/USDT"]["quoteVolume"] / 1000


def test_fetch_ohlcv_gives_closed_candles_up_to_now(trader):
    candles = trader.fetch_ohlcv("BTC/USDT", "4h", limit=10)
    assert len(candles) == 10
    assert all(b[0] - a[0] == 4 * 3600 * 1000 for a, b in zip(candles, candles[1:]))
    for _, o, h, low, c, v in candles:
        assert low <= min(o, c) <= max(o, c) <= h and v > 0
    assert candles[-1][0] <= trader.milliseconds() < candles[-1][0] + 4 * 3600 * 1000
    year_ago = trader.milliseconds() - 366 * 86400 * 1000
    daily = trader.fetch_ohlcv("BTC/USDT", "1d", since=year_ago, limit=5)
    assert len(daily) == 5 and daily[0][0] >= year_ago


def test_resting_limit_order_fills_when_the_price_crosses_it(trader, paper_exchange):
    price = trader.fetch_ticker("SOL/USDT")["last"]
    limit = round(price * 0.9, 2)
    order = trader.create_order("SOL/USDT", "limit", "buy", 1, limit)
    assert order["status"] == "open"
    paper_exchange.move_price("SOLUSDT", factor=0.8)
    filled = trader.fetch_order(order["id"], "SOL/USDT")
    assert filled["status"] == "closed"
    assert filled["average"] == pytest.approx(limit)
    trade, = trader.fetch_my_trades("SOL/USDT")
    assert trade["takerOrMaker"] == "maker"
    balance = trader.fetch_balance()
    assert balance["USDT"]["used"] == 0
    assert balance["USDT"]["total"] == pytest.approx(10000 - limit)
    assert balance["SOL"]["total"] == pytest.approx(1 - 0.001)


def test_marketable_limit_order_fills_at_once_no_worse_than_its_limit(trader):
    price = trader.fetch_ticker("ETH/USDT")["last"]
    order = trader.create_order("ETH/USDT", "limit", "buy", 0.01, round(price * 1.05, 2))
    assert order["status"] == "closed"
    assert order["average"] <= round(price * 1.05, 2)


def test_cancel_all_orders_releases_every_lock(trader):
    price = trader.fetch_ticker("BTC/USDT")["last"]
    for i in range(3):
        trader.create_order("BTC/USDT", "limit", "buy", 0.001, round(price * (0.5 + i / 100), 2))
    trader.cancel_all_orders("BTC/USDT")
    assert trader.fetch_open_orders("BTC/USDT") == []
    assert trader.fetch_balance()["USDT"] == {"free": 10000.0, "used": 0.0, "total": 10000.0}


def test_order_ids_and_trade_ids_increase(trader):
    ids = [int(trader.create_order("BTC/USDT", "market", "buy", 0.0001)["id"]) for _ in range(3)]
    assert ids == sorted(ids) and len(set(ids)) == 3


@pytest.mark.parametrize("resp_type, keys", [
    ("ACK", {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}),
    ("RESULT", {"status", "executedQty", "cummulativeQuoteQty", "origQuoteOrderQty", "workingTime"}),
    ("FULL", {"status", "fills"}),
])
def test_new_order_response_types(trader, resp_type, keys):
    body = trader.privatePostOrder({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.0001",
                                    "newOrderRespType": resp_type})
    assert keys <= set(body)
    if resp_type == "ACK":
        assert "status" not in body
    if resp_type == "FULL":
        fill, = body["fills"]
        assert set(fill) == {"price", "qty", "commission", "commissionAsset", "tradeId"}
        assert fill["commissionAsset"] == "BTC"


def test_status_time_and_trading_fees(trader):
    assert trader.fetch_status()["status"] == "ok"
    assert abs(trader.fetch_time() - trader.milliseconds()) < 60_000
    fees = trader.fetch_trading_fees()
    assert fees["BTC/USDT"]["maker"] == fees["BTC/USDT"]["taker"] == 0.001
