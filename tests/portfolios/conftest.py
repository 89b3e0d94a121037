from datetime import timedelta
from decimal import Decimal
from itertools import count

import pytest
from django.db.models import Max
from django.utils import timezone

import exchanges
from exchanges import Credentials
from keys.services import key_link
from portfolios.models import Bot
from strategies.models import Signal, StrategyRun
from strategies.services import MarketDecision, RunOutcome, _signals_write, strategy_create

_closes = count(1)


@pytest.fixture(autouse=True)
def _fresh_gateway_caches():
    exchanges.caches_clear()
    yield


@pytest.fixture
def strategy(db):
    return strategy_create(name="Trend for bots", kind="trend", markets=["BTC/USDT", "ETH/USDT", "BTC/USDC", "PUMP/USDT"])


def issue_signal(strategy, market, action, fraction, *, price="100", expired=False):
    """A signed signal as a strategy run writes it; each one for a later candle close."""
    now = timezone.now()
    base = now - (timedelta(hours=6) if expired else timedelta(hours=1))
    if not expired:
        # Newer than any signal a real strategy run wrote for this market, or it would be superseded.
        latest = Signal.objects.filter(strategy=strategy, market=market).aggregate(Max("candle_close"))
        if latest["candle_close__max"] is not None:
            base = max(base, latest["candle_close__max"])
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


@pytest.fixture
def alice_offline_key(alice):
    """A trade-only key of alice's stored as linking leaves it, for tests that never call the exchange."""
    from keys.models import ExchangeKey

    return ExchangeKey.objects.create(
        owner=alice, exchange="paper", label="Offline paper", api_key="offline-api-key", api_secret="offline-secret",
        api_key_hint="offl…-key", permissions={"can_read": True, "can_trade": True, "can_withdraw": False},
        permissions_verified=True,
    )


def bot_history(bot, rows, *, start=None):
    """``rows`` of everything a bot page lists: signals with decisions, orders, fills, state changes, snapshots."""
    from portfolios.models import BotStateChange, EquitySnapshot, Fill, Order, SignalDecision
    from strategies.models import Signal

    start = start or timezone.now() - timedelta(days=rows + 1)
    run = StrategyRun.objects.create(strategy=bot.strategy, candle_close=start, started=start, status="succeeded")
    signals = Signal.objects.bulk_create([
        Signal(strategy=bot.strategy, run=run, market=bot.markets[0], action="buy", fraction=Decimal("0.1"),
               reason="history", model_version="test", price=Decimal("100"), candle_close=start + timedelta(hours=i),
               created=start + timedelta(hours=i), expires=start + timedelta(hours=i + 4), signature="00")
        for i in range(rows)
    ])
    SignalDecision.objects.bulk_create([
        SignalDecision(bot=bot, signal=s, outcome="ignored" if i % 2 else "ordered", reason=f"reason {i}")
        for i, s in enumerate(signals)
    ])
    orders = Order.objects.bulk_create([
        Order(bot=bot, key=bot.key, signal=s, market=s.market, side="buy", quantity=Decimal("0.001"),
              reference_price=Decimal("100"), client_order_id=f"oc-{bot.pk}-h{s.pk}", state="filled",
              exchange_order_id=f"E{bot.pk}-{s.pk}", filled_quantity=Decimal("0.001"), average_price=Decimal("100"),
              cost=Decimal("0.1"))
        for s in signals
    ])
    Fill.objects.bulk_create([
        Fill(key=bot.key, bot=bot, order=o, market=o.market, side="buy", price=Decimal("100"),
             quantity=Decimal("0.001"), cost=Decimal("0.1"), fee=Decimal("0.000001"), fee_asset="BTC",
             fee_in_quote=Decimal("0.0001"), exchange_trade_id=f"T{o.pk}", exchange_order_id=o.exchange_order_id,
             traded_at=start + timedelta(hours=i))
        for i, o in enumerate(orders)
    ])
    BotStateChange.objects.bulk_create([
        BotStateChange(bot=bot, from_state="running", to_state="paused" if i % 2 == 0 else "running",
                       reason=f"change {i}")
        for i in range(rows)
    ])
    EquitySnapshot.objects.bulk_create([
        EquitySnapshot(key=bot.key, bot=bot, quote_asset=bot.quote_asset, equity=bot.allocation + i % 7,
                       taken=start + timedelta(hours=12 * i))
        for i in range(rows)
    ])
    return orders
