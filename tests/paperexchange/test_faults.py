"""Every fault knob, seen through ccxt the way the platform will meet it."""

import time

import ccxt
import pytest


@pytest.fixture
def exchange(paper_account):
    exchange = paper_account.ccxt()
    exchange.load_markets()
    return exchange


def wait_until(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.05)


def orders_of(paper_account):
    return paper_account.snapshot()["orders"]


def test_lost_response_executes_the_order_but_never_answers(exchange, paper_account, paper_exchange):
    paper_exchange.fault(lost_response={"count": 1})
    with pytest.raises(ccxt.NetworkError):
        exchange.create_order("BTC/USDT", "market", "buy", 0.0001, params={"clientOrderId": "bot7-sig42"})
    # looked up by its client order id, the order is there, once
    found = exchange.fetch_order(None, "BTC/USDT", params={"clientOrderId": "bot7-sig42"})
    assert found["status"] == "closed"
    assert paper_exchange.counters()["orders_by_client_order_id"] == {"bot7-sig42": 1}
    assert paper_exchange.counters()["lost_responses"] == 1
    # the knob is spent: the next order answers
    assert exchange.create_order("BTC/USDT", "market", "buy", 0.0001)["status"] == "closed"


def test_a_refused_order_does_not_use_up_the_lost_response(exchange, paper_exchange):
    paper_exchange.fault(lost_response={"count": 1})
    with pytest.raises(ccxt.InsufficientFunds):
        exchange.create_order("BTC/USDT", "market", "buy", 1)
    with pytest.raises(ccxt.NetworkError):
        exchange.create_order("BTC/USDT", "market", "buy", 0.0001)


def test_lost_response_at_a_rate(exchange, paper_account, paper_exchange):
    paper_exchange.fault(lost_response={"rate": 1.0})
    for i in range(3):
        with pytest.raises(ccxt.NetworkError):
            exchange.create_order("BTC/USDT", "market", "buy", 0.0001, params={"clientOrderId": f"rate-{i}"})
    paper_exchange.fault(lost_response=None)
    assert len(orders_of(paper_account)) == 3


def test_server_error_on_orders_executes_nothing(exchange, paper_account, paper_exchange):
    paper_exchange.fault(error={"rate": 1.0, "status": 503, "scope": "orders"})
    with pytest.raises(ccxt.OperationFailed):
        exchange.create_order("BTC/USDT", "market", "buy", 0.0001)
    assert exchange.fetch_balance()["USDT"]["free"] == 10000  # other endpoints still answer
    assert orders_of(paper_account) == []


@pytest.mark.parametrize("status, error", [(500, ccxt.OperationFailed), (502, ccxt.ExchangeNotAvailable),
                                           (503, ccxt.OperationFailed), (504, ccxt.RequestTimeout)])
def test_server_errors_map_to_retryable_ccxt_errors(exchange, paper_exchange, status, error):
    paper_exchange.fault(error={"count": 1, "status": status})
    with pytest.raises(error):
        exchange.fetch_balance()
    assert exchange.fetch_balance()["USDT"]["free"] == 10000


def test_server_error_after_execution_leaves_the_order_placed(exchange, paper_account, paper_exchange):
    paper_exchange.fault(error={"count": 1, "status": 500, "scope": "orders", "execute": True})
    with pytest.raises(ccxt.OperationFailed):
        exchange.create_order("BTC/USDT", "market", "buy", 0.0001, params={"clientOrderId": "exec-500"})
    assert exchange.fetch_order(None, "BTC/USDT", params={"clientOrderId": "exec-500"})["status"] == "closed"


def test_timeout_without_execution(exchange, paper_account, paper_exchange):
    exchange.timeout = 300
    paper_exchange.fault(timeout={"count": 1, "seconds": 3, "scope": "orders"})
    with pytest.raises(ccxt.RequestTimeout):
        exchange.create_order("BTC/USDT", "market", "buy", 0.0001, params={"clientOrderId": "slow-1"})
    assert orders_of(paper_account) == []
    assert paper_exchange.counters()["injected_timeouts"] == 1


def test_timeout_after_execution(exchange, paper_account, paper_exchange):
    exchange.timeout = 300
    paper_exchange.fault(timeout={"count": 1, "seconds": 3, "scope": "orders", "execute": True})
    with pytest.raises(ccxt.RequestTimeout):
        exchange.create_order("BTC/USDT", "market", "buy", 0.0001, params={"clientOrderId": "slow-2"})
    assert [o["clientOrderId"] for o in orders_of(paper_account)] == ["slow-2"]


def test_added_latency_can_outlast_a_client_timeout(exchange, paper_exchange):
    exchange.timeout = 200
    paper_exchange.fault(latency={"ms": 1500})
    with pytest.raises(ccxt.RequestTimeout):
        exchange.fetch_balance()
    paper_exchange.fault(latency=None)
    exchange.timeout = 10_000
    wait_until(lambda: paper_exchange.counters()["weight_used"] >= 20)  # the slow request has been served
    assert exchange.fetch_balance()["USDT"]["free"] == 10000


def test_clock_skew_gives_invalid_nonce_until_the_client_adjusts(exchange, paper_exchange):
    paper_exchange.fault(clock_skew={"ms": -10_000})  # the server is 10 s behind the client
    with pytest.raises(ccxt.InvalidNonce):
        exchange.fetch_balance()
    exchange.load_time_difference()
    assert exchange.fetch_balance()["USDT"]["free"] == 10000


@pytest.mark.parametrize("status", [429, 418])
def test_forced_rate_limit_answers(exchange, paper_exchange, status):
    paper_exchange.fault(force={"status": status, "count": 2})
    for _ in range(2):
        with pytest.raises(ccxt.DDoSProtection, match=str(status)):
            exchange.fetch_balance()
    assert exchange.fetch_balance()["USDT"]["free"] == 10000
    counters = paper_exchange.counters()
    assert counters[f"http_{status}"] == 2


def test_reject_next_order(exchange, paper_account, paper_exchange):
    paper_exchange.fault(reject_order={"count": 1})
    with pytest.raises(ccxt.InvalidOrder):
        exchange.create_order("BTC/USDT", "market", "buy", 0.0001)
    assert orders_of(paper_account) == []
    assert exchange.fetch_balance()["USDT"]["free"] == 10000
    assert exchange.create_order("BTC/USDT", "market", "buy", 0.0001)["status"] == "closed"
    assert paper_exchange.counters()["rejected_orders"] == 1


def test_an_invalid_order_does_not_use_up_the_rejection(exchange, paper_exchange):
    paper_exchange.fault(reject_order={"count": 1, "msg": "Rejected by the test."})
    with pytest.raises(ccxt.InsufficientFunds):
        exchange.create_order("BTC/USDT", "market", "buy", 1)
    with pytest.raises(ccxt.InvalidOrder, match="Rejected by the test."):
        exchange.create_order("BTC/USDT", "market", "buy", 0.0001)


def test_reject_with_a_chosen_error(exchange, paper_exchange):
    paper_exchange.fault(reject_order={"count": 1, "code": -2010,
                                       "msg": "Account has insufficient balance for requested action."})
    with pytest.raises(ccxt.InsufficientFunds):
        exchange.create_order("BTC/USDT", "market", "buy", 0.0001)


def test_foreign_trade_in_the_thin_pair_shows_in_the_account_history(exchange, paper_account, paper_exchange):
    paper_exchange.foreign_trade(paper_account.id, "PUMPUSDT", 100_000, side="BUY", price="0.05")
    trade, = exchange.fetch_my_trades("PUMP/USDT")
    assert trade["side"] == "buy" and trade["amount"] == 100_000 and trade["price"] == 0.05
    order = exchange.fetch_order(trade["order"], "PUMP/USDT")
    assert order["clientOrderId"].startswith("web_")
    balance = exchange.fetch_balance()
    assert balance["USDT"]["total"] == pytest.approx(10000 - 5000)
    assert balance["PUMP"]["total"] == pytest.approx(100_000 * 0.999)


def test_foreign_trade_in_a_major_pair_at_the_market_price(exchange, paper_account, paper_exchange):
    paper_exchange.foreign_trade(paper_account.id, "ETHUSDT", "0.5")
    trade, = exchange.fetch_my_trades("ETH/USDT")
    assert trade["amount"] == 0.5
    assert trade["price"] == pytest.approx(exchange.fetch_ticker("ETH/USDT")["last"], rel=0.02)


def test_switching_withdraw_permission_on(exchange, paper_account, paper_exchange):
    assert exchange.sapiGetAccountApiRestrictions()["enableWithdrawals"] is False
    paper_exchange.set_withdraw(paper_account.api_key)
    assert exchange.sapiGetAccountApiRestrictions()["enableWithdrawals"] is True


def test_moving_a_price(exchange, paper_exchange):
    before = exchange.fetch_ticker("PUMP/USDT")["last"]
    paper_exchange.move_price("PUMPUSDT", factor=3)
    assert exchange.fetch_ticker("PUMP/USDT")["last"] == pytest.approx(before * 3, rel=0.01)
    paper_exchange.move_price("PUMPUSDT", price="0.5")
    assert exchange.fetch_ticker("PUMP/USDT")["last"] == pytest.approx(0.5, rel=0.01)


def test_adding_market_volume(exchange, paper_exchange):
    before = exchange.fetch_ticker("PUMP/USDT")["baseVolume"]
    paper_exchange.add_volume("PUMPUSDT", 10_000_000)
    assert exchange.fetch_ticker("PUMP/USDT")["baseVolume"] == pytest.approx(before + 10_000_000)


def test_counters_count_requests_weight_and_orders(exchange, paper_exchange):
    paper_exchange.reset()
    exchange.fetch_balance()
    exchange.create_order("BTC/USDT", "market", "buy", 0.0001, params={"clientOrderId": "count-me"})
    counters = paper_exchange.counters()
    assert counters["requests"] == 2
    assert counters["weight_used"] == 20 + 1
    assert counters["orders"] == 1
    assert counters["orders_by_client_order_id"] == {"count-me": 1}
    assert counters["requests_by_path"] == {"/api/v3/account": 1, "/api/v3/order": 1}


def test_reset_clears_faults(exchange, paper_exchange):
    paper_exchange.fault(force={"status": 418, "count": 5})
    paper_exchange.reset()
    assert exchange.fetch_balance()["USDT"]["free"] == 10000
    assert paper_exchange.control("GET", "/_paper/faults")["force"]["count"] == 0


def test_control_endpoint_needs_the_token(paper_exchange):
    import urllib.error
    import urllib.request

    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(paper_exchange.url + "/_paper/counters")
    assert exc.value.code == 401
    req = urllib.request.Request(paper_exchange.url + "/_paper/counters", headers={"X-Paper-Token": "wrong"})
    with pytest.raises(urllib.error.HTTPError) as exc:
        urllib.request.urlopen(req)
    assert exc.value.code == 401


def test_bad_fault_knob_is_refused_with_a_clear_message(paper_exchange):
    from tests.plugins.paper import PaperExchangeError

    with pytest.raises(PaperExchangeError, match="unknown fault knob"):
        paper_exchange.fault(earthquake={"count": 1})
    with pytest.raises(PaperExchangeError, match="rate"):
        paper_exchange.fault(error={"rate": 2})
