"""30 % of order answers lost, on every venue: every order found by its client order id, none sent twice."""

import pytest

from tests.faults.harness import fan_out_and_check, world_build
from tests.portfolios.conftest import issue_signal
from tests.venues.conftest import WORLD_SIZES, venue  # noqa: F401 (fixture)

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def test_lost_answers_of_30_percent_of_orders_leave_one_order_per_bot(clusters, paper, venue, alice, bob):
    bots, accounts = WORLD_SIZES.get(venue.name, (50, 5))
    world = world_build(paper=paper, owners=[alice, bob], bots=bots, accounts=accounts, venue=venue)
    clusters.start("a", workers=4, **venue.env())
    clusters.wait_ready()
    lost = bots * 3 // 10
    paper.fault(lost_response={"count": lost})

    fan_out_and_check(world, clusters, issue_signal(world.strategy, venue.market, "buy", "0.3"))

    assert paper.counters()["lost_responses"] == lost
