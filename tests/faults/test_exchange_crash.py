"""The exchange killed (SIGKILL) mid fan-out and started again a few seconds later: every bot orders once."""

import pytest

from portfolios.models import SignalDecision
from tests.faults.harness import exchange_kill_and_restart, fan_out_and_check_unaided, wait_until, world_build
from tests.plugins.paper import PaperExchange
from tests.portfolios.conftest import issue_signal

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]

LATENCY = {"latency": {"ms": 100, "jitter_ms": 200}}


@pytest.fixture
def paper(tmp_path, settings):
    """An exchange of this test alone (the session's one is shared): killed and started again on its port."""
    server = PaperExchange(tmp_path / "paperexchange").start()
    settings.PAPEREXCHANGE_URL = server.url
    try:
        yield server
    finally:
        server.stop()


def test_the_exchange_killed_and_restarted_mid_fan_out_leaves_one_order_per_bot(clusters, paper, alice, bob):
    world = world_build(paper=paper, owners=[alice, bob], bots=40, accounts=5)
    clusters.start("a", workers=4)
    clusters.wait_ready()
    paper.fault(**LATENCY)
    decided_at_crash = []

    def crash():
        # Once the first bots have decided (a busy machine may take a while to start), the rest still to come.
        decided = SignalDecision.objects.filter(bot__in=world.bots)
        wait_until(lambda: (decided.count() >= 4, f"{decided.count()} decided"), interval=0.05,
                   what="the fan-out under way")
        decided_at_crash.append(decided.count())
        # Requests in flight get no answer; market data and orders fail while it is down.
        exchange_kill_and_restart(world, down_seconds=3, faults=LATENCY)

    fan_out_and_check_unaided(world, clusters, issue_signal(world.strategy, "BTC/USDT", "buy", "0.3"),
                              during=crash)

    assert 0 < decided_at_crash[0] < len(world.bots)  # the crash came mid fan-out
