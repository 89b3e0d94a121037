"""A sell fanned out while the buys of the same market are in flight or just filled: each bot sells what its
buy got, none ignored for a position or a free balance it was about to have."""

from collections import Counter
from decimal import Decimal

import pytest

from paperexchange.config import BTC
from portfolios.models import Order, Position, SignalDecision
from portfolios.services import signals_fan_out
from tests.faults.harness import assert_converged, positions_true_within, wait_settled, wait_until, world_build
from tests.portfolios.conftest import issue_signal

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def test_a_sell_behind_buys_in_flight_sells_what_each_buy_got(clusters, paper, alice, bob):
    world = world_build(paper=paper, owners=[alice, bob], bots=30, accounts=5)
    clusters.start("a", workers=4)
    clusters.start("b", workers=4)
    clusters.wait_ready()
    paper.fault(latency={"ms": 300, "jitter_ms": 500})
    buy = issue_signal(world.strategy, "BTC/USDT", "buy", "0.3")
    assert len(signals_fan_out(signal_ids=[buy.pk])) == len(world.bots)

    # The sell once every buy is written (a newer signal supersedes a buy not yet decided), at once: the
    # last buys are still in flight, the others just filled, and no reconciliation has run since.
    decisions = SignalDecision.objects.filter(bot__in=world.bots, signal=buy)
    wait_until(lambda: (decisions.count() == len(world.bots), f"{decisions.count()} buys decided"), interval=0.05,
               what="every buy decided")
    in_flight = Order.objects.filter(signal=buy, state__in=Order.UNRESOLVED).count()
    sell = issue_signal(world.strategy, "BTC/USDT", "sell", "1")
    assert len(signals_fan_out(signal_ids=[sell.pk])) == len(world.bots)
    settled = wait_settled(world, [buy.pk, sell.pk], clusters=clusters)

    ignored = Counter(f"{action}: {reason.split(':')[0]}" for action, reason in SignalDecision.objects.filter(
        bot__in=world.bots).exclude(outcome=SignalDecision.Outcome.ORDERED).values_list("signal__action", "reason"))
    assert ignored == {}, f"signals ignored ({in_flight} buys were in flight at the sell): {dict(ignored)}"
    positions_true_within(world, clusters, since=settled)
    # One buy and one sell per bot, at the exchange once each; positions are what their trades gave them.
    assert_converged(world, [buy.pk, sell.pk], expect_orders=2 * len(world.bots))
    # The sell sold what the buy got, to the lot step: the buy's fee, taken in BTC, leaves less than a step.
    step = Decimal(BTC["step"])
    left = {p.bot_id: p.quantity for p in Position.objects.filter(bot__in=world.bots, market="BTC/USDT")}
    assert {bot.name: left.get(bot.pk) for bot in world.bots if not 0 <= left.get(bot.pk, 0) < step} == {}
