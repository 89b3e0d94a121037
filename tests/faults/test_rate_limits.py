"""A forced 429 and a forced 418: every worker backs off, nothing is lost, and the exchange never refuses again."""

import pytest

from tests.faults.harness import fan_out_and_check, wait_until, world_build
from tests.portfolios.conftest import issue_signal

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def test_a_429_and_a_418_during_a_fan_out_leave_one_order_per_bot(clusters, paper, alice, bob):
    world = world_build(paper=paper, owners=[alice, bob], bots=50, accounts=5)
    clusters.start("a", workers=4)
    clusters.wait_ready()

    def rate_limited():
        paper.fault(force={"status": 429, "count": 1})
        wait_until(lambda: paper.counters()["http_429"] >= 1, timeout=60, interval=0.05, what="the 429 answered")
        paper.fault(force={"status": 418, "count": 1})
        wait_until(lambda: paper.counters()["http_418"] >= 1, timeout=60, interval=0.05, what="the 418 answered")

    fan_out_and_check(world, clusters, issue_signal(world.strategy, "BTC/USDT", "buy", "0.3"), during=rate_limited)

    # Exactly the two forced answers: the shared budget never let the exchange refuse a request itself.
    counters = paper.counters()
    assert (counters["http_429"], counters["http_418"]) == (1, 1)
