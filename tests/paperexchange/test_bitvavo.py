"""The unmodified ccxt bitvavo class, its URLs pointed at BASE/bitvavo, trades against the paper exchange."""

import itertools
import json
import time
import urllib.error
import urllib.request
import uuid

import ccxt
import pytest

BITVAVO_SYMBOLS = {"BTC/EUR", "ETH/EUR", "SOL/EUR", "USDT/EUR", "USDC/EUR"}
OPERATOR = {"operatorId": 4242}
UUID_LENGTH = 36


def is_uuid(text):
    return isinstance(text, str) and len(text) == UUID_LENGTH and str(uuid.UUID(text)) == text


def bitvavo_client(paper_exchange, **balances):
    account_id = paper_exchange.create_account(venue="bitvavo", **balances)
    key = paper_exchange.create_key(account_id)
    exchange = paper_exchange.ccxt(key, enableRateLimit=False)
    exchange.load_markets()
    exchange.paper_account_id = account_id
    exchange.paper_key = key
    return exchange


@pytest.fixture
def bitvavo(paper_exchange):
    paper_exchange.reset()
    return bitvavo_client(paper_exchange, EUR="10000")


def buy(exchange, symbol, amount, client_order_id=None):
    params = dict(OPERATOR)
    if client_order_id:
        params["clientOrderId"] = client_order_id
    return exchange.create_order(symbol, "market", "buy", amount, None, params)


def public_get(paper_exchange, path):
    """A public Bitvavo request without ccxt: (HTTP status, JSON body, headers)."""
    try:
        with urllib.request.urlopen(paper_exchange.url + "/bitvavo/v2/" + path, timeout=30) as resp:
            return resp.status, json.loads(resp.read()), resp.headers
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), exc.headers


def test_the_client_is_ccxt_bitvavo_at_the_venue_prefix(bitvavo, paper_exchange):
    assert type(bitvavo) is ccxt.bitvavo
    assert bitvavo.urls["api"] == {"public": paper_exchange.url + "/bitvavo", "private": paper_exchange.url + "/bitvavo"}
    assert abs(bitvavo.fetch_time() - paper_exchange.server_time()) < 5000


def test_load_markets_lists_only_the_bitvavo_euro_markets(bitvavo):
    assert set(bitvavo.symbols) == BITVAVO_SYMBOLS
    btc = bitvavo.market("BTC/EUR")
    assert btc["id"] == "BTC-EUR" and btc["spot"] and btc["active"]
    assert btc["precision"] == {"amount": 0.00001, "price": 0.01, "cost": 0.01}
    assert btc["limits"]["amount"]["min"] == 0.00001 and btc["limits"]["cost"]["min"] == 5
    assert bitvavo.market("USDT/EUR")["precision"]["amount"] == 1
    assert {"BTC", "ETH", "SOL", "USDT", "USDC", "EUR"} <= set(bitvavo.currencies)  # GET /v2/assets
    assert bitvavo.currencies["EUR"]["type"] == "fiat"
    info = bitvavo.publicGetMarkets({"market": "ETH-EUR"})
    assert info["status"] == "trading" and info["minOrderInQuoteAsset"] == "5.00"


def test_fetch_balance_shows_the_starting_euros(bitvavo):
    balance = bitvavo.fetch_balance()
    assert balance["EUR"] == {"free": 10000.0, "used": 0.0, "total": 10000.0}
    assert bitvavo.privateGetBalance() == [{"symbol": "EUR", "available": "10000", "inOrder": "0"}]


def test_candles_come_newest_first_and_ccxt_pages_them_by_time(bitvavo):
    raw = bitvavo.publicGetMarketCandles({"market": "BTC-EUR", "interval": "1h", "limit": 5})
    assert len(raw) == 5 and all(len(row) == 6 for row in raw)
    assert [a[0] - b[0] for a, b in itertools.pairwise(raw)] == [3600_000] * 4  # newest first
    for _, o, h, low, c, v in raw:
        assert float(low) <= min(float(o), float(c)) <= max(float(o), float(c)) <= float(h) and float(v) > 0
    candles = bitvavo.fetch_ohlcv("BTC/EUR", "1h", limit=5)
    assert [c[0] for c in candles] == [row[0] for row in reversed(raw)]
    since = raw[-1][0] - 10 * 3600_000
    page = bitvavo.fetch_ohlcv("BTC/EUR", "1h", since=since, limit=4)
    assert [c[0] for c in page] == [since + i * 3600_000 for i in range(4)]
    with pytest.raises(ccxt.BadRequest, match="interval parameter is invalid"):
        bitvavo.publicGetMarketCandles({"market": "BTC-EUR", "interval": "3m"})


def test_tickers_and_book_are_bitvavos_shapes(bitvavo):
    ticker = bitvavo.fetch_ticker("BTC/EUR")
    assert ticker["symbol"] == "BTC/EUR" and ticker["bid"] < ticker["ask"] and ticker["quoteVolume"] > 0
    prices = bitvavo.publicGetTickerPrice()
    assert [p["market"] for p in prices] == ["BTC-EUR", "ETH-EUR", "SOL-EUR", "USDT-EUR", "USDC-EUR"]
    book = bitvavo.fetch_order_book("ETH/EUR", 3)
    assert len(book["bids"]) == 3 and book["bids"][0][0] < book["asks"][0][0]
    with pytest.raises(ccxt.BadRequest, match="market parameter is invalid"):
        bitvavo.publicGetTicker24h({"market": "BTC-USDT"})  # listed on Binance, not on Bitvavo


def test_market_order_with_client_order_id_is_found_by_it_and_by_order_id(bitvavo):
    cid = str(uuid.uuid4())
    order = buy(bitvavo, "ETH/EUR", 0.01, cid)
    assert order["status"] == "closed" and order["filled"] == 0.01 and is_uuid(order["id"])
    assert order["info"]["clientOrderId"] == cid
    assert order["fee"]["currency"] == "EUR" and order["fee"]["cost"] == pytest.approx(order["cost"] * 0.001, abs=1e-8)
    by_client_id = bitvavo.fetch_order(None, "ETH/EUR", {"clientOrderId": cid})
    by_id = bitvavo.fetch_order(order["id"], "ETH/EUR")
    for found in (by_client_id, by_id):
        assert found["id"] == order["id"] and found["status"] == "closed" and found["filled"] == 0.01
        assert found["info"]["clientOrderId"] == cid and len(found["trades"]) == 1
    balance = bitvavo.fetch_balance()
    assert balance["ETH"]["total"] == 0.01  # the fee is charged in EUR: all the ETH arrives
    assert balance["EUR"]["total"] == pytest.approx(10000 - order["cost"] - order["fee"]["cost"], abs=1e-8)


def test_a_market_order_by_amount_quote_spends_euros(bitvavo):
    order = bitvavo.create_order("BTC/EUR", "market", "buy", None, None, {"cost": 50, **OPERATOR})
    assert order["info"]["amountQuote"] == "50" and "amount" not in order["info"]
    assert 0 < order["cost"] <= 50 and order["filled"] > 0


def test_an_order_without_operator_id_is_refused_and_nothing_is_placed(bitvavo, paper_exchange):
    body = {"market": "BTC-EUR", "side": "buy", "orderType": "market", "amount": "0.001"}
    with pytest.raises(ccxt.ArgumentsRequired, match="operatorId"):  # ccxt itself will not send it
        bitvavo.create_order("BTC/EUR", "market", "buy", 0.001)
    with pytest.raises(ccxt.BadSymbol, match='"errorCode":203,"error":"operatorId parameter is required."'):
        bitvavo.privatePostOrder(body)  # ccxt files errorCode 203 under BadSymbol
    with pytest.raises(ccxt.BadRequest, match='"errorCode":205,"error":"operatorId parameter is invalid."'):
        bitvavo.privatePostOrder({**body, "operatorId": "4242"})  # a number, not a string
    assert paper_exchange.account(bitvavo.paper_account_id)["orders"] == []
    assert bitvavo.fetch_balance()["EUR"]["free"] == 10000


def test_client_order_id_must_be_a_uuid_unique_among_open_orders(bitvavo):
    with pytest.raises(ccxt.BadRequest, match="clientOrderId parameter is invalid"):
        buy(bitvavo, "BTC/EUR", 0.001, "bot1-signal1")
    cid = str(uuid.uuid4())
    price = round(bitvavo.fetch_ticker("SOL/EUR")["last"] * 0.7, 2)
    bitvavo.create_order("SOL/EUR", "limit", "buy", 1, price, {"clientOrderId": cid, **OPERATOR})
    with pytest.raises(ccxt.ExchangeError, match='"errorCode":220'):
        bitvavo.create_order("SOL/EUR", "limit", "buy", 1, price, {"clientOrderId": cid, **OPERATOR})
    assert len(bitvavo.fetch_open_orders("SOL/EUR")) == 1


def test_my_trades_come_newest_first_with_euro_fees_and_uuid_ids(bitvavo):
    first = buy(bitvavo, "BTC/EUR", 0.001, str(uuid.uuid4()))
    time.sleep(0.005)
    second = bitvavo.create_order("BTC/EUR", "market", "sell", 0.0005, None, OPERATOR)
    raw = bitvavo.privateGetTrades({"market": "BTC-EUR"})
    assert [t["orderId"] for t in raw] == [second["id"], first["id"]]  # newest first
    assert raw[0]["timestamp"] > raw[1]["timestamp"]
    assert raw[1]["clientOrderId"] == first["info"]["clientOrderId"] and "clientOrderId" not in raw[0]
    assert {t["feeCurrency"] for t in raw} == {"EUR"} and all(t["settled"] and t["taker"] for t in raw)
    trades = bitvavo.fetch_my_trades("BTC/EUR")
    assert [(t["order"], t["side"]) for t in trades] == [(first["id"], "buy"), (second["id"], "sell")]
    for trade in trades:
        assert is_uuid(trade["id"]) and trade["id"] != trade["order"]
        assert trade["fee"]["currency"] == "EUR"
        assert trade["fee"]["cost"] == pytest.approx(trade["cost"] * 0.001, abs=1e-8)


def test_trades_page_backward_by_moving_until(bitvavo):
    """As the platform reads Bitvavo: pages of newest trades, each ending where the last one's oldest was."""
    orders = []
    for _ in range(5):
        orders.append(buy(bitvavo, "SOL/EUR", 0.1)["id"])
        time.sleep(0.005)  # distinct milliseconds
    since = bitvavo.fetch_order(orders[0], "SOL/EUR")["timestamp"]
    found, until, pages = {}, None, 0
    while True:
        page = bitvavo.fetch_my_trades("SOL/EUR", since, 2, {"until": until} if until else {})
        pages += 1
        fresh = [t for t in page if t["id"] not in found]
        found.update((t["id"], t) for t in fresh)
        if len(page) < 2 or not fresh:
            break
        until = min(t["timestamp"] for t in page)
    assert pages >= 3
    assert sorted(t["order"] for t in found.values()) == sorted(orders)
    assert bitvavo.last_request_url.count("end=") == 1  # ccxt sent `until` as Bitvavo's `end`


def test_trade_id_bounds_and_time_bounds_are_inclusive(bitvavo):
    for _ in range(4):
        buy(bitvavo, "ETH/EUR", 0.01)
        time.sleep(0.005)
    raw = bitvavo.privateGetTrades({"market": "ETH-EUR"})
    newest, second, third, _oldest = raw
    window = bitvavo.privateGetTrades({"market": "ETH-EUR", "tradeIdFrom": third["id"], "tradeIdTo": second["id"]})
    assert [t["id"] for t in window] == [second["id"], third["id"]]
    timed = bitvavo.privateGetTrades({"market": "ETH-EUR", "start": third["timestamp"], "end": second["timestamp"]})
    assert [t["id"] for t in timed] == [second["id"], third["id"]]
    assert [t["id"] for t in bitvavo.privateGetTrades({"market": "ETH-EUR", "limit": 1})] == [newest["id"]]
    with pytest.raises(ccxt.BadRequest, match="limit parameter is invalid"):
        bitvavo.privateGetTrades({"market": "ETH-EUR", "limit": 1001})


def test_limit_order_rests_locks_funds_and_cancels(bitvavo):
    price = round(bitvavo.fetch_ticker("SOL/EUR")["last"] * 0.7, 2)
    cid = str(uuid.uuid4())
    order = bitvavo.create_order("SOL/EUR", "limit", "buy", 2, price, {"clientOrderId": cid, **OPERATOR})
    assert order["status"] == "open" and order["price"] == price
    locked = round(2 * price * 1.001, 8)  # the fee in EUR is locked with the cost
    assert bitvavo.fetch_balance()["EUR"]["used"] == pytest.approx(locked)
    assert [o["id"] for o in bitvavo.fetch_open_orders("SOL/EUR")] == [order["id"]]
    assert [o["id"] for o in bitvavo.fetch_open_orders()] == [order["id"]]
    with pytest.raises(ccxt.ArgumentsRequired, match="operatorId"):  # cancelling needs one too
        bitvavo.cancel_order(order["id"], "SOL/EUR")
    canceled = bitvavo.cancel_order(order["id"], "SOL/EUR", OPERATOR)
    assert canceled["id"] == order["id"] and canceled["info"]["clientOrderId"] == cid
    assert bitvavo.fetch_order(None, "SOL/EUR", {"clientOrderId": cid})["status"] == "canceled"
    assert bitvavo.fetch_open_orders("SOL/EUR") == []
    assert bitvavo.fetch_balance()["EUR"] == {"free": 10000.0, "used": 0.0, "total": 10000.0}
    with pytest.raises(ccxt.OrderNotFound, match='"errorCode":233'):  # no longer open
        bitvavo.cancel_order(order["id"], "SOL/EUR", OPERATOR)
    assert [o["id"] for o in bitvavo.fetch_orders("SOL/EUR")] == [order["id"]]


def test_insufficient_funds(bitvavo):
    with pytest.raises(ccxt.InsufficientFunds, match='"errorCode":216'):
        buy(bitvavo, "BTC/EUR", 1)
    with pytest.raises(ccxt.InsufficientFunds):
        bitvavo.create_order("ETH/EUR", "market", "sell", 0.01, None, OPERATOR)
    assert bitvavo.fetch_balance()["EUR"]["free"] == 10000


def test_an_order_below_the_minimum_is_invalid(bitvavo):
    with pytest.raises(ccxt.InvalidOrder, match='"errorCode":217'):
        buy(bitvavo, "BTC/EUR", 0.00001)


def test_unknown_order_is_order_not_found(bitvavo):
    never = str(uuid.uuid4())
    with pytest.raises(ccxt.OrderNotFound, match='"errorCode":240'):
        bitvavo.fetch_order(never, "BTC/EUR")
    with pytest.raises(ccxt.OrderNotFound):
        bitvavo.fetch_order(None, "BTC/EUR", {"clientOrderId": never})
    with pytest.raises(ccxt.OrderNotFound):
        bitvavo.cancel_order(never, "BTC/EUR", OPERATOR)
    order = buy(bitvavo, "BTC/EUR", 0.001)
    with pytest.raises(ccxt.OrderNotFound):  # an order id is found in its own market only
        bitvavo.fetch_order(order["id"], "ETH/EUR")


def test_bad_key_bad_signature_and_stale_timestamp_are_authentication_errors(paper_exchange, bitvavo):
    unknown = paper_exchange.ccxt({"api_key": "a" * 64, "secret": "b" * 64, "venue": "bitvavo"}, enableRateLimit=False)
    with pytest.raises(ccxt.AuthenticationError, match='"errorCode":305'):
        unknown.fetch_balance()
    forged = paper_exchange.ccxt({**bitvavo.paper_key, "secret": "0" * 64}, enableRateLimit=False)
    with pytest.raises(ccxt.AuthenticationError, match='"errorCode":309'):
        forged.fetch_balance()
    paper_exchange.fault(clock_skew={"ms": 30000})  # the server's clock runs 30 s ahead of ours
    try:
        with pytest.raises(ccxt.AuthenticationError, match='"errorCode":304'):
            bitvavo.fetch_balance()
        bitvavo.options["recvWindow"] = 60000  # Bitvavo-Access-Window: accepted within 60 s
        assert bitvavo.fetch_balance()["EUR"]["free"] == 10000
        bitvavo.options["recvWindow"] = 50
        with pytest.raises(ccxt.AuthenticationError, match='"errorCode":303'):
            bitvavo.fetch_balance()
    finally:
        paper_exchange.clear_faults()


def test_a_binance_key_is_refused_under_bitvavo_and_a_bitvavo_key_by_binance(paper_exchange, bitvavo):
    binance_key = paper_exchange.create_key(paper_exchange.create_account(EUR="100", USDT="100"))
    assert len(binance_key["api_key"]) == 64  # a key of Bitvavo's length, but of another venue
    as_bitvavo = paper_exchange.ccxt(binance_key, venue="bitvavo", enableRateLimit=False)
    with pytest.raises(ccxt.AuthenticationError, match='"errorCode":305'):
        as_bitvavo.fetch_balance()
    as_binance = paper_exchange.ccxt(bitvavo.paper_key, venue="binance", enableRateLimit=False)
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        as_binance.fetch_balance()


def test_a_read_only_key_cannot_trade(paper_exchange):
    paper_exchange.reset()
    account_id = paper_exchange.create_account(venue="bitvavo", EUR="1000")
    key = paper_exchange.create_key(account_id, trade=False)
    exchange = paper_exchange.ccxt(key, enableRateLimit=False)
    assert exchange.fetch_balance()["EUR"]["free"] == 1000  # reading works
    with pytest.raises(ccxt.PermissionDenied, match='"errorCode":310'):
        buy(exchange, "BTC/EUR", 0.001)


def test_weight_is_counted_per_key_and_a_key_over_budget_is_refused(paper_exchange, bitvavo):
    paper_exchange.fresh_window(seconds_left=15)
    paper_exchange.limits(venue="bitvavo", weight_per_minute=12)
    bitvavo.fetch_balance()  # balance: 5
    headers = bitvavo.last_response_headers
    assert (headers["Bitvavo-Ratelimit-Limit"], headers["Bitvavo-Ratelimit-Remaining"]) == ("12", "7")
    reset_at = int(headers["Bitvavo-Ratelimit-ResetAt"])
    assert reset_at % 60000 == 0 and 0 < reset_at - paper_exchange.server_time() <= 60000
    bitvavo.fetch_open_orders("BTC/EUR")  # ordersOpen with a market: 1
    bitvavo.fetch_my_trades("BTC/EUR")  # trades: 5
    assert bitvavo.last_response_headers["Bitvavo-Ratelimit-Remaining"] == "1"
    # ccxt 4.5.90 files errorCode 110, Bitvavo's rate-limit refusal, under BadRequest (its table predates it)
    with pytest.raises(ccxt.BadRequest, match='"errorCode":110'):
        bitvavo.fetch_balance()
    assert bitvavo.last_response_headers["Bitvavo-Ratelimit-Remaining"] == "0"
    blocked_until = int(bitvavo.last_response_headers["Bitvavo-Ratelimit-ResetAt"])
    assert blocked_until == reset_at + 60000  # the rest of this minute and the next
    with pytest.raises(ccxt.BadRequest, match='"errorCode":110'):
        bitvavo.fetch_open_orders("BTC/EUR")  # still refused, even a light call
    other = bitvavo_client(paper_exchange, EUR="10")  # another key has its own budget
    assert other.fetch_balance()["EUR"]["free"] == 10
    assert other.last_response_headers["Bitvavo-Ratelimit-Remaining"] == "7"
    assert paper_exchange.counters()["http_429"] == 2


def test_public_calls_are_counted_per_ip_and_refused_with_429(paper_exchange):
    paper_exchange.fresh_window(seconds_left=15)
    paper_exchange.limits(venue="bitvavo", weight_per_minute=3)
    statuses = [public_get(paper_exchange, "time")[0] for _ in range(3)]
    assert statuses == [200, 200, 200]
    status, body, headers = public_get(paper_exchange, "time")
    assert status == 429 and body["errorCode"] == 110
    assert headers["Bitvavo-Ratelimit-Remaining"] == "0"
    assert int(headers["Bitvavo-Ratelimit-ResetAt"]) - paper_exchange.server_time() > 15 * 60000  # an IP: 15 min
    assert paper_exchange.limits(venue="bitvavo")["ip_weight"]["127.0.0.1"] == 4
    paper_exchange.reset()


def test_lost_answer_to_an_order_is_found_by_client_order_id(paper_exchange, bitvavo):
    cid = str(uuid.uuid4())
    paper_exchange.fault(lost_response={"count": 1})
    with pytest.raises(ccxt.NetworkError):
        buy(bitvavo, "BTC/EUR", 0.001, cid)
    found = bitvavo.fetch_order(None, "BTC/EUR", {"clientOrderId": cid})
    assert found["status"] == "closed" and found["filled"] == 0.001 and found["info"]["clientOrderId"] == cid
    assert bitvavo.fetch_balance()["BTC"]["total"] == 0.001  # executed once
    counters = paper_exchange.counters()
    assert counters["orders_by_client_order_id"][cid] == 1 and counters["lost_responses"] == 1


def test_fault_knobs_render_in_bitvavo_style(paper_exchange, bitvavo):
    paper_exchange.fault(force={"status": 429, "count": 1})
    with pytest.raises(ccxt.BadRequest, match='"errorCode":110'):
        bitvavo.fetch_balance()
    paper_exchange.fault(force={"status": 418, "count": 1})  # Bitvavo bans with a 429 and errorCode 105
    with pytest.raises(ccxt.RateLimitExceeded, match='"errorCode":105.*banned'):
        bitvavo.fetch_balance()
    paper_exchange.fault(error={"count": 1, "status": 503})
    with pytest.raises(ccxt.ExchangeNotAvailable, match='"errorCode":109'):
        bitvavo.fetch_balance()
    paper_exchange.fault(error={"count": 1, "status": 502})
    with pytest.raises(ccxt.ExchangeNotAvailable):
        bitvavo.fetch_balance()
    paper_exchange.fault(error={"count": 1, "status": 500})
    with pytest.raises(ccxt.ExchangeError, match='"errorCode":101'):  # "may or may not have succeeded"
        bitvavo.fetch_balance()
    paper_exchange.fault(reject_order={"count": 1, "msg": "Rejected for Bitvavo."})
    with pytest.raises(ccxt.ExchangeError, match='"errorCode":230,"error":"Rejected for Bitvavo."'):
        buy(bitvavo, "BTC/EUR", 0.001)
    assert bitvavo.fetch_balance()["EUR"]["free"] == 10000
    assert paper_exchange.counters()["requests_by_path"]["/bitvavo/v2/balance"] == 6
