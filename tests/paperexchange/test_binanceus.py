"""The unmodified ccxt binanceus class, its URLs pointed at BASE/binanceus, trades against the paper exchange."""

import ccxt
import pytest

BINANCEUS_SYMBOLS = {"BTC/USD", "ETH/USD", "SOL/USD", "BTC/USDT", "ETH/USDT", "SOL/USDT", "BTC/USDC", "ETH/USDC",
                     "USDT/USD", "USDC/USDT", "BNB/USD", "BNB/USDT"}


@pytest.fixture
def us_account(paper_exchange):
    paper_exchange.reset()
    account_id = paper_exchange.create_account(venue="binanceus", USD="10000", USDT="5000", BTC="0.1")
    key = paper_exchange.create_key(account_id)
    exchange = paper_exchange.ccxt(key)
    exchange.load_markets()
    exchange.paper_account_id = account_id
    exchange.paper_key = key
    return exchange


def test_the_client_is_ccxt_binanceus_at_the_venue_prefix(us_account, paper_exchange):
    assert type(us_account) is ccxt.binanceus
    assert us_account.urls["api"]["public"] == paper_exchange.url + "/binanceus/api/v3"
    assert us_account.urls["api"]["sapiV3"] == paper_exchange.url + "/binanceus/sapi/v3"


def test_load_markets_lists_the_binanceus_symbols(us_account):
    assert set(us_account.symbols) == BINANCEUS_SYMBOLS
    btc = us_account.market("BTC/USD")
    assert btc["spot"] and btc["active"] and btc["quote"] == "USD"
    assert btc["precision"]["amount"] == 0.00001
    assert btc["limits"]["cost"]["min"] == 5


def test_fetch_balance_shows_the_starting_funds(us_account):
    balance = us_account.fetch_balance()
    assert balance["USD"] == {"free": 10000.0, "used": 0.0, "total": 10000.0}
    assert balance["BTC"]["free"] == 0.1


def test_candles_are_the_shared_price_path(us_account, paper_exchange):
    candles = us_account.fetch_ohlcv("BTC/USD", "1h", limit=5)
    assert len(candles) == 5
    assert all(b[0] - a[0] == 3600_000 for a, b in zip(candles, candles[1:]))
    for _, o, h, low, c, v in candles:
        assert low <= min(o, c) <= max(o, c) <= h and v > 0
    binance = paper_exchange.ccxt(paper_exchange.create_key(paper_exchange.create_account(USDT="1")))
    closed = [c[:5] for c in candles[:-1]]
    assert [c[:5] for c in binance.fetch_ohlcv("BTC/USDT", "1h", limit=5)[:-1]] == closed  # one walk, one level


def test_market_order_with_client_order_id_is_found_by_it(us_account):
    order = us_account.create_order("ETH/USD", "market", "buy", 0.01, params={"clientOrderId": "us-bot1-sig1"})
    assert order["status"] == "closed" and order["clientOrderId"] == "us-bot1-sig1"
    found = us_account.fetch_order(None, "ETH/USD", {"origClientOrderId": "us-bot1-sig1"})
    assert found["id"] == order["id"] and found["status"] == "closed" and found["filled"] == 0.01
    balance = us_account.fetch_balance()
    assert balance["USD"]["total"] == pytest.approx(10000 - order["cost"])
    assert balance["ETH"]["total"] == pytest.approx(0.01 * 0.999)


def test_my_trades_carry_the_fee_in_the_asset_received(us_account):
    buy = us_account.create_order("BTC/USD", "market", "buy", 0.001)
    sell = us_account.create_order("BTC/USD", "market", "sell", 0.001)
    trades = us_account.fetch_my_trades("BTC/USD")
    assert [(t["order"], t["side"]) for t in trades] == [(buy["id"], "buy"), (sell["id"], "sell")]
    assert trades[0]["fee"] == {"currency": "BTC", "cost": pytest.approx(0.000001)}
    assert trades[1]["fee"]["currency"] == "USD"
    assert trades[1]["fee"]["cost"] == pytest.approx(trades[1]["cost"] * 0.001, abs=1e-8)


def test_limit_order_rests_and_cancels(us_account):
    price = round(us_account.fetch_ticker("SOL/USD")["last"] * 0.7, 2)
    order = us_account.create_order("SOL/USD", "limit", "buy", 2, price, params={"clientOrderId": "us-rest-1"})
    assert order["status"] == "open"
    assert us_account.fetch_balance()["USD"]["used"] == pytest.approx(2 * price)
    assert [o["id"] for o in us_account.fetch_open_orders("SOL/USD")] == [order["id"]]
    assert us_account.cancel_order(order["id"], "SOL/USD")["status"] == "canceled"
    assert us_account.fetch_order(None, "SOL/USD", {"origClientOrderId": "us-rest-1"})["status"] == "canceled"
    assert us_account.fetch_balance()["USD"] == {"free": 10000.0, "used": 0.0, "total": 10000.0}


def test_insufficient_funds(us_account):
    with pytest.raises(ccxt.InsufficientFunds):
        us_account.create_order("BTC/USD", "market", "buy", 1)


def test_unknown_order_is_order_not_found(us_account):
    with pytest.raises(ccxt.OrderNotFound):
        us_account.fetch_order("987654321", "BTC/USD")
    with pytest.raises(ccxt.OrderNotFound):
        us_account.fetch_order(None, "BTC/USD", {"origClientOrderId": "never-sent"})
    with pytest.raises(ccxt.OrderNotFound):
        us_account.cancel_order("987654321", "BTC/USD")


def test_unknown_key_and_bad_signature_are_authentication_errors(paper_exchange, us_account):
    unknown = paper_exchange.ccxt({"api_key": "A" * 64, "secret": "s" * 64}, venue="binanceus")
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        unknown.fetch_balance()
    forged = paper_exchange.ccxt({**us_account.paper_key, "secret": "0" * 64})
    with pytest.raises(ccxt.AuthenticationError, match="-1022"):
        forged.fetch_balance()


def test_a_symbol_binanceus_does_not_list_is_bad_symbol(us_account):
    with pytest.raises(ccxt.BadSymbol):
        us_account.privatePostOrder({"symbol": "PUMPUSDT", "side": "BUY", "type": "MARKET", "quantity": "2000"})
    with pytest.raises(ccxt.BadSymbol):
        us_account.publicGetTicker24hr({"symbol": "BTCEUR"})
    assert us_account.fetch_balance()["USDT"]["free"] == 5000


def test_permission_probe_is_what_binanceus_serves(us_account, paper_exchange):
    account = us_account.privateGetAccount()
    assert (account["canTrade"], account["canWithdraw"]) == (True, False)
    assert us_account.sapiV3GetApiTradingStatus()["status"]["isLocked"] is False
    assert us_account.sapiV3GetAccountStatus() == {"msg": "Normal", "success": True}
    # Binance.US has no apiRestrictions route (ccxt's binanceus inherits the method from binance)
    with pytest.raises(ccxt.ExchangeNotAvailable, match="404"):
        us_account.sapiGetAccountApiRestrictions()
    paper_exchange.set_withdraw(us_account.paper_key["api_key"])
    assert us_account.privateGetAccount()["canWithdraw"] is True


def test_binanceus_weights_and_limits(us_account, paper_exchange):
    paper_exchange.fresh_window(seconds_left=15)
    us_account.fetch_balance()  # account: 10
    assert us_account.last_response_headers["X-MBX-USED-WEIGHT-1M"] == "10"
    us_account.fetch_order_book("BTC/USD", limit=5)  # depth up to 100: 1
    assert us_account.last_response_headers["X-MBX-USED-WEIGHT-1M"] == "11"
    us_account.sapiV3GetAccountStatus()  # sapi counts towards the same weight here
    assert us_account.last_response_headers["X-MBX-USED-WEIGHT-1M"] == "12"
    limits = us_account.publicGetExchangeInfo()["rateLimits"]
    assert {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 1200}.items() \
        <= next(x for x in limits if x["rateLimitType"] == "REQUEST_WEIGHT").items()
    assert paper_exchange.limits(venue="binanceus")["ip_weight"]["127.0.0.1"] == 22
    assert paper_exchange.limits()["ip_weight"].get("127.0.0.1", 0) == 0  # Binance counts its own


def test_order_limits_of_binanceus_are_its_own(us_account, paper_exchange):
    paper_exchange.fresh_window(seconds_left=6, window_seconds=10)
    paper_exchange.limits(venue="binanceus", orders_per_10s=1)
    us_account.create_order("BTC/USD", "market", "buy", 0.0001)
    with pytest.raises(ccxt.DDoSProtection, match="-1015"):
        us_account.create_order("BTC/USD", "market", "buy", 0.0001)
    binance = paper_exchange.ccxt(paper_exchange.create_key(paper_exchange.create_account(USDT="100")))
    assert binance.create_order("BTC/USDT", "market", "buy", 0.0001)["status"] == "closed"


def test_fault_knobs_apply_to_binanceus(us_account, paper_exchange):
    paper_exchange.fault(lost_response={"count": 1})
    with pytest.raises(ccxt.NetworkError):
        us_account.create_order("BTC/USD", "market", "buy", 0.0001, params={"clientOrderId": "us-lost-1"})
    assert us_account.fetch_order(None, "BTC/USD", {"origClientOrderId": "us-lost-1"})["status"] == "closed"
    paper_exchange.fault(force={"status": 429, "count": 1})
    with pytest.raises(ccxt.DDoSProtection, match="429"):
        us_account.fetch_balance()
    paper_exchange.fault(error={"count": 1, "status": 503})
    with pytest.raises(ccxt.OperationFailed):
        us_account.fetch_balance()
    paper_exchange.fault(reject_order={"count": 1, "msg": "Rejected for Binance.US."})
    with pytest.raises(ccxt.InvalidOrder, match="Rejected for Binance.US."):
        us_account.create_order("BTC/USD", "market", "buy", 0.0001)
    counters = paper_exchange.counters()
    assert counters["orders_by_client_order_id"]["us-lost-1"] == 1
    assert counters["requests_by_path"]["/binanceus/api/v3/account"] == 2
