"""Redis flushed right after a fan-out (the queued bot tasks, heartbeats, cache and rate-limit counts lost):
the recovery pass queues the lost tasks again and every bot still orders once."""

import pytest

from tests.faults.harness import fan_out_and_check_unaided, redis_flush_deployment, world_build
from tests.portfolios.conftest import issue_signal

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def test_a_redis_flush_right_after_the_fan_out_leaves_one_order_per_bot(clusters, paper, alice, bob, settings):
    # One key per fan-out task: the fan-out queues five tasks, flushed before a worker takes them (the
    # cluster starts right after the flush: a fan-out task is taken within milliseconds otherwise).
    settings.ORDER_THREADS = 1
    world = world_build(paper=paper, owners=[alice, bob], bots=40, accounts=5)
    paper.fault(latency={"ms": 50, "jitter_ms": 100})
    lost = []

    def flush_then_start():
        lost.append(redis_flush_deployment())
        clusters.start("a", workers=4)
        clusters.wait_ready()

    # Converges through the recovery pass (nudged, its schedule is a minute): bot tasks of a signal older
    # than RECOVERY_AGE with no decision are queued again once the queue is empty.
    fan_out_and_check_unaided(world, clusters, issue_signal(world.strategy, "BTC/USDT", "buy", "0.3"),
                              during=flush_then_start)

    assert lost[0] > 0  # the flush did take queued bot tasks with it
