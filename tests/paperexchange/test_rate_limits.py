"""Request weight per IP, order counts per account, 429 then an escalating 418 ban, as Binance does."""

import time

import ccxt
import pytest


def fresh_window(paper_exchange, size_ms, need_ms):
    paper_exchange.fresh_window(seconds_left=need_ms / 1000, window_seconds=size_ms / 1000)


@pytest.fixture
def exchange(paper_account):
    exchange = paper_account.ccxt(enableRateLimit=False)
    exchange.load_markets()
    return exchange


def test_exchange_info_publishes_binance_limits(exchange):
    limits = exchange.publicGetExchangeInfo()["rateLimits"]
    assert {(x["rateLimitType"], x["interval"], x["intervalNum"], x["limit"]) for x in limits} >= {
        ("REQUEST_WEIGHT", "MINUTE", 1, 6000), ("ORDERS", "SECOND", 10, 100), ("ORDERS", "DAY", 1, 200000)}


def test_used_weight_header_counts_endpoint_weights(paper_exchange, exchange):
    fresh_window(paper_exchange, 60_000, 15_000)
    exchange.fetch_balance()  # account: 20
    assert exchange.last_response_headers["X-MBX-USED-WEIGHT-1M"] == "20"
    exchange.fetch_open_orders("BTC/USDT")  # openOrders with a symbol: 6
    assert exchange.last_response_headers["X-MBX-USED-WEIGHT-1M"] == "26"
    exchange.fetch_ohlcv("BTC/USDT", "1h", limit=3)  # klines: 2
    assert exchange.last_response_headers["X-MBX-USED-WEIGHT-1M"] == "28"
    exchange.fetch_order_book("BTC/USDT", limit=5)  # depth up to 100: 5
    assert exchange.last_response_headers["X-MBX-USED-WEIGHT-1M"] == "33"
    order = exchange.create_order("BTC/USDT", "market", "buy", 0.0001)
    headers = exchange.last_response_headers
    assert headers["X-MBX-USED-WEIGHT-1M"] == "34"
    assert headers["X-MBX-ORDER-COUNT-10S"] == "1"
    assert headers["X-MBX-ORDER-COUNT-1D"] == "1"
    exchange.fetch_order(order["id"], "BTC/USDT")  # 4
    assert exchange.last_response_headers["X-MBX-USED-WEIGHT-1M"] == "38"
    exchange.fetch_my_trades("BTC/USDT")  # 20
    assert exchange.last_response_headers["X-MBX-USED-WEIGHT-1M"] == "58"
    exchange.fetch_ticker("BTC/USDT")  # 24hr with a symbol: 2
    assert exchange.last_response_headers["X-MBX-USED-WEIGHT-1M"] == "60"
    assert paper_exchange.counters()["weight_used"] == 60


def test_over_the_weight_limit_429_then_an_escalating_418_ban(paper_exchange, exchange):
    fresh_window(paper_exchange, 60_000, 20_000)
    paper_exchange.limits(weight_per_minute=10, ban_after_429s=2, ban_seconds=1)
    for _ in range(10):
        exchange.fetch_time()
    for _ in range(2):  # over the limit: 429 with Retry-After, twice tolerated
        with pytest.raises(ccxt.DDoSProtection, match="429"):
            exchange.fetch_time()
        assert int(exchange.last_response_headers["Retry-After"]) >= 1
    with pytest.raises(ccxt.DDoSProtection, match="418"):  # kept sending: banned
        exchange.fetch_time()
    assert exchange.last_response_headers["Retry-After"] == "1"
    with pytest.raises(ccxt.DDoSProtection, match="418"):  # still banned
        exchange.fetch_time()
    time.sleep(1.1)
    with pytest.raises(ccxt.DDoSProtection, match="418"):  # the ban ended, the client did not slow down: longer ban
        exchange.fetch_time()
    assert exchange.last_response_headers["Retry-After"] == "2"
    counters = paper_exchange.counters()
    assert counters["http_429"] == 2
    assert counters["http_418"] == 3


def test_429_answers_binance_code_and_message(paper_exchange, exchange):
    fresh_window(paper_exchange, 60_000, 10_000)
    paper_exchange.limits(weight_per_minute=20)
    exchange.fetch_balance()
    with pytest.raises(ccxt.DDoSProtection, match='"code":-1003'):
        exchange.fetch_balance()


def test_order_count_limit_per_ten_seconds(paper_exchange, exchange):
    fresh_window(paper_exchange, 10_000, 6_000)
    paper_exchange.limits(orders_per_10s=3)
    for _ in range(3):
        exchange.create_order("BTC/USDT", "market", "buy", 0.0001)
    with pytest.raises(ccxt.DDoSProtection, match="-1015"):
        exchange.create_order("BTC/USDT", "market", "buy", 0.0001)
    assert exchange.last_response_headers["X-MBX-ORDER-COUNT-10S"] == "3"
    assert paper_exchange.counters()["orders"] == 3


def test_order_count_limit_per_day(paper_exchange, exchange):
    fresh_window(paper_exchange, 10_000, 6_000)
    paper_exchange.limits(orders_per_day=2)
    for _ in range(2):
        exchange.create_order("BTC/USDT", "market", "buy", 0.0001)
    with pytest.raises(ccxt.DDoSProtection, match="1 DAY"):
        exchange.create_order("BTC/USDT", "market", "buy", 0.0001)


def test_order_counts_are_per_account(paper_exchange, exchange):
    fresh_window(paper_exchange, 10_000, 6_000)
    paper_exchange.limits(orders_per_10s=1)
    exchange.create_order("BTC/USDT", "market", "buy", 0.0001)
    other = paper_exchange.create_account(USDT=1000)
    other_exchange = paper_exchange.ccxt(paper_exchange.create_key(other))
    assert other_exchange.create_order("BTC/USDT", "market", "buy", 0.0001)["status"] == "closed"


def test_legacy_preset_and_config_file(tmp_path):
    from paperexchange import config

    cfg = config.load(environ={"PAPEREXCHANGE_RATE_LIMIT_PRESET": "legacy"})
    assert (cfg["rate_limits"]["weight_per_minute"], cfg["rate_limits"]["orders_per_10s"],
            cfg["rate_limits"]["orders_per_day"]) == (1200, 50, 160000)
    path = tmp_path / "paper.toml"
    path.write_text('fee_rate = "0.00075"\n[rate_limits]\nweight_per_minute = 300\nban_seconds = 0.5\n')
    cfg = config.load(str(path), environ={})
    assert cfg["rate_limits"]["weight_per_minute"] == 300
    assert cfg["rate_limits"]["orders_per_10s"] == 100
    assert cfg["fee_rate"] == "0.00075"
    path = tmp_path / "paper.json"
    path.write_text('{"rate_limits": {"preset": "legacy", "orders_per_10s": 5}}')
    assert config.load(str(path), environ={})["rate_limits"]["orders_per_10s"] == 5


def test_bad_config_is_refused_with_one_clear_line(tmp_path):
    from paperexchange import config
    from paperexchange.errors import ControlError

    path = tmp_path / "paper.json"
    path.write_text('{"rate_limit": {}}')
    with pytest.raises(ControlError, match="unknown config key 'rate_limit'"):
        config.load(str(path), environ={})
    path.write_text('{"rate_limits": {"weight_per_minute": 0}}')
    with pytest.raises(ControlError, match="weight_per_minute must be a positive integer"):
        config.load(str(path), environ={})
