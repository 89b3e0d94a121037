"""Bursts of 5xx answers: before execution (sent again, same id) and after it (found by client order id)."""

import pytest

from tests.faults.harness import assert_converged, fan_out_and_settle, reconcile_and_wait, world_build
from tests.portfolios.conftest import issue_signal

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def test_bursts_of_server_errors_leave_one_order_per_bot_and_signal(clusters, paper, alice, bob):
    world = world_build(paper=paper, owners=[alice, bob], bots=50, accounts=5, markets=("BTC/USDT", "ETH/USDT"))
    clusters.start("a", workers=4)
    clusters.wait_ready()

    # A burst on every route, answered before anything executes: market data reads wait and retry,
    # refused orders are looked up, found missing and sent again with the same client order id.
    paper.fault(error={"count": 15, "status": 503, "scope": "all", "execute": False})
    first = issue_signal(world.strategy, "BTC/USDT", "buy", "0.3")
    fan_out_and_settle(world, clusters, first)
    assert paper.counters()["injected_errors"] == 15

    # A burst on orders that did execute: the answers are 502s, the orders are found by client order id.
    paper.reset()
    paper.fault(error={"count": 15, "status": 502, "scope": "orders", "execute": True})
    second = issue_signal(world.strategy, "ETH/USDT", "buy", "0.3")
    fan_out_and_settle(world, clusters, second)
    assert paper.counters()["injected_errors"] == 15

    reconcile_and_wait(world, clusters=clusters)
    assert_converged(world, [first.pk, second.pk], expect_orders=100)
