"""Two clusters whose clocks are two minutes apart (one a minute ahead, one a minute behind; the database and
the exchange right), orders in flight while the other cluster's recovery pass runs: every bot orders once."""

import pytest

from oneclick.health import health_report
from portfolios.models import SignalDecision
from tests.faults.harness import assert_converged, fan_out_and_settle, positions_true_within, world_build
from tests.portfolios.conftest import issue_signal

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def test_clusters_a_minute_ahead_and_a_minute_behind_leave_one_order_per_bot(clusters, paper, alice, bob):
    world = world_build(paper=paper, owners=[alice, bob], bots=40, accounts=5)
    clusters.start("ahead", workers=3, clock_shift=60)
    clusters.start("behind", workers=3, clock_shift=-60)
    clusters.wait_ready()
    # Slow answers keep orders in flight while the other cluster's recovery pass looks at them: to the
    # cluster ahead, a row the cluster behind wrote a moment ago looks two minutes old.
    paper.fault(latency={"ms": 200, "jitter_ms": 300})
    signal = issue_signal(world.strategy, "BTC/USDT", "buy", "0.3")

    settled = fan_out_and_settle(world, clusters, signal, nudge_every=1.0)

    dated = list(SignalDecision.objects.filter(bot__in=world.bots, reason__icontains="future")
                 .values_list("bot__name", "reason"))
    assert dated == [], f"{len(dated)} of {len(world.bots)} bot tasks ignored: {dated[:3]}"
    positions_true_within(world, clusters, since=settled)
    assert_converged(world, [signal.pk], expect_orders=len(world.bots))

    # Each cluster's workers said so when they started, and /healthz names them.
    for cluster, words in (("ahead", "s ahead of the database's"), ("behind", "s behind the database's")):
        assert words in clusters.log_tail(next(c for c in clusters.members if c.label == cluster), chars=200_000)
    _ok, checks = health_report()
    assert checks["clock"]["ok"] is False
    assert "ahead of the database's" in checks["clock"]["detail"]
    assert "behind the database's" in checks["clock"]["detail"]
