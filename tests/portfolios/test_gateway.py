import pytest

from portfolios import gateway
from portfolios.gateway import (
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
    gateway._markets_cache.clear()
    return exchange_class("paper")(Credentials(api_key=paper_account.api_key, secret=paper_account.secret))


def test_registry_lists_the_supported_exchanges():
    assert set(EXCHANGES) == {"binance", "kraken", "bitvavo", "onetrading", "paper"}
    for name, cls in EXCHANGES.items():
        assert cls.name == name and cls.label and cls.credential_fields


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
