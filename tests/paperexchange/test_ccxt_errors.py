"""Binance's errors reach ccxt as the same exception classes they raise against Binance."""

import ccxt
import pytest


@pytest.fixture
def exchange(paper_account):
    exchange = paper_account.ccxt()
    exchange.load_markets()
    return exchange


def test_insufficient_funds(exchange):
    with pytest.raises(ccxt.InsufficientFunds):
        exchange.create_order("BTC/USDT", "market", "buy", 1)


def test_selling_what_the_account_does_not_hold_is_insufficient_funds(exchange):
    with pytest.raises(ccxt.InsufficientFunds):
        exchange.create_order("ETH/USDT", "market", "sell", 0.01)


def test_order_below_min_notional_is_refused(exchange):
    with pytest.raises(ccxt.BadRequest, match="NOTIONAL"):
        exchange.create_order("BTC/USDT", "market", "buy", 0.00001)


def test_quantity_off_the_lot_step_is_invalid_order(exchange):
    # ccxt rounds amounts to the step itself, so send the raw request as a client that does not would
    with pytest.raises(ccxt.InvalidOrder, match="LOT_SIZE"):
        exchange.privatePostOrder({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.000015"})


def test_price_off_the_tick_is_invalid_order(exchange):
    with pytest.raises(ccxt.InvalidOrder, match="PRICE_FILTER"):
        exchange.privatePostOrder({"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC",
                                   "quantity": "0.001", "price": "50000.005"})


def test_market_order_above_market_lot_size_is_invalid_order(exchange):
    with pytest.raises(ccxt.InvalidOrder, match="MARKET_LOT_SIZE"):
        exchange.create_order("BTC/USDT", "market", "buy", 500)


def test_unknown_order_is_order_not_found(exchange):
    with pytest.raises(ccxt.OrderNotFound):
        exchange.fetch_order("987654321", "BTC/USDT")
    with pytest.raises(ccxt.OrderNotFound):
        exchange.fetch_order(None, "BTC/USDT", params={"clientOrderId": "never-sent"})
    with pytest.raises(ccxt.OrderNotFound):
        exchange.cancel_order("987654321", "BTC/USDT")


def test_cancelling_a_filled_order_is_order_not_found(exchange):
    order = exchange.create_order("BTC/USDT", "market", "buy", 0.0001)
    with pytest.raises(ccxt.OrderNotFound):
        exchange.cancel_order(order["id"], "BTC/USDT")


def test_duplicate_client_order_id_among_open_orders_is_refused(exchange):
    price = round(exchange.fetch_ticker("BTC/USDT")["last"] * 0.5, 2)
    exchange.create_order("BTC/USDT", "limit", "buy", 0.001, price, params={"clientOrderId": "dup-1"})
    with pytest.raises(ccxt.InvalidOrder, match="Duplicate order sent"):
        exchange.create_order("BTC/USDT", "limit", "buy", 0.001, price, params={"clientOrderId": "dup-1"})


def test_malformed_client_order_id_is_bad_request(exchange):
    with pytest.raises(ccxt.BadRequest):
        exchange.create_order("BTC/USDT", "market", "buy", 0.0001, params={"clientOrderId": "no spaces allowed"})


def test_unknown_symbol_is_bad_symbol(exchange):
    with pytest.raises(ccxt.BadSymbol):
        exchange.publicGetTicker24hr({"symbol": "DOGEUSDT"})


def test_bad_signature_is_authentication_error(paper_exchange, paper_account):
    exchange = paper_exchange.ccxt({"api_key": paper_account.api_key, "secret": "0" * 64})
    with pytest.raises(ccxt.AuthenticationError, match="-1022"):
        exchange.fetch_balance()


def test_unknown_api_key_is_authentication_error(paper_exchange, paper_account):
    exchange = paper_exchange.ccxt({"api_key": "A" * 64, "secret": paper_account.secret})
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        exchange.fetch_balance()


def test_timestamp_outside_recv_window_is_invalid_nonce(paper_account):
    exchange = paper_account.ccxt()
    exchange.load_markets()
    exchange.nonce = lambda: exchange.milliseconds() - 120_000
    with pytest.raises(ccxt.InvalidNonce, match="-1021"):
        exchange.fetch_balance()
    exchange.nonce = lambda: exchange.milliseconds() + 5_000
    with pytest.raises(ccxt.InvalidNonce, match="ahead"):
        exchange.fetch_balance()


def test_key_restricted_to_another_ip_is_refused(paper_exchange, paper_account):
    key = paper_exchange.create_key(paper_account.id, ips=["127.0.0.2"])
    exchange = paper_exchange.ccxt(key)
    exchange.load_markets()
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        exchange.fetch_balance()


def test_key_restricted_to_the_client_ip_works(paper_exchange, paper_account):
    key = paper_exchange.create_key(paper_account.id, ips=["127.0.0.1"])
    assert paper_exchange.ccxt(key).fetch_balance()["USDT"]["free"] == 10000


def test_key_without_trading_permission_cannot_place_orders(paper_exchange, paper_account):
    key = paper_exchange.create_key(paper_account.id, trade=False)
    exchange = paper_exchange.ccxt(key)
    exchange.load_markets()
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        exchange.create_order("BTC/USDT", "market", "buy", 0.0001)
    # it still reads
    assert exchange.fetch_balance()["USDT"]["free"] == 10000
    assert paper_exchange.account(paper_account.id)["orders"] == []


def test_ccxt_reports_a_refusal_after_a_successful_call_as_ddos_protection(paper_exchange, paper_account):
    """ccxt's own quirk, the same against Binance: once a private call succeeded, -2015 is read as a temporary ban."""
    key = paper_exchange.create_key(paper_account.id, trade=False)
    exchange = paper_exchange.ccxt(key)
    exchange.fetch_balance()
    with pytest.raises(ccxt.DDoSProtection, match="-2015"):
        exchange.create_order("BTC/USDT", "market", "buy", 0.0001)


def test_symbol_whitelist_refuses_other_symbols(paper_exchange, paper_account):
    key = paper_exchange.create_key(paper_account.id, symbols=["ETHUSDT"])
    exchange = paper_exchange.ccxt(key)
    exchange.load_markets()
    with pytest.raises(ccxt.InvalidOrder, match="not permitted"):
        exchange.create_order("BTC/USDT", "market", "buy", 0.0001)
    assert exchange.create_order("ETH/USDT", "market", "buy", 0.01)["status"] == "closed"


def test_api_restrictions_report_the_key_permissions(paper_exchange, paper_account):
    exchange = paper_account.ccxt()
    restrictions = exchange.sapiGetAccountApiRestrictions()
    assert restrictions["enableReading"] is True
    assert restrictions["enableSpotAndMarginTrading"] is True
    assert restrictions["enableWithdrawals"] is False
    assert restrictions["ipRestrict"] is False


def test_error_mapping_uses_the_spot_table_for_local_urls(paper_account):
    # -1008 is only in ccxt's spot table: without the merge it would be a bare ExchangeError
    exchange = paper_account.ccxt()
    with pytest.raises(ccxt.OperationFailed):
        exchange.handle_errors(503, "", exchange.urls["api"]["private"] + "/account", "GET", {},
                               '{"code":-1008,"msg":"Server is currently overloaded"}',
                               {"code": -1008, "msg": "Server is currently overloaded"}, {}, None)


def test_test_order_validates_without_placing(exchange, paper_account):
    assert exchange.create_order("BTC/USDT", "market", "buy", 0.0001, params={"test": True}) is not None
    # as on Binance, a test order checks parameters and filters, never the balance
    assert exchange.create_order("BTC/USDT", "market", "buy", 1, params={"test": True}) is not None
    with pytest.raises(ccxt.InvalidOrder, match="MARKET_LOT_SIZE"):
        exchange.create_order("BTC/USDT", "market", "buy", 500, params={"test": True})
    assert paper_account.snapshot()["orders"] == []


def test_key_restricted_to_127_0_0_1_is_refused_from_127_0_0_2(paper_exchange, paper_account):
    """The check uses the real source address of the connection."""
    import requests

    class SourceAddress(requests.adapters.HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs):
            kwargs["source_address"] = ("127.0.0.2", 0)
            super().init_poolmanager(*args, **kwargs)

    key = paper_exchange.create_key(paper_account.id, ips=["127.0.0.1"])
    exchange = paper_exchange.ccxt(key)
    exchange.session.mount("http://", SourceAddress())
    exchange.load_markets()
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        exchange.fetch_balance()
    allowed = paper_exchange.ccxt(paper_exchange.create_key(paper_account.id, ips=["127.0.0.2"]))
    allowed.session.mount("http://", SourceAddress())
    assert allowed.fetch_balance()["USDT"]["free"] == 10000


def test_ed25519_signature_from_another_key_is_refused(paper_exchange, paper_account):
    mine = paper_exchange.create_key(paper_account.id, ed25519=True)
    other = paper_exchange.create_key(paper_account.id, ed25519=True)
    exchange = paper_exchange.ccxt({"api_key": mine["api_key"], "private_key": other["private_key"]})
    with pytest.raises(ccxt.AuthenticationError, match="-1022"):
        exchange.fetch_balance()
    assert paper_exchange.ccxt(mine).fetch_balance()["USDT"]["free"] == 10000
