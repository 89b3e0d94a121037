import os
import time

import pytest
from allauth.account.models import EmailAddress
from allauth.account.internal.flows.reauthentication import reauthenticate_by_password
from django.conf import settings
from django.core.cache import cache, caches
from django.test import RequestFactory
from django.urls import reverse
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.oath import TOTP

from oneclick.models import TOTPDevice
from oneclick.services import backup_codes_regenerate

pytest_plugins = ["tests.plugins.paper", "tests.plugins.telegram"]

PASSWORD = "correct-horse-battery-9"


DB_FIXTURES = {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback", "live_server"}


@pytest.fixture(autouse=True)
def _fresh_cache(request):
    """Rate-limit counters and cached data never leak between tests.

    Without Redis the shared cache is a database table: it is emptied for the tests that use the
    database (a test without one cannot reach it either).
    """
    caches["local"].clear()
    if settings.REDIS_URL:
        client = cache._cache.get_client(write=True)
        for key in client.scan_iter(match=f"{settings.CACHE_KEY_PREFIX}:*"):
            client.delete(key)
    elif request.node.get_closest_marker("django_db") or DB_FIXTURES & set(request.fixturenames):
        request.getfixturevalue("_django_db_helper")
        cache.clear()
    from exchanges import budget

    budget.reset()
    yield


def make_user(email, *, staff=False, verified_email=True):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(
        username=email.split("@")[0], email=email, password=PASSWORD, is_staff=staff, is_superuser=staff
    )
    EmailAddress.objects.create(user=user, email=email, verified=verified_email, primary=True)
    return user


@pytest.fixture
def alice(db):
    return make_user("alice@example.com")


@pytest.fixture
def bob(db):
    return make_user("bob@example.com")


@pytest.fixture
def staff(db):
    return make_user("staff@example.com", staff=True)


def totp_code(device, offset=0):
    """The code an authenticator app would show, `offset` steps from now."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + offset * device.step
    return f"{totp.token():0{device.digits}d}"


def enable_two_factor(user):
    """A confirmed authenticator plus backup codes, as after enrolment."""
    device = TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)
    codes = backup_codes_regenerate(user=user)
    return device, codes


def login_verified(client, user, device=None, *, reauthenticated=True):
    """Signed in, and through the second factor when the user has one.

    ``reauthenticated``: the password was also confirmed a moment ago (allauth's "Confirm access" page), as
    sensitive changes demand; ``False`` for a session that only holds the sign-in.
    """
    client.force_login(user)
    session = client.session
    if device is not None:
        session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    if reauthenticated:
        request = RequestFactory().get("/")
        request.session, request.user = session, user
        reauthenticate_by_password(request)
    session.save()
    return client


def reauthenticate(client, password=PASSWORD):
    """Confirm the password on allauth's page, as a user asked to does."""
    response = client.post(reverse("account_reauthenticate"), {"password": password})
    assert response.status_code == 302, response.content.decode()[:2000]
    return response


@pytest.fixture
def alice_2fa(alice):
    device, codes = enable_two_factor(alice)
    alice.totp_device = device
    alice.backup_codes = codes
    return alice


def subprocess_env(**extra):
    """Environment for a child process that must use this test's database."""
    from django.db import connection

    env = dict(os.environ)
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{db['NAME']}"
    else:
        user = db["USER"] or "postgres"
        host = db["HOST"] or "127.0.0.1"
        port = db["PORT"] or 5432
        password = f":{db['PASSWORD']}" if db["PASSWORD"] else ""
        env["DATABASE_URL"] = f"postgres://{user}{password}@{host}:{port}/{db['NAME']}"
    env.update(extra)
    return env


@pytest.fixture
def paper(paper_exchange, settings):
    """The paper exchange, with the platform's gateway pointed at it."""
    settings.PAPEREXCHANGE_URL = paper_exchange.url
    paper_exchange.reset()
    return paper_exchange


@pytest.fixture
def q_sync(monkeypatch):
    """django-q2 runs queued tasks at once, in this process (its documented sync mode)."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)
