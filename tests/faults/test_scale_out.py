"""Scale-out, run for real: two qclusters on one Redis queue and one PostgreSQL database share a 200-bot fan-out."""

from collections import Counter

import pytest
from django_q.models import Success, Task

from tests.faults.harness import fan_out_and_check, wait_until, world_build
from tests.portfolios.conftest import issue_signal

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def test_two_clusters_share_a_200_bot_fan_out_with_one_order_per_bot(clusters, paper, alice, bob, settings):
    settings.ORDER_THREADS = 1  # one key per fan-out task: ten tasks for the two clusters to share
    world = world_build(paper=paper, owners=[alice, bob], bots=200, accounts=10)
    # Same queue (Q_CLUSTER_NAME, inherited), each cluster its own label, as on two machines; every
    # Task row kept (the alerts of 200 filled orders alone would push the first bot tasks out of 250).
    clusters.start("a", workers=2, Q_CLUSTER_LABEL="machine-a", Q_SAVE_LIMIT="0")
    clusters.start("b", workers=2, Q_CLUSTER_LABEL="machine-b", Q_SAVE_LIMIT="0")
    clusters.wait_ready()

    fan_out_and_check(world, clusters, issue_signal(world.strategy, "BTC/USDT", "buy", "0.3"))

    queue = settings.ORDERS_QUEUE  # the orders' own queue
    runs = Task.objects.filter(func="portfolios.tasks.signal_bots_execute")
    # Each cluster's monitor writes its Task rows a little after the work.
    wait_until(lambda: (runs.count() == 10, f"{runs.count()} task rows, {Success.objects.count()} successes"),
               timeout=60, what="a Task row per key's fan-out task")
    assert not runs.filter(success=False).exists()
    # django-q2 records the queue's name on each task; the label says which cluster ran it.
    shared = Counter(runs.values_list("cluster", flat=True))
    assert set(shared) == {f"{queue}/machine-a", f"{queue}/machine-b"}, shared
    assert min(shared.values()) >= 2, shared  # both did a real share of the work
