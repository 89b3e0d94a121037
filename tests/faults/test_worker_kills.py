"""Workers killed with SIGKILL at random points while 50 bots act on one signal, then restarted."""

import random

import pytest

from tests.faults.harness import fan_out_and_check, world_build
from tests.portfolios.conftest import issue_signal

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def test_workers_killed_at_random_points_leave_one_order_per_bot(clusters, paper, alice, bob):
    world = world_build(paper=paper, owners=[alice, bob], bots=50, accounts=5)
    cluster = clusters.start("a", workers=4)
    clusters.wait_ready()
    # Slower answers keep tasks in flight, so the kills land between writing, sending and recording.
    paper.fault(latency={"ms": 20, "jitter_ms": 80})
    rng = random.Random(9)
    kills = []

    def chaos():
        for round_ in range(4):
            clusters.pause(rng.uniform(0.3, 1.5))
            if round_ % 2 == 0:
                kills.append(("worker", clusters.kill_worker(cluster, rng)))
            else:
                clusters.kill(cluster)  # the whole cluster at once, as a machine crash would
                kills.append(("cluster", cluster.proc.pid))
                clusters.restart(cluster)
                clusters.wait_ready()

    # Converges through the recovery pass: orders left pending or sent are resolved once older than
    # RECOVERY_AGE (45 s, so a live worker's rows are never taken from it), and bot tasks a dead cluster
    # had taken from the queue are queued again.
    fan_out_and_check(world, clusters, issue_signal(world.strategy, "BTC/USDT", "buy", "0.3"), during=chaos)

    assert [kind for kind, pid in kills if pid] == ["worker", "cluster", "worker", "cluster"]
