"""The unmodified ccxt onetrading class, its URLs pointed at BASE/onetrading, trades against the paper exchange."""

import itertools
import time
import uuid

import ccxt
import pytest

ONETRADING_SYMBOLS = {"BTC/EUR", "ETH/EUR", "SOL/EUR", "BTC/USDT", "ETH/USDT", "USDT/EUR", "USDC/EUR"}
DAY_MS = 86_400_000


def make_client(paper_exchange, key):
    # ccxt paces One Trading at 300 ms a call; the platform turns that off and paces itself
    exchange = paper_exchange.ccxt(key, enableRateLimit=False)
    exchange.load_markets()
    return exchange


@pytest.fixture
def ot(paper_exchange):
    paper_exchange.reset()
    account_id = paper_exchange.create_account(venue="onetrading", EUR="10000")
    key = paper_exchange.create_key(account_id)
    exchange = make_client(paper_exchange, key)
    exchange.paper_account_id = account_id
    exchange.paper_key = key
    return exchange


def is_uuid(text):
    return str(uuid.UUID(text)) == text


def market_buys(exchange, symbol, amounts):
    """Market buys one after another, a few ms apart so that every trade has its own time."""
    orders = []
    for amount in amounts:
        orders.append(exchange.create_order(symbol, "market", "buy", amount))
        time.sleep(0.003)
    return orders


def test_the_client_is_ccxt_onetrading_at_the_venue_prefix(ot, paper_exchange):
    assert type(ot) is ccxt.onetrading
    assert ot.urls["api"] == {"public": paper_exchange.url + "/onetrading/fast",
                              "private": paper_exchange.url + "/onetrading/fast"}
    assert abs(ot.fetch_time() - ot.milliseconds()) < 5000


def test_load_markets_lists_only_the_onetrading_instruments(ot):
    assert set(ot.symbols) == ONETRADING_SYMBOLS
    btc = ot.market("BTC/EUR")
    assert btc["id"] == "BTC_EUR" and btc["spot"] and btc["active"]
    assert (btc["precision"]["amount"], btc["precision"]["price"]) == (0.00001, 0.01)
    assert btc["limits"]["cost"]["min"] == 5
    usdt = ot.market("USDT/EUR")["precision"]
    assert (usdt["amount"], usdt["price"]) == (1, 0.0001)
    assert set(ot.fetch_currencies()) == {"BTC", "ETH", "SOL", "EUR", "USDT", "USDC"}
    assert set(ot.fetch_tickers()) == ONETRADING_SYMBOLS


def test_fetch_balance_shows_the_starting_funds(ot):
    balance = ot.fetch_balance()
    assert balance["EUR"] == {"free": 10000.0, "used": 0.0, "total": 10000.0}
    assert balance["info"]["balances"][0]["currency_code"] == "EUR"


def test_ticker_and_order_book_are_around_the_same_price(ot):
    ticker = ot.fetch_ticker("ETH/EUR")
    book = ot.fetch_order_book("ETH/EUR", 5)
    assert ticker["symbol"] == "ETH/EUR" and ticker["bid"] < ticker["ask"]
    assert len(book["bids"]) == len(book["asks"]) == 5
    assert book["bids"][0][0] < book["asks"][0][0]
    assert abs(book["bids"][0][0] - ticker["bid"]) / ticker["bid"] < 0.01


def test_candles_follow_the_unit_and_period_asked(ot):
    hours = ot.fetch_ohlcv("BTC/EUR", "1h", limit=12)
    assert len(hours) == 12
    assert all(b[0] - a[0] == 3600_000 for a, b in itertools.pairwise(hours))
    for _, o, h, low, c, v in hours:
        assert low <= min(o, c) <= max(o, c) <= h and v > 0
    # a closed four-hour candle is exactly its four hours
    fours = ot.fetch_ohlcv("BTC/EUR", "4h", since=hours[0][0] - 4 * 3600_000, limit=3)
    four = next(f for f in fours if f[0] >= hours[0][0])
    parts = [h for h in hours if four[0] <= h[0] < four[0] + 4 * 3600_000]
    assert len(parts) == 4
    assert four[1:5] == [parts[0][1], max(p[2] for p in parts), min(p[3] for p in parts), parts[-1][4]]
    assert four[5] == pytest.approx(sum(p[5] for p in parts))
    months = ot.fetch_ohlcv("BTC/EUR", "1M", since=ot.milliseconds() - 70 * DAY_MS)
    assert 2 <= len(months) <= 3


def test_candles_refuse_what_one_trading_refuses(ot):
    now = ot.milliseconds()
    window = {"instrument_code": "BTC_EUR", "from": ot.iso8601(now - 3600_000), "to": ot.iso8601(now)}
    with pytest.raises(ccxt.BadRequest, match="INVALID_CANDLESTICKS_GRANULARITY"):
        ot.publicGetCandlesticksInstrumentCode({**window, "unit": "HOURS", "period": "2"})
    with pytest.raises(ccxt.ArgumentsRequired, match="MISSING_FROM_PARAM"):
        ot.publicGetCandlesticksInstrumentCode({"instrument_code": "BTC_EUR", "unit": "HOURS", "period": "1",
                                                "to": window["to"]})
    with pytest.raises(ccxt.BadRequest, match="CANDLESTICKS_TIME_RANGE_TOO_BIG"):
        ot.publicGetCandlesticksInstrumentCode({**window, "unit": "MINUTES", "period": "1",
                                                "from": ot.iso8601(now - 10 * DAY_MS)})


def test_market_order_with_client_id_is_found_by_it_and_by_order_id(ot):
    client_id = str(uuid.uuid4())
    order = ot.create_order("BTC/EUR", "market", "buy", 0.001, None, {"client_id": client_id})
    assert order["status"] == "closed" and order["clientOrderId"] == client_id and order["filled"] == 0.001
    assert is_uuid(order["id"])
    by_id = ot.fetch_order(order["id"], "BTC/EUR")
    assert (by_id["id"], by_id["status"], by_id["clientOrderId"]) == (order["id"], "closed", client_id)
    assert by_id["fee"] == {"currency": "BTC", "cost": pytest.approx(0.000001), "rate": 0.1}
    by_client_id = ot.parse_order(ot.privateGetAccountOrdersClientClientId({"client_id": client_id}))
    assert (by_client_id["id"], by_client_id["status"], by_client_id["filled"]) == (order["id"], "closed", 0.001)
    balance = ot.fetch_balance()
    assert balance["EUR"]["total"] == pytest.approx(10000 - order["cost"])
    assert balance["BTC"]["total"] == pytest.approx(0.001 * 0.999)


def test_ccxt_fetch_order_cannot_look_an_order_up_by_client_id(ot):
    """ccxt onetrading's fetch_order puts the order id in the path: with None it asks for order "None"."""
    client_id = str(uuid.uuid4())
    ot.create_order("BTC/EUR", "market", "buy", 0.0001, None, {"client_id": client_id})
    with pytest.raises(ccxt.OrderNotFound, match="INVALID_ORDER_ID"):
        ot.fetch_order(None, "BTC/EUR", {"clientOrderId": client_id})
    assert ot.last_http_response and "/account/orders/None?clientOrderId=" in ot.last_request_url


def test_a_client_id_must_be_a_uuid(ot, paper_exchange):
    with pytest.raises(ccxt.InvalidOrder, match="INVALID_CLIENT_UUID"):
        ot.create_order("BTC/EUR", "market", "buy", 0.0001, None, {"client_id": "oc-1-sig-abcdef"})
    assert paper_exchange.account(ot.paper_account_id)["orders"] == []


def test_a_client_id_used_again_is_not_refused_and_lookups_take_the_latest(ot, paper_exchange):
    """One Trading leaves client_id uniqueness to the client: a resend executes again."""
    client_id = str(uuid.uuid4())
    first = ot.create_order("ETH/EUR", "market", "buy", 0.01, None, {"client_id": client_id})
    second = ot.create_order("ETH/EUR", "market", "buy", 0.01, None, {"client_id": client_id})
    assert first["id"] != second["id"] and second["status"] == "closed"
    found = ot.privateGetAccountOrdersClientClientId({"client_id": client_id})
    assert found["order"]["order_id"] == second["id"]
    assert len(paper_exchange.account(ot.paper_account_id)["trades"]) == 2


def test_my_trades_are_newest_first_with_fees_and_uuid_ids(ot):
    buy = ot.create_order("BTC/EUR", "market", "buy", 0.001)
    time.sleep(0.003)
    sell = ot.create_order("BTC/EUR", "market", "sell", 0.0005)
    time.sleep(0.003)
    eth = ot.create_order("ETH/EUR", "market", "buy", 0.01)
    raw = ot.privateGetAccountTrades()
    assert set(raw) == {"trade_history", "max_page_size"} and raw["max_page_size"] == 100
    history = raw["trade_history"]
    assert [h["trade"]["order_id"] for h in history] == [eth["id"], sell["id"], buy["id"]]
    times = [ot.parse8601(h["trade"]["time"]) for h in history]
    assert times == sorted(times, reverse=True)
    for item in history:
        assert is_uuid(item["trade"]["trade_id"]) and is_uuid(item["trade"]["order_id"])
        assert set(item["fee"]) >= {"fee_amount", "fee_currency", "fee_percentage", "fee_type"}
    trades = ot.fetch_my_trades("BTC/EUR")  # ccxt sorts them oldest first
    assert [(t["order"], t["side"], t["takerOrMaker"]) for t in trades] == [(buy["id"], "buy", "taker"),
                                                                             (sell["id"], "sell", "taker")]
    assert trades[0]["fee"]["currency"] == "BTC" and trades[0]["fee"]["cost"] == pytest.approx(0.000001)
    assert trades[1]["fee"]["currency"] == "EUR"
    assert trades[1]["fee"]["cost"] == pytest.approx(trades[1]["cost"] * 0.001, abs=1e-8)
    single = ot.privateGetAccountTradeTradeId({"trade_id": trades[0]["id"]})
    assert single["trade"]["order_id"] == buy["id"]


def test_trades_come_in_pages_linked_by_a_cursor(ot):
    orders = market_buys(ot, "SOL/EUR", [0.1, 0.2, 0.3, 0.4, 0.5])
    pages, cursor = [], None
    while True:
        params = {"instrument_code": "SOL_EUR", "max_page_size": 2, **({"cursor": cursor} if cursor else {})}
        page = ot.privateGetAccountTrades(params)
        pages.append([h["trade"]["order_id"] for h in page["trade_history"]])
        cursor = page.get("cursor")
        if not cursor:
            break
    assert pages == [[orders[4]["id"], orders[3]["id"]], [orders[2]["id"], orders[1]["id"]], [orders[0]["id"]]]
    with pytest.raises(ccxt.BadRequest, match="INVALID_CURSOR"):
        ot.privateGetAccountTrades({"cursor": "not a cursor"})
    with pytest.raises(ccxt.BadRequest, match="INVALID_ACCOUNT_HISTORY_MAX_PAGE_SIZE"):
        ot.privateGetAccountTrades({"max_page_size": 101})


def test_trades_read_backward_by_moving_until_as_the_platform_does(ot):
    """fetch_my_trades(symbol, since, limit, {"until": ...}): each page moves ``until`` to its oldest trade."""
    since = ot.milliseconds() - 60_000
    orders = market_buys(ot, "SOL/EUR", [0.1, 0.2, 0.3, 0.4, 0.5])
    found, until, calls = {}, None, 0
    while True:
        page = ot.fetch_my_trades("SOL/EUR", since, 2, {"until": until} if until else {})
        calls += 1
        fresh = [t for t in page if t["id"] not in found]
        found.update((t["id"], t) for t in fresh)
        if len(page) < 2 or not fresh:
            break
        until = min(t["timestamp"] for t in page)
    assert calls > 2
    assert {t["order"] for t in found.values()} == {o["id"] for o in orders}


def test_the_trades_window_is_seven_days_from_since_and_never_over_thirty(ot):
    ot.create_order("BTC/EUR", "market", "buy", 0.0001)
    now = ot.milliseconds()
    assert len(ot.fetch_my_trades("BTC/EUR")) == 1  # neither: the last seven days
    assert ot.fetch_my_trades("BTC/EUR", now - 8 * DAY_MS) == []  # since alone: seven days from it
    assert len(ot.fetch_my_trades("BTC/EUR", now - 6 * DAY_MS)) == 1
    assert len(ot.fetch_my_trades("BTC/EUR", now - 8 * DAY_MS, None, {"until": now + 1000})) == 1
    assert len(ot.fetch_my_trades("BTC/EUR", now - 30 * DAY_MS, None, {"until": now})) == 1  # thirty days at most
    with pytest.raises(ccxt.BadRequest, match="ACCOUNT_HISTORY_TIME_RANGE_TOO_BIG"):
        ot.fetch_my_trades("BTC/EUR", now - 31 * DAY_MS, None, {"until": now})
    with pytest.raises(ccxt.BadRequest, match="INVALID_ACCOUNT_HISTORY_FROM_TIME"):
        ot.fetch_my_trades("BTC/EUR", now + DAY_MS)


def test_limit_order_rests_and_cancels(ot):
    price = round(ot.fetch_ticker("SOL/EUR")["last"] * 0.7, 2)
    order = ot.create_order("SOL/EUR", "limit", "buy", 2, price)
    assert (order["status"], order["timeInForce"], order["price"]) == ("open", "GTC", price)
    assert order["clientOrderId"] is None  # sent without one: the id the engine made up is not shown
    assert ot.fetch_balance()["EUR"]["used"] == pytest.approx(2 * price)
    assert [o["id"] for o in ot.fetch_open_orders()] == [order["id"]]
    assert ot.cancel_order(order["id"])["status"] == "canceled"
    assert ot.fetch_order(order["id"])["status"] == "canceled"
    assert ot.fetch_open_orders() == []
    assert ot.fetch_balance()["EUR"] == {"free": 10000.0, "used": 0.0, "total": 10000.0}
    with pytest.raises(ccxt.OrderNotFound, match="ORDER_NOT_FOUND"):
        ot.cancel_order(order["id"])  # no longer open


def test_limit_order_cancels_by_client_id_and_closed_orders_list_it(ot):
    client_id = str(uuid.uuid4())
    price = round(ot.fetch_ticker("ETH/EUR")["last"] * 0.8, 2)
    resting = ot.create_order("ETH/EUR", "limit", "buy", 0.5, price, {"client_id": client_id})
    filled = ot.create_order("ETH/EUR", "market", "buy", 0.01)
    assert ot.cancel_order(None, None, {"clientOrderId": client_id})["status"] == "canceled"
    closed = ot.fetch_closed_orders("ETH/EUR")
    assert {(o["id"], o["status"]) for o in closed} == {(resting["id"], "canceled"), (filled["id"], "closed")}


def test_insufficient_funds(ot, paper_exchange):
    with pytest.raises(ccxt.InsufficientFunds, match="INSUFFICIENT_FUNDS"):
        ot.create_order("BTC/EUR", "market", "buy", 1)
    with pytest.raises(ccxt.InsufficientFunds):
        ot.create_order("BTC/EUR", "market", "sell", 0.001)  # no BTC at all
    assert paper_exchange.account(ot.paper_account_id)["orders"] == []


def test_an_order_below_the_minimum_size_is_invalid(ot):
    with pytest.raises(ccxt.InvalidOrder, match="MIN_SIZE_NOT_SATISFIED"):
        ot.create_order("BTC/EUR", "market", "buy", 0.00001)  # about one euro; the minimum is five


def test_unknown_order_is_order_not_found(ot, paper_exchange):
    with pytest.raises(ccxt.OrderNotFound, match="NOT_FOUND"):
        ot.fetch_order(str(uuid.uuid4()))
    with pytest.raises(ccxt.OrderNotFound, match="INVALID_ORDER_ID"):
        ot.fetch_order("12345")
    with pytest.raises(ccxt.OrderNotFound):
        ot.cancel_order(str(uuid.uuid4()))
    with pytest.raises(ccxt.OrderNotFound):
        ot.privateGetAccountOrdersClientClientId({"client_id": str(uuid.uuid4())})
    # bob's order is not found with alice's key, by id or by client id
    bob = make_client(paper_exchange, paper_exchange.create_key(
        paper_exchange.create_account(venue="onetrading", EUR="1000")))
    client_id = str(uuid.uuid4())
    bobs = bob.create_order("BTC/EUR", "market", "buy", 0.0001, None, {"client_id": client_id})
    with pytest.raises(ccxt.OrderNotFound):
        ot.fetch_order(bobs["id"])
    with pytest.raises(ccxt.OrderNotFound):
        ot.privateGetAccountOrdersClientClientId({"client_id": client_id})
    with pytest.raises(ccxt.OrderNotFound):
        ot.cancel_order(bobs["id"])
    assert ot.fetch_my_trades() == []


def test_unknown_and_missing_tokens_are_authentication_errors(ot, paper_exchange):
    unknown = paper_exchange.ccxt({"api_key": "eyJ" + "x" * 120}, venue="onetrading")
    with pytest.raises(ccxt.AuthenticationError, match="INVALID_CREDENTIALS"):
        unknown.fetch_balance()
    url = ot.urls["api"]["private"] + "/v1/account/balances"
    with pytest.raises(ccxt.AuthenticationError, match="MISSING_CREDENTIALS"):
        ot.fetch(url, "GET", {"Accept": "application/json"})
    with pytest.raises(ccxt.AuthenticationError, match="INVALID_CREDENTIALS"):
        ot.fetch(url, "GET", {"Authorization": "Basic " + ot.apiKey})
    assert ot.fetch(url, "GET", {"Authorization": "Bearer " + ot.apiKey})["balances"]


def test_a_binance_key_is_refused_under_onetrading_and_the_other_way_round(ot, paper_exchange):
    binance_key = paper_exchange.create_key(paper_exchange.create_account(USDT="100"))
    with pytest.raises(ccxt.AuthenticationError, match="INVALID_CREDENTIALS"):
        paper_exchange.ccxt(binance_key, venue="onetrading").fetch_balance()
    with pytest.raises(ccxt.AuthenticationError):
        paper_exchange.ccxt({"api_key": ot.apiKey, "secret": "s" * 64}, venue="binance").fetch_balance()


def test_a_key_without_the_trade_scope_is_refused_orders_and_cancels(ot, paper_exchange):
    read_only = make_client(paper_exchange, paper_exchange.create_key(ot.paper_account_id, trade=False))
    assert read_only.fetch_balance()["EUR"]["free"] == 10000
    with pytest.raises(ccxt.PermissionDenied, match="MISSING_PERMISSION"):
        read_only.create_order("BTC/EUR", "market", "buy", 0.0001)
    # cancelling an order that does not exist tells the scopes apart without changing anything
    with pytest.raises(ccxt.PermissionDenied, match="MISSING_PERMISSION"):
        read_only.cancel_order(str(uuid.uuid4()))
    with pytest.raises(ccxt.OrderNotFound):
        ot.cancel_order(str(uuid.uuid4()))
    assert paper_exchange.account(ot.paper_account_id)["orders"] == []


def test_a_symbol_onetrading_does_not_list_is_refused(ot):
    with pytest.raises(ccxt.BadRequest, match="INVALID_INSTRUMENT_CODE"):
        ot.privatePostAccountOrders({"instrument_code": "BTC_USD", "type": "MARKET", "side": "BUY",
                                     "amount": "0.001"})
    with pytest.raises(ccxt.BadRequest, match="INVALID_INSTRUMENT_CODE"):
        ot.publicGetMarketTickerInstrumentCode({"instrument_code": "PUMP_USDT"})
    with pytest.raises(ccxt.BadRequest, match="INVALID_INSTRUMENT_CODE"):
        ot.privateGetAccountTrades({"instrument_code": "BTC_USDC"})
    assert ot.fetch_balance()["EUR"]["free"] == 10000


def test_trading_fees_are_the_accounts_own(ot):
    fees = ot.fetch_trading_fees()
    assert set(fees) == ONETRADING_SYMBOLS
    assert (fees["BTC/EUR"]["maker"], fees["BTC/EUR"]["taker"]) == (0.001, 0.001)


def test_the_request_limit_refuses_a_call_over_budget(ot, paper_exchange):
    paper_exchange.fresh_window(seconds_left=15)
    paper_exchange.limits(venue="onetrading", weight_per_minute=3)
    remaining = []
    for _ in range(3):
        ot.fetch_balance()
        remaining.append(ot.last_response_headers["bp-remaining-quota"])
    assert remaining == ["2", "1", "0"]
    with pytest.raises(ccxt.DDoSProtection, match="RATELIMIT"):
        ot.fetch_balance()
    assert ot.last_http_response and "Retry-After" in ot.last_response_headers
    # the limit is per account: another account's key and the public routes still answer
    other = make_client(paper_exchange, paper_exchange.create_key(
        paper_exchange.create_account(venue="onetrading", EUR="1")))
    assert other.fetch_balance()["EUR"]["free"] == 1
    assert ot.fetch_ticker("BTC/EUR")["last"] > 0
    assert paper_exchange.counters()["http_429"] == 1


def test_the_ip_limit_covers_public_routes(ot, paper_exchange):
    paper_exchange.fresh_window(seconds_left=15)
    paper_exchange.limits(venue="onetrading", ip_requests_per_minute=2)
    ot.fetch_time()
    ot.fetch_time()
    with pytest.raises(ccxt.DDoSProtection, match="RATELIMIT"):
        ot.fetch_time()


def test_a_lost_answer_then_the_order_is_found_by_client_id(ot, paper_exchange):
    client_id = str(uuid.uuid4())
    paper_exchange.fault(lost_response={"count": 1})
    with pytest.raises(ccxt.NetworkError):
        ot.create_order("BTC/EUR", "market", "buy", 0.0002, None, {"client_id": client_id})
    found = ot.parse_order(ot.privateGetAccountOrdersClientClientId({"client_id": client_id}))
    assert (found["status"], found["filled"], found["clientOrderId"]) == ("closed", 0.0002, client_id)
    assert ot.fetch_balance()["BTC"]["total"] == pytest.approx(0.0002 * 0.999)
    assert paper_exchange.counters()["orders_by_client_order_id"][client_id] == 1


def test_fault_knobs_render_as_one_trading_answers(ot, paper_exchange):
    paper_exchange.fault(force={"status": 429, "count": 1})
    with pytest.raises(ccxt.DDoSProtection, match="RATELIMIT"):
        ot.fetch_balance()
    paper_exchange.fault(error={"count": 1, "status": 503})
    with pytest.raises(ccxt.ExchangeNotAvailable, match="SERVICE_UNAVAILABLE"):
        ot.fetch_balance()
    paper_exchange.fault(error={"count": 1, "status": 502})
    with pytest.raises(ccxt.ExchangeNotAvailable, match="502"):
        ot.fetch_balance()
    paper_exchange.fault(error={"count": 1, "status": 500})
    with pytest.raises(ccxt.ExchangeError, match="INTERNAL_SERVER_ERROR"):
        ot.fetch_balance()
    paper_exchange.fault(reject_order={"count": 1, "msg": "INSUFFICIENT_LIQUIDITY"})
    with pytest.raises(ccxt.InsufficientFunds, match="INSUFFICIENT_LIQUIDITY"):
        ot.create_order("BTC/EUR", "market", "buy", 0.0001)
    paper_exchange.fault(reject_order={"count": 1})
    with pytest.raises(ccxt.ExchangeError, match="ORDER_REJECTED"):
        ot.create_order("BTC/EUR", "market", "buy", 0.0001)
    assert paper_exchange.account(ot.paper_account_id)["orders"] == []
    counters = paper_exchange.counters()
    assert counters["requests_by_path"]["/onetrading/fast/v1/account/balances"] == 4
    assert counters["rejected_orders"] == 2


def test_a_server_error_after_execution_is_an_exchange_error_and_the_order_stands(ot, paper_exchange):
    """A 500 carries {"error": "INTERNAL_SERVER_ERROR"}: ccxt raises ExchangeError, not a network error."""
    client_id = str(uuid.uuid4())
    paper_exchange.fault(error={"count": 1, "status": 500, "scope": "orders", "execute": True})
    with pytest.raises(ccxt.ExchangeError, match="INTERNAL_SERVER_ERROR") as raised:
        ot.create_order("BTC/EUR", "market", "buy", 0.0001, None, {"client_id": client_id})
    assert not isinstance(raised.value, ccxt.NetworkError)
    found = ot.privateGetAccountOrdersClientClientId({"client_id": client_id})
    assert found["order"]["status"] == "FILLED_FULLY"
