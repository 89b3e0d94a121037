"""Files that hold secrets are the owner's only: the demo's `.env`, the SQLite database and its journals; and
`check --deploy` warns about any of them that others may read."""

import os
import stat
import subprocess
import sys

import pytest
from django.db import connection, connections

from oneclick.checks import private_files_check
from oneclick.lib.devenv import ensure
from tests.conftest import subprocess_env


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_demo_env_file_is_created_and_kept_private(tmp_path):
    path = tmp_path / ".env"
    values = ensure(path)
    assert _mode(path) == 0o600 and "SECRET_KEY" in values
    path.chmod(0o644)  # an older file, or one copied around
    ensure(path)
    assert _mode(path) == 0o600


@pytest.mark.django_db
def test_a_sqlite_database_and_its_journal_are_made_private_when_opened(tmp_path):
    if connection.vendor != "sqlite":
        pytest.skip("the database is PostgreSQL here")
    name = connection.settings_dict["NAME"]
    os.chmod(name, 0o644)
    fresh = connections.create_connection("default")  # what a new worker process opens
    fresh.ensure_connection()
    fresh.close()
    assert _mode(name) == 0o600


def test_check_deploy_warns_about_files_others_may_read(tmp_path, settings):
    env = tmp_path / ".env"
    env.write_text("SECRET_KEY=x\n")
    env.chmod(0o644)
    data = tmp_path / "paper"
    data.mkdir()
    (data / "control_token").write_text("t\n")
    (data / "control_token").chmod(0o600)
    settings.ONECLICK_ENV_FILE = str(env)
    settings.PAPEREXCHANGE_DATA = str(data)
    warnings = private_files_check(None)
    assert [(w.id, w.msg, w.hint) for w in warnings if "paper" in w.msg or ".env" in w.msg] == [
        ("oneclick.W001", f"{env} is readable by other users of this machine; it holds secrets.", f"chmod 600 {env}")]
    env.chmod(0o600)
    assert [w for w in private_files_check(None) if str(tmp_path) in w.msg] == []
    settings.ONECLICK_ENV_FILE = os.devnull  # no file of ours (the test settings' own choice)
    assert [w for w in private_files_check(None) if os.devnull in w.msg] == []


def test_manage_check_deploy_prints_the_warning(tmp_path):
    env = tmp_path / ".env"
    env.write_text("")
    env.chmod(0o640)
    done = subprocess.run([sys.executable, "manage.py", "check", "--deploy"], capture_output=True, text=True,
                          env=subprocess_env(ONECLICK_ENV_FILE=str(env)))
    assert f"oneclick.W001) {env} is readable by other users" in done.stdout + done.stderr
