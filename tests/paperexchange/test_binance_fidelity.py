"""The Binance dialect where Binance's own SDKs and python-binance see what they see against api.binance.com.

Three real clients drive the server: ccxt (``paperexchange.client.make_ccxt``),
python-binance (``binance.Client``) and Binance's official SDK
(``binance_sdk_spot``), plus plain signed HTTP for requests no library sends
(a parameter twice, a name in both query string and body, odd recvWindows).
Codes and messages: developers.binance.com spot REST API ("Error codes",
"Filters", "Timing security", "Test new order").
"""

import hashlib
import hmac
import json
import time
import urllib.error
import urllib.request
import warnings
from decimal import Decimal

import ccxt
import pytest
from binance_sdk_spot.rest_api.models import OrderTestSideEnum, OrderTestTypeEnum
from binance_sdk_spot.spot import ConfigurationRestAPI, Spot

from paperexchange import config, store
from paperexchange.engine import Engine
from paperexchange.errors import BinanceError, ControlError
from paperexchange.market import Market

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # python-binance imports websockets' legacy client
    from binance import Client
    from binance.exceptions import BinanceAPIException

NOW = 1_790_000_000_000


# clients ------------------------------------------------------------------------

def python_binance(paper_exchange, key, **options):
    """python-binance's ``Client``, unmodified, its API URL pointed at the paper exchange."""
    client = Client(key["api_key"], key["secret"], ping=False, **options)
    client.API_URL = paper_exchange.url + "/api"
    return client


def binance_sdk(paper_exchange, key, **options):
    """Binance's official Python SDK (binance-sdk-spot), base path at the paper exchange, no retries."""
    configuration = ConfigurationRestAPI(api_key=key["api_key"], api_secret=key["secret"], base_path=paper_exchange.url,
                                         retries=0, timeout=10000, **options)
    return Spot(config_rest_api=configuration).rest_api


def raw(paper_exchange, method, path, query="", body="", key=None, headers=None):
    """One request as a hand-written client sends it: with ``key``, signed (HMAC) over query string + body.

    Returns (status, headers, parsed JSON body, or the raw bytes when it is not JSON).
    """
    request_headers = dict(headers or {})
    if key is not None:
        signature = hmac.new(key["secret"].encode(), (query + body).encode(), hashlib.sha256).hexdigest()
        query = f"{query}&signature={signature}" if query else f"signature={signature}"
        request_headers["X-MBX-APIKEY"] = key["api_key"]
    if body:
        request_headers["Content-Type"] = "application/x-www-form-urlencoded"
    url = paper_exchange.url + path + (f"?{query}" if query else "")
    request = urllib.request.Request(url, data=body.encode() if body else None, method=method, headers=request_headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            status, answer_headers, payload = resp.status, resp.headers, resp.read()
    except urllib.error.HTTPError as exc:
        status, answer_headers, payload = exc.code, exc.headers, exc.read()
    try:
        return status, answer_headers, json.loads(payload)
    except ValueError:
        return status, answer_headers, payload


def now_ms():
    return int(time.time() * 1000)


@pytest.fixture
def exchange(paper_account):
    exchange = paper_account.ccxt(enableRateLimit=False)
    exchange.load_markets()
    return exchange


def half_price(paper_exchange, symbol="BTCUSDT"):
    """A limit price far below the market, on the tick: an order there rests."""
    return str((Decimal(paper_exchange.prices()[symbol]) / 2).quantize(Decimal("0.01")))


# MAX_NUM_ORDERS ----------------------------------------------------------------------

def test_exchange_info_publishes_max_num_orders_of_200(paper_exchange, paper_account):
    client = python_binance(paper_exchange, paper_account.key)
    filters = {f["filterType"]: f for f in client.get_symbol_info("BTCUSDT")["filters"]}
    assert filters["MAX_NUM_ORDERS"] == {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200}


def test_the_201st_open_order_on_a_symbol_is_refused_with_max_num_orders(paper_exchange, paper_account):
    paper_exchange.limits(orders_per_10s=1000)  # 201 orders in a few seconds: only the open-order filter may bite
    client = python_binance(paper_exchange, paper_account.key)
    price = half_price(paper_exchange)
    for n in range(200):
        client.order_limit_buy(symbol="BTCUSDT", quantity="0.0002", price=price, newClientOrderId=f"rest-{n}")
    locked = paper_account.snapshot()["balances"]["USDT"]["locked"]

    with pytest.raises(BinanceAPIException) as refused:
        client.order_limit_buy(symbol="BTCUSDT", quantity="0.0002", price=price, newClientOrderId="rest-200")
    assert (refused.value.status_code, refused.value.code, refused.value.message) == (
        400, -2010, "Filter failure: MAX_NUM_ORDERS")
    # market orders too, and ccxt raises what it raises against Binance for -2010
    exchange = paper_account.ccxt()
    with pytest.raises(ccxt.InvalidOrder, match="MAX_NUM_ORDERS"):
        exchange.create_order("BTC/USDT", "market", "buy", 0.0001)

    snapshot = paper_account.snapshot()
    assert len([o for o in snapshot["orders"] if o["status"] == "NEW"]) == 200
    assert snapshot["balances"]["USDT"]["locked"] == locked
    assert snapshot["trades"] == []
    # the limit is per symbol ...
    assert exchange.create_order("ETH/USDT", "market", "buy", 0.01)["status"] == "closed"
    # ... and an order fits again once one is no longer open
    client.cancel_order(symbol="BTCUSDT", origClientOrderId="rest-0")
    assert client.order_limit_buy(symbol="BTCUSDT", quantity="0.0002", price=price)["status"] == "NEW"


def test_max_num_orders_is_configurable_per_symbol(tmp_path):
    path = tmp_path / "paper.json"
    specs = [{**spec, "max_num_orders": 2} if spec["symbol"] == "BTCUSDT" else spec
             for spec in config.DEFAULT_SYMBOLS]
    path.write_text(json.dumps({"symbols": specs}))
    cfg = config.load(str(path), environ={})
    market = Market(cfg["symbols"], seed=5)
    assert {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 2} in market.symbols["BTCUSDT"].filters()
    assert {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200} in market.symbols["ETHUSDT"].filters()

    conn = store.connect(tmp_path)
    engine = Engine(conn, market, venues=cfg["venues"])
    account = store.account_create(conn, {"USDT": "10000"})
    order = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.001",
             "price": "10000"}
    engine.place_order(account, order, NOW)
    engine.place_order(account, order, NOW)
    with pytest.raises(BinanceError) as refused:
        engine.place_order(account, order, NOW)
    assert (refused.value.code, refused.value.msg, refused.value.kind) == (-2010, "Filter failure: MAX_NUM_ORDERS",
                                                                           "filter")
    path.write_text(json.dumps({"symbols": [{**config.DEFAULT_SYMBOLS[0], "max_num_orders": 0}]}))
    with pytest.raises(ControlError, match="max_num_orders must be a positive integer"):
        config.load(str(path), environ={})


# order counts ------------------------------------------------------------------------

def test_refused_orders_do_not_count_towards_the_order_limits(paper_exchange, exchange, paper_account):
    paper_exchange.fresh_window(seconds_left=6, window_seconds=10)
    paper_exchange.limits(orders_per_10s=2)
    exchange.create_order("BTC/USDT", "market", "buy", 0.0001)
    assert exchange.last_response_headers["X-MBX-ORDER-COUNT-10S"] == "1"

    refusals = [
        (ccxt.InvalidOrder, lambda: exchange.privatePostOrder(  # LOT_SIZE, -1013
            {"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.000015"})),
        (ccxt.InsufficientFunds, lambda: exchange.create_order("BTC/USDT", "market", "buy", 1)),  # -2010
        (ccxt.InsufficientFunds, lambda: exchange.create_order("ETH/USDT", "market", "sell", 0.01)),
        (ccxt.BadRequest, lambda: exchange.create_order("BTC/USDT", "market", "buy", 0.0001,
                                                         params={"notAParameter": "1"})),  # -1104
    ]
    for error, send in refusals:
        with pytest.raises(error):
            send()
        assert exchange.last_response_headers["X-MBX-ORDER-COUNT-10S"] == "1"
    paper_exchange.fault(reject_order={"count": 1})
    with pytest.raises(ccxt.InvalidOrder):
        exchange.create_order("BTC/USDT", "market", "buy", 0.0001)

    # five refusals later the second accepted order still fits the limit of two
    exchange.create_order("BTC/USDT", "market", "buy", 0.0001)
    headers = exchange.last_response_headers
    assert (headers["X-MBX-ORDER-COUNT-10S"], headers["X-MBX-ORDER-COUNT-1D"]) == ("2", "2")
    with pytest.raises(ccxt.DDoSProtection, match="-1015"):
        exchange.create_order("BTC/USDT", "market", "buy", 0.0001)
    assert len(paper_account.snapshot()["orders"]) == 2
    assert paper_exchange.counters()["orders"] == 2


def test_order_counts_reach_binances_sdk_as_rate_limits(paper_exchange, paper_account):
    paper_exchange.fresh_window(seconds_left=5, window_seconds=10)
    client = python_binance(paper_exchange, paper_account.key)
    client.order_market_buy(symbol="BTCUSDT", quantity="0.0001")
    with pytest.raises(BinanceAPIException):
        client.order_market_buy(symbol="BTCUSDT", quantity="1")
    answer = binance_sdk(paper_exchange, paper_account.key).new_order(symbol="BTCUSDT", side="BUY", type="MARKET",
                                                                      quantity=0.0001)
    orders = {(r.interval, r.intervalNum): r.count for r in answer.rate_limits if r.rateLimitType == "ORDERS"}
    assert orders == {("SECOND", 10): 2, ("DAY", 1): 2}


# timing: recvWindow, microseconds ---------------------------------------------------------

def account_status(paper_exchange, key, query):
    status, _, body = raw(paper_exchange, "GET", "/api/v3/account", query, key=key)
    return status, body if status != 200 else None


def test_recv_window_takes_up_to_three_decimals(paper_exchange, paper_account):
    key = paper_account.key
    for window in ("5000.5", "5000.125", "60000"):
        assert account_status(paper_exchange, key, f"timestamp={now_ms()}&recvWindow={window}") == (200, None)
    # the window is applied with its decimals: 1.5 s ago is outside 1000.5 ms, inside 3000.5 ms
    assert account_status(paper_exchange, key, f"timestamp={now_ms() - 1500}&recvWindow=1000.5") == (
        400, {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."})
    assert account_status(paper_exchange, key, f"timestamp={now_ms() - 1500}&recvWindow=3000.5") == (200, None)

    status, body = account_status(paper_exchange, key, f"timestamp={now_ms()}&recvWindow=60000.001")
    assert (status, body) == (400, {"code": -1131, "msg": "'recvWindow' must be less than 60000."})
    status, body = account_status(paper_exchange, key, f"timestamp={now_ms()}&recvWindow=5000.1234")
    assert (status, body) == (400, {"code": -1111, "msg": "Parameter 'recvWindow' has too much precision."})
    status, body = account_status(paper_exchange, key, f"timestamp={now_ms()}&recvWindow=5s")
    assert (status, body["code"]) == (400, -1100) and "'recvWindow'" in body["msg"]


def test_binances_sdk_sends_a_decimal_recv_window(paper_exchange, paper_account):
    answer = binance_sdk(paper_exchange, paper_account.key).new_order(symbol="BTCUSDT", side="BUY", type="MARKET",
                                                                      quantity=0.0001, recv_window=5000.25)
    assert answer.data().status == "FILLED"


def test_a_microsecond_timestamp_is_accepted_and_checked(paper_exchange, paper_account):
    key = paper_account.key
    micros = now_ms() * 1000 + 123
    assert account_status(paper_exchange, key, f"timestamp={micros}") == (200, None)
    assert account_status(paper_exchange, key, f"timestamp={micros - 120_000_000}") == (
        400, {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."})
    assert account_status(paper_exchange, key, f"timestamp={micros + 5_000_000}") == (
        400, {"code": -1021, "msg": "Timestamp for this request was 1000ms ahead of the server's time."})
    status, body = account_status(paper_exchange, key, "timestamp=17000000000x")
    assert (status, body["code"]) == (400, -1100)


def test_time_unit_microsecond_answers_every_time_in_microseconds(paper_exchange, paper_account):
    millis = python_binance(paper_exchange, paper_account.key)
    micros = python_binance(paper_exchange, paper_account.key, time_unit="MICROSECOND")
    before = now_ms()
    server = micros.get_server_time()["serverTime"]
    assert (before - 2000) * 1000 <= server <= (now_ms() + 2000) * 1000

    order = micros.order_market_buy(symbol="BTCUSDT", quantity="0.0001")
    assert order["transactTime"] > 10 ** 15 and order["workingTime"] == order["transactTime"]
    queried = millis.get_order(symbol="BTCUSDT", orderId=order["orderId"])
    assert micros.get_order(symbol="BTCUSDT", orderId=order["orderId"])["time"] == queried["time"] * 1000
    trade, = micros.get_my_trades(symbol="BTCUSDT")
    assert trade["time"] == millis.get_my_trades(symbol="BTCUSDT")[0]["time"] * 1000
    assert micros.get_account()["updateTime"] > 10 ** 15

    start = 1_700_000_040_000
    ms_rows = millis.get_klines(symbol="BTCUSDT", interval="1m", startTime=start, limit=2)
    us_rows = micros.get_klines(symbol="BTCUSDT", interval="1m", startTime=start * 1000, limit=2)
    assert [(r[0], r[6]) for r in us_rows] == [(r[0] * 1000, (r[6] + 1) * 1000 - 1) for r in ms_rows]
    assert [r[1:6] for r in us_rows] == [r[1:6] for r in ms_rows]
    # a startTime in microseconds without the header: times answered in milliseconds
    assert millis.get_klines(symbol="BTCUSDT", interval="1m", startTime=start * 1000, limit=2) == ms_rows

    status, _, body = raw(paper_exchange, "GET", "/api/v3/time", headers={"X-MBX-TIME-UNIT": "NANOSECOND"})
    assert (status, body) == (400, {"code": -1194, "msg": "Invalid value for time unit; expected either MICROSECOND "
                                                          "or MILLISECOND."})


def test_binances_sdk_reads_server_time_in_microseconds(paper_exchange, paper_account):
    before = now_ms()
    server = binance_sdk(paper_exchange, paper_account.key, time_unit="MICROSECOND").time().data().server_time
    assert (before - 2000) * 1000 <= server <= (now_ms() + 2000) * 1000


# parameters -----------------------------------------------------------------------

def test_a_parameter_the_endpoint_does_not_read_is_refused_with_1104(paper_exchange, paper_account, exchange):
    status, _, body = raw(paper_exchange, "GET", "/api/v3/ticker/price", "symbol=BTCUSDT&depth=5")
    assert (status, body) == (400, {"code": -1104, "msg": "Not all sent parameters were read; read '1' parameter(s) "
                                                          "but was sent '2'."})
    status, _, body = raw(paper_exchange, "GET", "/api/v3/account", f"timestamp={now_ms()}&symbol=BTCUSDT",
                          key=paper_account.key)
    assert (status, body) == (400, {"code": -1104, "msg": "Not all sent parameters were read; read '2' parameter(s) "
                                                          "but was sent '3'."})
    with pytest.raises(ccxt.BadRequest, match="-1104"):
        exchange.fetch_ticker("BTC/USDT", params={"windowSize": "1d"})
    with pytest.raises(ccxt.BadRequest, match="-1104"):
        exchange.create_order("BTC/USDT", "market", "buy", 0.0001, params={"reduceOnly": "true"})
    assert paper_account.snapshot()["orders"] == []


def test_a_parameter_sent_twice_is_refused_with_1101(paper_exchange, paper_account):
    status, _, body = raw(paper_exchange, "GET", "/api/v3/ticker/price", "symbol=BTCUSDT&symbol=ETHUSDT")
    assert (status, body) == (400, {"code": -1101, "msg": "Duplicate values for a parameter detected."})
    order = f"symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.0001&quantity=0.0002&timestamp={now_ms()}"
    status, _, body = raw(paper_exchange, "POST", "/api/v3/order", body=order, key=paper_account.key)
    assert (status, body["code"]) == (400, -1101)
    assert paper_account.snapshot()["orders"] == []


def test_a_parameter_in_query_string_and_body_is_read_from_the_query_string(paper_exchange, paper_account):
    body = f"symbol=BTCUSDT&side=BUY&type=MARKET&quantity=0.0001&timestamp={now_ms()}"
    status, _, order = raw(paper_exchange, "POST", "/api/v3/order", "quantity=0.0002", body, key=paper_account.key)
    assert (status, order["origQty"]) == (200, "0.00020000")


def test_every_request_ccxt_makes_on_the_spot_routes_is_read(paper_exchange, paper_account, exchange):
    """Everything ccxt's binance sends on each route the dialect serves is a parameter Binance reads."""
    exchange.fetch_time()
    exchange.fetch_status()
    exchange.fetch_ticker("BTC/USDT")
    exchange.fetch_tickers()
    exchange.fetch_tickers(["BTC/USDT", "ETH/USDT"])
    exchange.fetch_bids_asks(["BTC/USDT"])
    exchange.fetch_last_prices(["BTC/USDT"])
    exchange.fetch_order_book("BTC/USDT", limit=5)
    since = now_ms() - 3 * 3600_000
    exchange.fetch_ohlcv("BTC/USDT", "1h", since=since, limit=2, params={"until": now_ms()})
    exchange.fetch_balance()
    exchange.fetch_trading_fees()
    exchange.sapi_get_account_apirestrictions()
    price = float(half_price(paper_exchange))
    resting = exchange.create_order("BTC/USDT", "limit", "buy", 0.0002, price, params={"clientOrderId": "sweep-1"})
    exchange.create_order("BTC/USDT", "limit", "buy", 0.0002, price, params={"postOnly": True})
    exchange.create_order("BTC/USDT", "limit", "buy", 0.0002, price, params={"timeInForce": "IOC"})
    filled = exchange.create_order("BTC/USDT", "market", "buy", 0.0002, params={"newOrderRespType": "FULL"})
    exchange.create_market_buy_order_with_cost("BTC/USDT", 10)
    exchange.create_order("BTC/USDT", "market", "buy", 0.0001, params={"test": True})
    exchange.fetch_order(resting["id"], "BTC/USDT")
    exchange.fetch_order(None, "BTC/USDT", params={"clientOrderId": "sweep-1"})
    exchange.fetch_open_orders("BTC/USDT")
    exchange.options["fetchOpenOrders"]["warnWithoutSymbol"] = False
    exchange.fetch_open_orders()
    exchange.fetch_orders("BTC/USDT", since=since, limit=10)
    exchange.fetch_closed_orders("BTC/USDT")
    exchange.fetch_my_trades("BTC/USDT", since=since, limit=10)
    exchange.fetch_my_trades("BTC/USDT", params={"fromId": 0})
    assert exchange.fetch_order_trades(filled["id"], "BTC/USDT")
    exchange.cancel_order(None, "BTC/USDT", params={"clientOrderId": "sweep-1"})
    exchange.cancel_all_orders("BTC/USDT")
    exchange.load_time_difference()
    assert exchange.fetch_open_orders("BTC/USDT") == []


# /order/test -----------------------------------------------------------------------

def test_a_test_order_never_checks_the_balance(paper_exchange, paper_account):
    client = python_binance(paper_exchange, paper_account.key)
    # the account holds no BTC and 10,000 USDT: both would be refused for balance as real orders
    assert client.create_test_order(symbol="BTCUSDT", side="SELL", type="MARKET", quantity="1") == {}
    assert client.create_test_order(symbol="BTCUSDT", side="BUY", type="LIMIT", timeInForce="GTC",
                                    quantity="1", price=half_price(paper_exchange)) == {}
    # a client order id already used by an open order is the matching engine's concern, not the test order's
    client.order_limit_buy(symbol="BTCUSDT", quantity="0.0002", price=half_price(paper_exchange),
                           newClientOrderId="taken")
    assert client.create_test_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.0001",
                                    newClientOrderId="taken") == {}
    # parameters and filters are still checked
    with pytest.raises(BinanceAPIException) as refused:
        client.create_test_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.000015")
    assert (refused.value.code, refused.value.message) == (-1013, "Filter failure: LOT_SIZE")
    with pytest.raises(BinanceAPIException) as refused:
        client.create_test_order(symbol="BTCUSDT", side="BUY", type="LIMIT", quantity="0.001", price="100")
    assert refused.value.code == -1102
    snapshot = paper_account.snapshot()
    assert [o["clientOrderId"] for o in snapshot["orders"]] == ["taken"]
    assert snapshot["trades"] == [] and "BTC" not in snapshot["balances"]


def test_a_test_order_computes_its_commission_rates(paper_exchange, paper_account):
    paper_exchange.fresh_window(seconds_left=10)
    client = python_binance(paper_exchange, paper_account.key)
    assert client.create_test_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.0001") == {}
    plain = int(client.response.headers["X-MBX-USED-WEIGHT-1M"])
    rates = client.create_test_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.0001",
                                     computeCommissionRates="true")
    assert int(client.response.headers["X-MBX-USED-WEIGHT-1M"]) == plain + 20  # Binance: 20 with the rates, else 1
    assert "X-MBX-ORDER-COUNT-10S" not in client.response.headers  # a test order is not an order
    assert rates == {
        "standardCommissionForOrder": {"maker": "0.00100000", "taker": "0.00100000"},
        "specialCommissionForOrder": {"maker": "0.00000000", "taker": "0.00000000"},
        "taxCommissionForOrder": {"maker": "0.00000000", "taker": "0.00000000"},
        # the account does not pay its fees in BNB; BNB/USDT would price them
        "discount": {"enabledForAccount": False, "enabledForSymbol": True, "discountAsset": "BNB",
                     "discount": "0.25000000"},
    }
    with pytest.raises(BinanceAPIException) as refused:
        client.create_test_order(symbol="BTCUSDT", side="BUY", type="MARKET", quantity="0.0001",
                                 computeCommissionRates="maybe")
    assert refused.value.code == -1130


def test_binances_sdk_reads_the_test_order_commission_rates(paper_exchange, paper_account):
    answer = binance_sdk(paper_exchange, paper_account.key).order_test(
        symbol="BTCUSDT", side=OrderTestSideEnum.SELL, type=OrderTestTypeEnum.MARKET, quantity=1.0,
        compute_commission_rates=True)
    rates = answer.data()
    assert (rates.standard_commission_for_order.maker, rates.standard_commission_for_order.taker) == (
        "0.00100000", "0.00100000")
    assert rates.tax_commission_for_order.taker == "0.00000000"
    assert rates.discount.discount_asset == "BNB" and rates.discount.enabled_for_account is False
    assert paper_account.snapshot()["orders"] == []


# unknown paths --------------------------------------------------------------------

def test_an_unknown_binance_path_answers_404_with_an_empty_body(paper_exchange, paper_account):
    status, headers, body = raw(paper_exchange, "GET", "/api/v3/userDataStream")
    assert (status, body, headers["Content-Length"]) == (404, b"", "0")
    status, _, body = raw(paper_exchange, "POST", "/sapi/v1/no/such/route", body="a=1")
    assert (status, body) == (404, b"")

    # what the clients raise against api.binance.com for such a path
    with pytest.raises(BinanceAPIException) as python_binance_error:
        python_binance(paper_exchange, paper_account.key)._get("userDataStream")
    assert (python_binance_error.value.status_code, python_binance_error.value.code) == (404, 0)
    with pytest.raises(ccxt.ExchangeNotAvailable, match="404"):
        paper_account.ccxt().request("userDataStream", ["public"], "GET")


def test_other_venues_and_the_control_routes_keep_their_own_404(paper_exchange):
    for path in ("/binanceus/api/v3/userDataStream", "/_paper/no-such-knob"):
        status, _, body = raw(paper_exchange, "GET", path)
        assert (status, body) == (404, b"404: Not Found")
    for venue in ("kraken", "bitvavo", "onetrading"):
        status, _, body = raw(paper_exchange, "GET", f"/{venue}/no/such/route")
        assert status == 404 and body != b""


def test_binanceus_reads_parameters_and_test_orders_as_binance(paper_exchange):
    key = paper_exchange.create_key(paper_exchange.create_account(venue="binanceus", USD="100"))
    exchange = paper_exchange.ccxt(key)
    with pytest.raises(ccxt.BadRequest, match="-1104"):
        exchange.fetch_ticker("BTC/USD", params={"windowSize": "1d"})
    # 1 BTC for 100 USD: a test order still passes, a real one is refused for balance
    assert exchange.create_order("BTC/USD", "market", "buy", 1, params={"test": True}) is not None
    with pytest.raises(ccxt.InsufficientFunds):
        exchange.create_order("BTC/USD", "market", "buy", 1)
