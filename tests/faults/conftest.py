"""Fixtures of the fault suite: real qcluster processes on PostgreSQL + Redis against the paper exchange."""

import pytest

pytest.register_assert_rewrite("tests.faults.harness")

from tests.conftest import subprocess_env
from tests.faults.harness import Clusters, cluster_services_missing, schedules_restore


@pytest.fixture(autouse=True)
def _needs_postgres_and_redis():
    missing = cluster_services_missing()
    if missing:
        pytest.skip(missing)


@pytest.fixture
def clusters(transactional_db, paper, tmp_path):
    """Start qcluster processes with ``clusters.start(label, workers)``; all are stopped at the end.

    Each child gets this test's database, Redis queue (``Q_CLUSTER_NAME``) and cache prefix (both
    per pytest process, see tests/testenv.py) and the paper exchange's URL.
    """
    schedules_restore()
    group = Clusters(env=subprocess_env(PAPEREXCHANGE_URL=paper.url, LOG_LEVEL="WARNING", LOG_FORMAT="text",
                                        EMAIL_URL="dummymail://"),
                     log_dir=tmp_path)
    try:
        yield group
    finally:
        group.stop_all()
