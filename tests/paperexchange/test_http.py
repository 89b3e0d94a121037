"""The wire format: HTTP statuses, parameter errors, no secrets in the server's log, the async ccxt client."""

import asyncio
import json
import urllib.error
import urllib.request

import pytest


def get(url):
    try:
        with urllib.request.urlopen(url) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.mark.parametrize("query, code", [
    ("symbol=BTCUSDT&interval=1h&limit=abc", -1100),
    ("symbol=BTCUSDT&interval=1h&limit=5000", -1100),
    ("symbol=BTCUSDT&interval=7m", -1120),
    ("symbol=BTCUSDT", -1102),
    ("symbol=btcusdt&interval=1h", -1121),
    ("interval=1h", -1102),
    ("symbol=BTCUSDT&interval=1h&startTime=2000&endTime=1000", -1023),
])
def test_bad_kline_parameters_answer_400_with_binance_codes(paper_exchange, query, code):
    status, body = get(f"{paper_exchange.url}/api/v3/klines?{query}")
    assert (status, body["code"]) == (400, code)


def test_signed_endpoint_without_a_key_is_401(paper_exchange):
    status, body = get(f"{paper_exchange.url}/api/v3/account?timestamp=1&signature=x")
    assert (status, body["code"]) == (401, -2014)


def test_exchange_info_for_one_symbol(paper_exchange):
    status, body = get(f"{paper_exchange.url}/api/v3/exchangeInfo?symbol=PUMPUSDT")
    assert status == 200
    pump, = body["symbols"]
    filters = {f["filterType"]: f for f in pump["filters"]}
    assert filters["LOT_SIZE"]["stepSize"] == "1.00000000"
    assert filters["NOTIONAL"]["minNotional"] == "5.00000000"
    assert pump["quoteAsset"] == "USDT" and pump["status"] == "TRADING"


def test_the_server_log_holds_no_signature_key_or_secret(paper_exchange, paper_account):
    import ccxt

    exchange = paper_account.ccxt()
    exchange.fetch_balance()
    with pytest.raises(ccxt.InsufficientFunds):
        exchange.create_order("BTC/USDT", "market", "buy", 1)
    bad = paper_exchange.ccxt({"api_key": paper_account.api_key, "secret": "x" * 64})
    with pytest.raises(ccxt.AuthenticationError):
        bad.fetch_balance()
    log = paper_exchange.log_path.read_text()
    assert "signature" not in log
    assert paper_account.api_key not in log
    assert paper_account.secret not in log


def test_async_ccxt_client(paper_exchange, paper_account):
    from paperexchange.client import make_ccxt_async

    async def run():
        exchange = make_ccxt_async(paper_exchange.url, paper_account.api_key, paper_account.secret)
        try:
            balance = await exchange.fetch_balance()
            order = await exchange.create_order("ETH/USDC", "market", "buy", 0.01, params={"clientOrderId": "async-1"})
            return balance["USDC"]["free"], order["status"]
        finally:
            await exchange.close()

    assert asyncio.run(run()) == (10000, "closed")


def test_make_ccxt_points_only_spot_urls_at_the_server(paper_exchange):
    from paperexchange.client import make_ccxt

    exchange = make_ccxt(paper_exchange.url + "/", "k", "s")
    assert exchange.urls["api"]["public"] == paper_exchange.url + "/api/v3"
    assert exchange.urls["api"]["private"] == paper_exchange.url + "/api/v3"
    assert exchange.urls["api"]["sapi"] == paper_exchange.url + "/sapi/v1"
    assert exchange.urls["api"]["fapiPublic"].startswith("https://fapi.binance.com")
    with pytest.raises(ValueError):
        make_ccxt(paper_exchange.url, "k", secret="s", private_key="p")
