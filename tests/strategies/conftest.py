from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from strategies.models import Candle
from strategies.services import strategy_create

# A fixed, long-closed candle: the paper exchange's history is a pure function of time, so runs are reproducible.
CLOSE = datetime(2025, 6, 1, 0, 0, tzinfo=UTC)

SMALL_LEARNED = {"train_candles": 300, "n_estimators": 12, "max_depth": 3, "retrain_days": 7}


@pytest.fixture
def trend(db):
    return strategy_create(name="Trend test", kind="trend", markets=["BTC/USDT", "ETH/USDT"], params={"fast": 5, "slow": 20, "vol_window": 10})


@pytest.fixture
def learned(db):
    return strategy_create(name="Learned test", kind="learned", markets=["BTC/USDT", "ETH/USDT"], params=SMALL_LEARNED)


def put_candles(*, symbol, closes, start, timeframe="4h", exchange="paper", volume=Decimal("10")):
    """Store candles with the given closes (open = previous close), one per timeframe from ``start``."""
    step = timedelta(hours=4) if timeframe == "4h" else timedelta(hours=int(timeframe[:-1]))
    rows = []
    previous = Decimal(str(closes[0]))
    for i, close in enumerate(closes):
        close = Decimal(str(close))
        rows.append(
            Candle(
                exchange=exchange, symbol=symbol, timeframe=timeframe, open_time=start + i * step,
                open=previous, high=max(previous, close) * Decimal("1.001"), low=min(previous, close) * Decimal("0.999"),
                close=close, volume=volume,
            )
        )
        previous = close
    Candle.objects.bulk_create(rows)
    return rows


@pytest.fixture
def staff_client(client, staff):
    from tests.conftest import enable_two_factor, login_verified

    device, _ = enable_two_factor(staff)
    return login_verified(client, staff, device)


def queued_tasks(queue=None):
    """Every task waiting in a task queue (the main one, or ``queue``; ORM or Redis broker), decoded:
    [(func, args), ...]."""
    from django_q.brokers import get_broker
    from django_q.signing import SignedPackage

    broker = get_broker(queue)
    out = []
    while True:
        batch = broker.dequeue()
        if not batch:
            return out
        for task_id, payload in batch:
            task = SignedPackage.loads(payload)
            out.append((task["func"], tuple(task["args"])))
            if task_id is not None:
                broker.acknowledge(task_id)


@pytest.fixture
def empty_queue(db):
    """The main queue, the orders' and the backtests', empty before and after the test."""
    from django.conf import settings
    from django_q.brokers import get_broker

    queues = [get_broker(), get_broker(settings.ORDERS_QUEUE), get_broker(settings.BACKTEST_QUEUE)]
    for broker in queues:
        broker.purge_queue()
    yield
    for broker in queues:
        broker.purge_queue()


def make_bot(owner, strategy, markets, state="running"):
    from keys.models import ExchangeKey
    from portfolios.models import Bot

    key = ExchangeKey.objects.create(owner=owner, exchange="paper", label="test", api_key="k" * 16, api_key_hint="kkkk…kkkk")
    return Bot.objects.create(
        owner=owner, name=f"{strategy.name} bot", key=key, strategy=strategy, markets=markets,
        allocation=Decimal("1000"), position_cap=Decimal("1000"), state=state,
    )
