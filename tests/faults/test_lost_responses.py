"""30 % of order answers lost: every order found by its client order id, none sent twice."""

import pytest

from tests.faults.harness import fan_out_and_check, world_build
from tests.portfolios.conftest import issue_signal

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def test_lost_answers_on_30_percent_of_orders_leave_one_order_per_bot(clusters, paper, alice, bob):
    world = world_build(paper=paper, owners=[alice, bob], bots=50, accounts=5)
    clusters.start("a", workers=4)
    clusters.wait_ready()
    paper.fault(lost_response={"rate": 0.3})

    fan_out_and_check(world, clusters, issue_signal(world.strategy, "BTC/USDT", "buy", "0.3"))

    assert paper.counters()["lost_responses"] >= 5
