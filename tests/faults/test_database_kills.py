"""Every database connection of the workers killed, several times, while 40 bots act on one signal."""

import random

import pytest

from tests.faults.harness import database_connections_kill, fan_out_and_check_unaided, world_build
from tests.portfolios.conftest import issue_signal

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def test_database_connections_killed_during_the_fan_out_leave_one_order_per_bot(clusters, paper, alice, bob):
    world = world_build(paper=paper, owners=[alice, bob], bots=40, accounts=5)
    clusters.start("a", workers=4)
    clusters.wait_ready()
    # Slower answers keep tasks in flight, so the kills land between writing, sending and recording.
    paper.fault(latency={"ms": 100, "jitter_ms": 200})
    rng = random.Random(13)
    killed = []

    def kill_connections():
        for _ in range(4):
            clusters.pause(rng.uniform(0.5, 1.5))
            killed.append(database_connections_kill())

    fan_out_and_check_unaided(world, clusters, issue_signal(world.strategy, "BTC/USDT", "buy", "0.3"),
                              during=kill_connections)

    # The kills landed while the fan-out ran (its threads close their connections when their keys are done,
    # so the later rounds may find none left).
    assert killed[0] > 0, killed
