import os
import subprocess
import sys

import pytest

PROJECT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PRODUCTION = {
    "DEBUG": "off",
    "SECRET_KEY": "a-long-random-production-secret-key-0123456789-abcdefghijklmnop",
    "ONECLICK_ENCRYPTION_KEY": "another-long-random-encryption-key-0123456789-qrstuvwxyz",
    "ALLOWED_HOSTS": "oneclick.example.com",
    "SECURE_HTTPS": "on",
    "DATABASE_URL": "sqlite:////tmp/oneclick-deploy-check.sqlite3",
}


def _manage(*args, **env):
    base = {k: v for k, v in os.environ.items() if k not in PRODUCTION and k != "SECURE_HTTPS"}
    base["ONECLICK_ENV_FILE"] = os.devnull
    base.update(env)
    base = {k: v for k, v in base.items() if v is not None}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=PROJECT, env=base, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ONECLICK_ENCRYPTION_KEY"])
def test_missing_secret_with_debug_off_stops_startup_naming_it(missing):
    env = {**PRODUCTION, missing: None}
    result = _manage("check", **env)
    assert result.returncode != 0
    assert f"{missing} must be set when DEBUG is off" in result.stderr


def test_encryption_key_equal_to_secret_key_is_refused():
    env = {**PRODUCTION, "ONECLICK_ENCRYPTION_KEY": PRODUCTION["SECRET_KEY"]}
    result = _manage("check", **env)
    assert result.returncode != 0
    assert "ONECLICK_ENCRYPTION_KEY must differ from SECRET_KEY" in result.stderr


def test_check_deploy_is_clean_with_production_values():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_cookies_are_secure():
    script = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, "
        "s.X_FRAME_OPTIONS, s.DEBUG, s.CRYPTOGRAPHY_KEY != s.SECRET_KEY)"
    )
    env = {**PRODUCTION, "DJANGO_SETTINGS_MODULE": "oneclick.settings"}
    base = {k: v for k, v in os.environ.items() if k not in PRODUCTION and k != "SECURE_HTTPS"}
    base.update(env, ONECLICK_ENV_FILE=os.devnull)
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT, env=base, capture_output=True, text=True)
    assert result.stdout.split() == ["True", "True", "True", "31536000", "DENY", "False", "True"], result.stderr


def test_dot_env_file_is_honoured(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text("SECRET_KEY=from-the-file-0123456789\nONECLICK_ENCRYPTION_KEY=enc-from-the-file-987\n")
    script = "import django; django.setup(); from django.conf import settings as s; print(s.SECRET_KEY)"
    base = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "ONECLICK_ENCRYPTION_KEY")}
    base.update(ONECLICK_ENV_FILE=str(env_file), DJANGO_SETTINGS_MODULE="oneclick.settings")
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT, env=base, capture_output=True, text=True)
    assert result.stdout.strip() == "from-the-file-0123456789", result.stderr


def test_production_responses_carry_secure_cookies_and_redirect_to_https(tmp_path):
    """Not only the settings: the cookies a browser receives are Secure, HttpOnly and SameSite."""
    env = {**PRODUCTION, "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}", "ALLOWED_HOSTS": "testserver",
           "DJANGO_SETTINGS_MODULE": "oneclick.settings"}
    assert _manage("migrate", "--noinput", **env).returncode == 0
    script = """
import django; django.setup()
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.test import Client
user = get_user_model().objects.create_user(username="p", email="p@example.com", password="correct-horse-battery-9")
EmailAddress.objects.create(user=user, email="p@example.com", verified=True, primary=True)
client = Client(enforce_csrf_checks=True)
plain = client.get("/accounts/login/")
print("http", plain.status_code, plain.get("Location"))
page = client.get("/accounts/login/", secure=True)
token = page.cookies["csrftoken"].value
done = client.post("/accounts/login/", {"login": "p@example.com", "password": "correct-horse-battery-9",
                                        "csrfmiddlewaretoken": token}, secure=True,
                   HTTP_REFERER="https://testserver/accounts/login/")
print("login", done.status_code)
for name in ("csrftoken", "sessionid"):
    morsel = (done.cookies.get(name) or page.cookies.get(name))
    print(name, bool(morsel["secure"]), bool(morsel["httponly"]), morsel["samesite"])
print("hsts", page.get("Strict-Transport-Security"))
"""
    base = {k: v for k, v in os.environ.items() if k not in PRODUCTION and k != "SECURE_HTTPS"}
    base.update(env, ONECLICK_ENV_FILE=os.devnull)
    result = subprocess.run([sys.executable, "-c", script], cwd=PROJECT, env=base, capture_output=True, text=True,
                            timeout=120)
    lines = result.stdout.splitlines()
    assert lines[:5] == [
        "http 301 https://testserver/accounts/login/",
        "login 302",
        "csrftoken True True Lax",
        "sessionid True True Lax",
        "hsts max-age=31536000; includeSubDomains; preload",
    ], result.stdout + result.stderr
