import pytest

import exchanges
from exchanges import (
    EXCHANGES,
    AuthFailed,
    Credentials,
    ExchangeRejected,
    RateLimited,
    Transient,
    exchange_class,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def paper_gateway(paper, paper_account):
    exchanges.caches_clear()
    return exchange_class("paper")(Credentials(api_key=paper_account.api_key, secret=paper_account.secret))


def test_registry_lists_every_venue_and_its_paper_twin():
    venues = {"binance", "binanceus", "kraken", "bitvavo", "onetrading"}
    assert set(EXCHANGES) == venues | {"paper"} | {f"paper_{v}" for v in venues - {"binance"}}
    for name, cls in EXCHANGES.items():
        assert cls.name == name and cls.label and cls.credential_fields and cls.quotes


@pytest.mark.parametrize("venue, quotes", [
    ("binance", ("USDT", "USDC")), ("binanceus", ("USDT", "USDC")), ("kraken", ("EUR", "USDT", "USDC")),
    ("bitvavo", ("EUR",)), ("onetrading", ("EUR",)),
])
def test_a_paper_twin_is_its_venue_on_the_paper_exchange(venue, quotes, settings):
    settings.PAPEREXCHANGE_URL = "http://127.0.0.1:8999"
    twin = exchange_class("paper" if venue == "binance" else f"paper_{venue}")()
    real = exchange_class(venue)()
    assert isinstance(twin, type(real)) and twin.quotes == real.quotes == quotes
    expected = "http://127.0.0.1:8999" + ("" if venue == "binance" else f"/{venue}")
    urls = [u for u in _flat(twin.client.urls["api"]) if "://" in u]
    assert urls and all(u.startswith(expected + "/") or u == expected for u in urls)
    # Everything else is the venue's own: the same ccxt class, the same client order ids.
    assert type(twin.client) is type(real.client)
    assert twin.client_order_id(bot_id=3, tag="s7", salt="x") == real.client_order_id(bot_id=3, tag="s7", salt="x")


def _flat(urls):
    if isinstance(urls, dict):
        for value in urls.values():
            yield from _flat(value)
    else:
        yield urls


@pytest.mark.parametrize("venue, pattern", [
    ("binance", r"^oc-12-s34-[0-9a-f]{8}$"), ("binanceus", r"^oc-12-s34-[0-9a-f]{8}$"),
    ("kraken", r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"),
    ("bitvavo", r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"),
    ("onetrading", r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"),
])
def test_client_order_ids_follow_each_venues_rules_and_never_change_for_a_signal(venue, pattern):
    import re

    exchange = exchange_class(venue)()
    first = exchange.client_order_id(bot_id=12, tag="s34", salt="signature")
    assert re.match(pattern, first) and len(first) <= 36
    assert exchange.client_order_id(bot_id=12, tag="s34", salt="signature") == first
    assert exchange.client_order_id(bot_id=12, tag="s35", salt="signature") != first


def test_markets_are_spot_only_and_loaded_once_per_process(paper_gateway, paper, paper_account):
    markets = paper_gateway.markets()
    assert "BTC/USDT" in markets
    assert all(m["spot"] for m in markets.values())
    before = paper.counters()["requests"]
    other = exchange_class("paper")(Credentials(api_key=paper_account.api_key, secret=paper_account.secret))
    assert "ETH/USDC" in other.markets()
    assert paper.counters()["requests"] == before  # served from the process cache


def test_probe_reads_balances_and_permissions(paper_gateway):
    probe = paper_gateway.probe()
    assert probe.balances["USDT"]["free"] == 10000
    assert probe.permissions.verified and probe.permissions.can_trade and not probe.permissions.can_withdraw


def test_wrong_secret_is_auth_failed_and_not_retryable(paper, paper_account):
    exchange = exchange_class("paper")(Credentials(api_key=paper_account.api_key, secret="0" * 64))
    with pytest.raises(AuthFailed) as caught:
        exchange.balances()
    assert not caught.value.retryable
    assert "0" * 64 not in str(caught.value)
    assert "signature=" not in str(caught.value)


def test_429_is_rate_limited_with_retry_after(paper_gateway, paper):
    paper.fault(force={"status": 429, "count": 1})
    with pytest.raises(RateLimited) as caught:
        paper_gateway.balances()
    assert caught.value.retryable
    assert caught.value.retry_after is not None and caught.value.retry_after > 0


def test_418_is_rate_limited_and_banned(paper_gateway, paper):
    paper.fault(force={"status": 418, "count": 1})
    with pytest.raises(RateLimited) as caught:
        paper_gateway.balances()
    assert caught.value.banned


def test_server_errors_are_transient_and_carry_no_url(paper_gateway, paper):
    paper.fault(error={"count": 1, "status": 503})
    with pytest.raises(Transient) as caught:
        paper_gateway.balances()
    assert caught.value.retryable
    assert "http" not in str(caught.value)


def test_unknown_market_is_rejected(paper_gateway):
    with pytest.raises(ExchangeRejected):
        paper_gateway.market("NOPE/USDT")


def test_credentials_never_print():
    creds = Credentials(api_key="visible-key-123", secret="visible-secret-456")
    assert "visible" not in repr(creds) and "visible" not in str(creds)
