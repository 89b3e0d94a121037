"""A fan-out task runs its keys' bots on several threads at once: one order per bot, each key's bots in turn."""

import pytest
from django.db.models import Count

from portfolios.models import Order, SignalDecision
from portfolios.tasks import signal_bots_execute
from tests.faults.harness import world_build
from tests.portfolios.conftest import issue_signal

pytestmark = pytest.mark.django_db(transaction=True)  # the threads have connections of their own


def test_the_bots_of_several_keys_trade_at_once_one_order_each(paper, alice, bob, settings, monkeypatch):
    from portfolios import queueing

    # Every answer tells its fills: the books are exact, and no account is read again after its orders.
    reconciles = []
    monkeypatch.setattr(queueing, "async_task", lambda func, key_id, **kwargs: reconciles.append(key_id))
    settings.ORDER_THREADS = 3
    world = world_build(paper=paper, owners=[alice, bob], bots=12, accounts=4)
    signal = issue_signal(world.strategy, "BTC/USDT", "buy", "0.3")
    bot_ids = [bot.pk for bot in world.bots]

    assert signal_bots_execute(signal.pk, bot_ids) == 12
    assert reconciles == []
    # Delivered twice (a redelivery after a worker died): nothing more.
    signal_bots_execute(signal.pk, bot_ids)

    orders = Order.objects.filter(signal=signal)
    assert orders.count() == 12 and set(orders.values_list("state", flat=True)) == {"filled"}
    assert not orders.values("bot").annotate(n=Count("pk")).filter(n__gt=1).exists()
    assert SignalDecision.objects.filter(signal=signal, outcome="ordered").count() == 12
    # The exchange received each client order id once, and every account its own three orders.
    received = paper.counters()["orders_by_client_order_id"]
    assert sorted(received[o.client_order_id] for o in orders) == [1] * 12
    for account in world.accounts:
        assert len(paper.account(account.id)["orders"]) == 3
