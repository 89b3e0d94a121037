"""The exchange's clock far beyond recvWindow from ours: the gateway resynchronises, every bot still trades once."""

import pytest

from tests.faults.harness import fan_out_and_check, world_build
from tests.portfolios.conftest import issue_signal

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("skew_ms", [30_000, -30_000], ids=["exchange-ahead", "exchange-behind"])
def test_clock_skew_beyond_recv_window_leaves_one_order_per_bot(skew_ms, clusters, paper, alice, bob):
    world = world_build(paper=paper, owners=[alice, bob], bots=50, accounts=5)
    clusters.start("a", workers=4)
    clusters.wait_ready()
    # ccxt signs with a 10 s recvWindow: 30 s either way is refused with -1021 until we resync.
    paper.fault(clock_skew={"ms": skew_ms})

    fan_out_and_check(world, clusters, issue_signal(world.strategy, "BTC/USDT", "buy", "0.3"))
