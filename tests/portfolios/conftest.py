from datetime import timedelta
from decimal import Decimal
from itertools import count

import pytest
from django.utils import timezone

from keys.services import key_link
from portfolios import gateway
from portfolios.gateway import Credentials
from portfolios.models import Bot
from strategies.models import StrategyRun
from strategies.services import MarketDecision, RunOutcome, _signals_write, strategy_create

_closes = count(1)


@pytest.fixture(autouse=True)
def _fresh_gateway_caches():
    gateway._markets_cache.clear()
    gateway._limits_cache.clear()
    yield


@pytest.fixture
def strategy(db):
    return strategy_create(name="Trend for bots", kind="trend", markets=["BTC/USDT", "ETH/USDT", "BTC/USDC", "PUMP/USDT"])


def issue_signal(strategy, market, action, fraction, *, price="100", expired=False):
    """A signed signal as a strategy run writes it; each one for a later candle close."""
    now = timezone.now()
    base = now - (timedelta(hours=6) if expired else timedelta(hours=1))
    close = (base + timedelta(seconds=next(_closes))).replace(microsecond=0)
    run = StrategyRun.objects.create(strategy=strategy, candle_close=close, started=now, status="succeeded")
    outcome = RunOutcome(strategy=strategy, candle_close=close, model_version="test-model")
    outcome.decisions = [MarketDecision(market=market, action=action, fraction=Decimal(str(fraction)),
                                        reason=f"test {action}", price=Decimal(price), exposure=Decimal(0))]
    [signal] = _signals_write(strategy=strategy, run=run, outcome=outcome, now=now)
    return signal


def make_bot(owner, key, strategy, *, markets=("BTC/USDT",), allocation="500", cap="400", quote="USDT", name="Bot"):
    return Bot.objects.create(
        owner=owner, name=name, key=key, strategy=strategy, markets=list(markets), quote_asset=quote,
        allocation=Decimal(allocation), position_cap=Decimal(cap),
    )


@pytest.fixture
def alice_paper_key(alice, paper, paper_account):
    return key_link(owner=alice, exchange="paper", label="Paper", confirmed_no_withdrawals=True,
                    credentials=Credentials(api_key=paper_account.api_key, secret=paper_account.secret))


@pytest.fixture
def alice_bot(alice, alice_paper_key, strategy):
    return make_bot(alice, alice_paper_key, strategy, markets=("BTC/USDT", "ETH/USDT"))
