import json
import subprocess
import sys
import time

import pytest

from tests.conftest import subprocess_env

HEALTH_SCRIPT = """
import json, django
django.setup()
from django.test import Client
response = Client().get("/healthz")
print(json.dumps({"status": response.status_code, "body": json.loads(response.content)}))
"""


def _health_in_child(**env):
    result = subprocess.run(
        [sys.executable, "-c", HEALTH_SCRIPT],
        env=subprocess_env(DJANGO_SETTINGS_MODULE="oneclick.settings", LOG_LEVEL="CRITICAL", **env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.django_db
def test_healthz_reports_503_without_a_cluster_heartbeat(client):
    response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["broker"]["ok"] is True
    assert body["checks"]["cluster"]["ok"] is False


@pytest.mark.slow
def test_healthz_is_200_when_database_broker_and_cluster_are_alive(transactional_db, client):
    cluster = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        env=subprocess_env(Q_WORKERS="1", LOG_LEVEL="WARNING"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 90
        response = client.get("/healthz")
        while response.status_code != 200 and time.monotonic() < deadline and cluster.poll() is None:
            time.sleep(0.5)
            response = client.get("/healthz")
        assert response.status_code == 200, (response.json(), cluster.poll())
        body = response.json()
        assert body["status"] == "ok"
        assert all(check["ok"] for check in body["checks"].values())
    finally:
        cluster.terminate()
        try:
            cluster.wait(timeout=30)
        except subprocess.TimeoutExpired:
            cluster.kill()


@pytest.mark.django_db
def test_healthz_is_503_when_the_database_is_unreachable():
    result = _health_in_child(DATABASE_URL="postgres://nobody@127.0.0.1:1/none")
    assert result["status"] == 503
    assert result["body"]["checks"]["database"]["ok"] is False
    # The report names the failing part, never the connection string.
    assert "nobody" not in json.dumps(result)


@pytest.mark.django_db
def test_healthz_is_503_when_the_broker_is_unreachable():
    result = _health_in_child(REDIS_URL="redis://127.0.0.1:1/0")
    assert result["status"] == 503
    assert result["body"]["checks"]["broker"]["ok"] is False
    assert result["body"]["checks"]["database"]["ok"] is True
