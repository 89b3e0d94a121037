"""The same tasks delivered twice, and again later: still one order per (bot, signal)."""

import pytest
from django_q.tasks import async_task

from tests.faults.harness import assert_converged, fan_out_and_check, reconcile_and_wait, wait_settled, world_build
from tests.portfolios.conftest import issue_signal

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def test_every_task_delivered_twice_at_once_and_once_more_later_leaves_one_order_per_bot(clusters, paper, alice, bob):
    world = world_build(paper=paper, owners=[alice, bob], bots=50, accounts=5)
    clusters.start("a", workers=4)
    clusters.start("b", workers=4)
    clusters.wait_ready()
    signal = issue_signal(world.strategy, "BTC/USDT", "buy", "0.3")

    def deliver_again():
        # A second copy of every task right behind the first (two clusters race on each pair).
        for bot in world.bots:
            async_task("portfolios.tasks.bot_signal_execute", bot.pk, signal.pk, group="signals")

    fan_out_and_check(world, clusters, signal, during=deliver_again)

    # A third delivery after everything settled changes nothing.
    deliver_again()
    wait_settled(world, [signal.pk], clusters=clusters)
    reconcile_and_wait(world, clusters=clusters)
    assert_converged(world, [signal.pk], expect_orders=50)
