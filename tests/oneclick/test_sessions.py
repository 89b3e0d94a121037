"""The sessions page lists every signed-in browser and ends any of them; an idle session ends by itself."""

import re
from datetime import timedelta

import pytest
from allauth.usersessions.models import UserSession
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from oneclick.middleware import SEEN_KEY, ACTIVITY_EVERY_SECONDS
from tests.conftest import PASSWORD, enable_two_factor, login_verified, totp_code

pytestmark = pytest.mark.django_db

FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                 "Version/17.5 Mobile/15E148 Safari/604.1")
SESSIONS = reverse("usersessions_list")


def _signed_in(user, user_agent, ip):
    client = Client(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return client


def _is_signed_out(client):
    response = client.get(reverse("dashboard"))
    return response.status_code == 302 and response["Location"].startswith(reverse("account_login"))


@pytest.fixture
def laptop(alice):
    return _signed_in(alice, FIREFOX_LINUX, "198.51.100.7")


@pytest.fixture
def phone(alice, laptop):
    return _signed_in(alice, SAFARI_IPHONE, "203.0.113.99")


def _session_of(client):
    return UserSession.objects.get(session_key=client.session.session_key)


def test_the_page_lists_each_device_and_marks_this_one(laptop, phone):
    page = laptop.get(SESSIONS).content.decode()
    rows = re.findall(r"<tr>\s*<td>.*?</tr>", page, re.S)
    assert len(rows) == 2
    [this] = [row for row in rows if "this device" in row]
    assert "Firefox on Linux" in this and "198.51.100.7" in this
    [other] = [row for row in rows if row is not this]
    assert "Safari on iOS" in other and "203.0.113.99" in other
    assert "Log out everywhere else" in page
    # The security page counts them and links here.
    security = laptop.get(reverse("security")).content.decode()
    assert "Signed in on 2 devices" in security and SESSIONS in security


def test_log_out_everywhere_else_ends_the_other_devices_only(laptop, phone):
    response = laptop.post(SESSIONS)
    assert response.status_code == 302
    assert _is_signed_out(phone)
    assert not _is_signed_out(laptop)
    assert UserSession.objects.count() == 1


def test_log_out_one_session(alice, laptop, phone):
    third = _signed_in(alice, FIREFOX_LINUX, "192.0.2.5")
    response = laptop.post(reverse("session_end", args=[_session_of(phone).pk]))
    assert response.status_code == 302 and response["Location"] == SESSIONS
    assert _is_signed_out(phone)
    assert not _is_signed_out(laptop) and not _is_signed_out(third)

    # Ending this device's own session is logging out.
    mine = laptop.post(reverse("session_end", args=[_session_of(laptop).pk]))
    assert mine["Location"] == reverse("account_login")
    assert _is_signed_out(laptop) and not _is_signed_out(third)


def test_bob_cannot_end_alices_sessions(bob, laptop):
    alices = _session_of(laptop)
    intruder = login_verified(Client(), bob)
    assert intruder.post(reverse("session_end", args=[alices.pk])).status_code == 404
    assert intruder.get(reverse("session_end", args=[alices.pk])).status_code == 405
    # "Everywhere else" is everywhere else of bob's own account.
    intruder.post(SESSIONS)
    assert not _is_signed_out(laptop)
    assert UserSession.objects.filter(pk=alices.pk).exists()
    # Bob's page lists his sessions only.
    page = intruder.get(SESSIONS).content.decode()
    assert "198.51.100.7" not in page and "Firefox on Linux" not in page


def test_anonymous_is_sent_to_log_in(client, laptop):
    for response in (client.get(SESSIONS), client.post(reverse("session_end", args=[_session_of(laptop).pk]))):
        assert response.status_code == 302 and response["Location"].startswith(reverse("account_login"))
    assert not _is_signed_out(laptop)


def _a_minute_later(client):
    """The session was last marked active over a minute ago (its deadline was last moved then)."""
    session = client.session
    session[SEEN_KEY] -= ACTIVITY_EVERY_SECONDS
    session.save()
    key = session.session_key
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() + timedelta(seconds=5))
    UserSession.objects.filter(session_key=key).update(last_seen_at=timezone.now() - timedelta(minutes=1))
    return key


def test_a_request_moves_the_idle_deadline_once_a_minute(laptop, settings):
    assert settings.SESSION_COOKIE_AGE == settings.SESSION_IDLE_MINUTES * 60
    key = _a_minute_later(laptop)
    laptop.get(reverse("dashboard"), REMOTE_ADDR="198.51.100.200")
    deadline = Session.objects.get(session_key=key).expire_date
    expected = timezone.now() + timedelta(minutes=settings.SESSION_IDLE_MINUTES)
    assert abs((deadline - expected).total_seconds()) < 30
    # The sessions page shows the request: its IP and "now".
    seen = UserSession.objects.get(session_key=key)
    assert seen.ip == "198.51.100.200" and (timezone.now() - seen.last_seen_at).total_seconds() < 30

    # Within the minute a request writes nothing more.
    Session.objects.filter(session_key=key).update(expire_date=timezone.now() + timedelta(seconds=50))
    laptop.get(reverse("dashboard"))
    assert (Session.objects.get(session_key=key).expire_date - timezone.now()).total_seconds() < 55


def _idle_past_the_deadline(client):
    """What the session store holds once the session has had no request for SESSION_IDLE_MINUTES."""
    Session.objects.filter(session_key=client.session.session_key).update(
        expire_date=timezone.now() - timedelta(seconds=1))


def test_an_idle_session_is_signed_out(laptop, phone):
    _idle_past_the_deadline(phone)
    assert _is_signed_out(phone)
    assert not _is_signed_out(laptop)
    # And it is no longer listed.
    assert "Safari on iOS" not in laptop.get(SESSIONS).content.decode()


def test_the_idle_minutes_come_from_the_environment():
    from tests.oneclick.test_settings import _manage

    result = _manage("shell", "-c", "from django.conf import settings; print(settings.SESSION_COOKIE_AGE)",
                     SESSION_IDLE_MINUTES="15", DEBUG="on")
    assert result.stdout.splitlines()[-1] == "900", result.stdout + result.stderr


def test_a_staff_session_idles_out_the_same(staff):
    device, _codes = enable_two_factor(staff)
    client = _signed_in(staff, FIREFOX_LINUX, "198.51.100.7")
    client.post(reverse("two_factor_verify"), {"code": totp_code(device)})
    assert client.get("/admin/").status_code == 200
    _idle_past_the_deadline(client)
    response = client.get("/admin/")
    assert response.status_code == 302 and "login" in response["Location"]


def test_expired_sessions_are_removed_by_the_daily_task(alice, bob, laptop):
    from django_q.models import Schedule

    from oneclick.tasks import sessions_clear_expired

    phone = _signed_in(bob, SAFARI_IPHONE, "203.0.113.9")
    assert UserSession.objects.count() == 2
    # alice's laptop went idle past the timeout.
    Session.objects.filter(session_key=laptop.session.session_key).update(
        expire_date=timezone.now() - timedelta(minutes=1))

    assert sessions_clear_expired() == 1
    assert not Session.objects.filter(session_key=laptop.session.session_key).exists()
    assert list(UserSession.objects.values_list("user__email", flat=True)) == ["bob@example.com"]
    assert not _is_signed_out(phone)
    assert Schedule.objects.filter(func="oneclick.tasks.sessions_clear_expired", schedule_type="D").exists()


@pytest.mark.parametrize("proxies, seen", [(0, "10.0.0.2"), (1, "198.51.100.44")])
def test_behind_a_trusted_proxy_the_clients_address_is_recorded_and_limited(alice, settings, proxies, seen):
    from oneclick.models import LoginEvent

    settings.ALLAUTH_TRUSTED_PROXY_COUNT = proxies
    # The TLS proxy (10.0.0.2) forwards a client that put its own (forged) address first.
    behind = {"REMOTE_ADDR": "10.0.0.2", "HTTP_X_FORWARDED_FOR": "203.0.113.250, 198.51.100.44"}
    client = Client(HTTP_USER_AGENT=FIREFOX_LINUX, **behind)
    assert client.post(reverse("account_login"), {"login": alice.email, "password": PASSWORD}).status_code == 302
    assert LoginEvent.objects.get(user=alice, kind="password").ip_address == seen
