"""The same tasks delivered twice, and again later, on every venue: still one order per (bot, signal)."""

import pytest
from django_q.tasks import async_task

from tests.faults.harness import assert_converged, fan_out_and_check, reconcile_and_wait, wait_settled, world_build
from tests.portfolios.conftest import issue_signal
from tests.venues.conftest import WORLD_SIZES, venue  # noqa: F401 (fixture)

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def test_every_task_delivered_twice_at_once_and_once_more_later_leaves_one_order_per_bot(clusters, paper, venue,
                                                                                         alice, bob):
    bots, accounts = WORLD_SIZES.get(venue.name, (50, 5))
    world = world_build(paper=paper, owners=[alice, bob], bots=bots, accounts=accounts, venue=venue)
    clusters.start("a", workers=4, **venue.env())
    clusters.start("b", workers=4, **venue.env())
    clusters.wait_ready()
    signal = issue_signal(world.strategy, venue.market, "buy", "0.3")

    def deliver_again():
        # A second copy of every task right behind the first (two clusters race on each pair).
        for bot in world.bots:
            async_task("portfolios.tasks.bot_signal_execute", bot.pk, signal.pk, group="signals")

    fan_out_and_check(world, clusters, signal, during=deliver_again)

    # A third delivery after everything settled changes nothing.
    deliver_again()
    wait_settled(world, [signal.pk], clusters=clusters)
    reconcile_and_wait(world, clusters=clusters)
    assert_converged(world, [signal.pk], expect_orders=bots)
