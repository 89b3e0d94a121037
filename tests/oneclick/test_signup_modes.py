"""Who may sign up (ONECLICK_SIGNUP): open, by invitation from the admin, or by waitlist approved in the admin.

Each mode end to end with the test client: staff act in the admin (staff + verified second factor), the
email lands in the outbox, its link leads to the sign-up form, and the account exists (or does not).
"""

import re
import socket
from datetime import timedelta

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from oneclick.models import Invitation, WaitlistEntry
from oneclick.services import invitation_token_digest
from tests.conftest import PASSWORD, enable_two_factor, login_verified
from tests.oneclick.test_settings import PRODUCTION, _manage

pytestmark = pytest.mark.django_db

CAROL = "carol@example.com"
SIGNUP = "/accounts/signup/"


@pytest.fixture
def staff_client(staff):
    device, _ = enable_two_factor(staff)
    return login_verified(Client(), staff, device)


@pytest.fixture
def mode(settings):
    def set_mode(value):
        settings.ONECLICK_SIGNUP = value
    return set_mode


@pytest.fixture
def on_commit(django_capture_on_commit_callbacks):
    """Emails leave once the admin's transaction commits: run those callbacks as a real commit would."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def _users(email):
    return get_user_model().objects.filter(email__iexact=email)


def _invite_in_admin(staff_client, on_commit, email=CAROL):
    with on_commit():
        response = staff_client.post(reverse("admin:oneclick_invitation_add"), {"email": email, "_save": "Save"})
    assert response.status_code == 302, response.content.decode()[:2000]
    return Invitation.objects.get(email=email)


def _link(message, settings):
    """The one-time link of an invitation email: absolute, on ONECLICK_SITE_URL; returns its path."""
    match = re.search(r"(https?://\S+)(/accounts/invitation/\S+/)", message.body)
    assert match, message.body
    assert match.group(1) == settings.ONECLICK_SITE_URL
    return match.group(2)


def _sign_up(client, email=CAROL, password=PASSWORD):
    return client.post(SIGNUP, {"email": email, "password1": password, "password2": password})


def _approve_in_admin(staff_client, on_commit, entries):
    with on_commit():
        return staff_client.post(reverse("admin:oneclick_waitlistentry_changelist"),
                                 {"action": "approve", "_selected_action": [entry.pk for entry in entries]},
                                 follow=True)


# ONECLICK_SIGNUP=invite

def test_invitation_made_in_the_admin_is_emailed_and_its_link_opens_an_account(
    client, staff_client, staff, mode, on_commit, mailoutbox, settings
):
    mode("invite")
    invitation = _invite_in_admin(staff_client, on_commit)
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == [CAROL] and "invited" in message.subject
    path = _link(message, settings)
    token = path.rstrip("/").rsplit("/", 1)[1]
    # Only a hash of the token is stored; neither the token nor its hash is shown in the admin.
    invitation.refresh_from_db()
    assert invitation.token_hash == invitation_token_digest(token)
    assert token not in str(list(Invitation.objects.values()))
    assert invitation.created_by == staff and invitation.sent_at is not None and invitation.used_at is None
    admin_page = staff_client.get(reverse("admin:oneclick_invitation_change", args=[invitation.pk])).content.decode()
    assert CAROL in admin_page and token not in admin_page and invitation.token_hash not in admin_page
    assert "pending" in staff_client.get(reverse("admin:oneclick_invitation_changelist")).content.decode()

    opened = client.get(path)
    assert opened.status_code == 302 and opened.url == SIGNUP  # the token leaves the address bar at once
    form = client.get(SIGNUP).content.decode()
    assert re.search(r'<input[^>]*name="email"[^>]*value="carol@example.com"[^>]*readonly', form) or re.search(
        r'<input[^>]*readonly[^>]*value="carol@example.com"', form), form

    done = _sign_up(client)
    assert done.status_code == 302
    carol = _users(CAROL).get()
    # The link came to carol's mailbox: her address is verified, she is in at once.
    assert EmailAddress.objects.get(user=carol).verified
    assert client.get(reverse("dashboard")).status_code == 200
    invitation.refresh_from_db()
    assert invitation.used_at is not None and invitation.used_by == carol
    assert "used" in staff_client.get(reverse("admin:oneclick_invitation_changelist")).content.decode()


def test_a_used_invitation_is_refused_to_anyone_else(client, staff_client, mode, on_commit, mailoutbox, settings):
    mode("invite")
    _invite_in_admin(staff_client, on_commit)
    path = _link(mailoutbox[0], settings)
    early = Client()
    assert early.get(path).status_code == 302  # opened before carol used it
    client.get(path)
    assert _sign_up(client).status_code == 302

    again = Client().get(path)
    assert again.status_code == 410
    assert "already been used" in again.content.decode()
    # The session that opened it early gets the closed page and makes nothing.
    late = _sign_up(early, email=CAROL, password="another-password-42")
    assert "by invitation only" in late.content.decode()
    assert _users(CAROL).count() == 1 and get_user_model().objects.count() == 2  # staff and carol


def test_an_expired_invitation_is_refused(client, staff_client, mode, on_commit, mailoutbox, settings):
    mode("invite")
    invitation = _invite_in_admin(staff_client, on_commit)
    assert invitation.expires_at - invitation.issued_at == timedelta(days=settings.ONECLICK_INVITE_DAYS)
    path = _link(mailoutbox[0], settings)
    assert client.get(path).status_code == 302  # opened in time...
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))

    late = _sign_up(client)  # ...but sent after it expired
    assert "by invitation only" in late.content.decode()
    page = Client().get(path)
    assert page.status_code == 410 and "has expired" in page.content.decode()
    assert not _users(CAROL).exists()
    invitation.refresh_from_db()
    assert invitation.used_at is None


@pytest.mark.parametrize("token", ["not-a-token", "A" * 43, "x"])
def test_a_forged_link_is_refused(client, staff_client, mode, on_commit, token):
    mode("invite")
    _invite_in_admin(staff_client, on_commit)
    page = client.get(reverse("invitation_accept", args=[token]))
    assert page.status_code == 404
    assert "not valid" in page.content.decode()
    assert "by invitation only" in client.get(SIGNUP).content.decode()
    _sign_up(client)
    assert not _users(CAROL).exists()


def test_the_invited_address_cannot_be_swapped_for_another(
    client, staff_client, mode, on_commit, mailoutbox, settings
):
    mode("invite")
    invitation = _invite_in_admin(staff_client, on_commit)
    client.get(_link(mailoutbox[0], settings))
    response = _sign_up(client, email="mallory@example.com")
    assert response.status_code == 200
    assert "invitation is for another email address" in response.content.decode()
    assert not _users("mallory@example.com").exists() and not _users(CAROL).exists()
    invitation.refresh_from_db()
    assert invitation.used_at is None
    # With the invited address, it goes through.
    assert _sign_up(client).status_code == 302 and _users(CAROL).exists()


def test_another_signed_in_user_opening_the_link_uses_nothing(
    client, bob, staff_client, mode, on_commit, mailoutbox, settings
):
    mode("invite")
    invitation = _invite_in_admin(staff_client, on_commit)
    login_verified(client, bob)
    client.get(_link(mailoutbox[0], settings))
    assert client.get(SIGNUP).status_code == 302  # a signed-in user is sent on, not shown a form
    invitation.refresh_from_db()
    assert invitation.used_at is None
    assert list(EmailAddress.objects.filter(user=bob).values_list("email", flat=True)) == [bob.email]


def test_without_an_invitation_the_sign_up_page_offers_nothing_and_a_post_makes_no_user(client, mode):
    mode("invite")
    page = client.get(SIGNUP).content.decode()
    assert "Sign-up is by invitation only" in page
    assert 'name="password1"' not in page and "waitlist" not in page.lower()
    response = _sign_up(client)
    assert response.status_code == 200 and "by invitation only" in response.content.decode()
    assert not _users(CAROL).exists()
    # No sign-up link anywhere for visitors.
    login = client.get(reverse("account_login")).content.decode()
    assert SIGNUP not in login and "Sign up" not in login


def test_send_again_makes_a_new_link_and_the_old_one_stops_working(
    client, staff_client, mode, on_commit, mailoutbox, settings
):
    mode("invite")
    invitation = _invite_in_admin(staff_client, on_commit)
    old = _link(mailoutbox[0], settings)
    with on_commit():
        response = staff_client.post(reverse("admin:oneclick_invitation_changelist"),
                                     {"action": "send_again", "_selected_action": [invitation.pk]}, follow=True)
    assert "sent again with a new link" in response.content.decode()
    assert len(mailoutbox) == 2 and mailoutbox[1].to == [CAROL]
    new = _link(mailoutbox[1], settings)
    assert new != old
    assert client.get(old).status_code == 404
    assert client.get(new).status_code == 302
    assert _sign_up(client).status_code == 302 and _users(CAROL).exists()

    # Once used, it is not sent again.
    with on_commit():
        response = staff_client.post(reverse("admin:oneclick_invitation_changelist"),
                                     {"action": "send_again", "_selected_action": [invitation.pk]}, follow=True)
    assert "already used: not sent" in response.content.decode()
    assert len(mailoutbox) == 2


def test_the_admin_refuses_to_invite_an_address_that_has_an_account(staff_client, alice, mode, on_commit, mailoutbox):
    mode("invite")
    with on_commit():
        response = staff_client.post(reverse("admin:oneclick_invitation_add"), {"email": alice.email.upper()})
    assert response.status_code == 200
    assert "already has an account" in response.content.decode()
    assert not Invitation.objects.exists() and mailoutbox == []


def test_a_mail_server_that_refuses_is_recorded_on_the_invitation(staff_client, mode, on_commit, settings):
    mode("invite")
    with socket.socket() as sock:  # a port where nothing listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    invitation = _invite_in_admin(staff_client, on_commit)
    invitation.refresh_from_db()
    assert invitation.sent_at is None and invitation.send_error.startswith("Mail not sent")
    assert "Mail not sent" in staff_client.get(reverse("admin:oneclick_invitation_changelist")).content.decode()


# ONECLICK_SIGNUP=waitlist

def _join(client, email, note=""):
    return client.post(reverse("waitlist"), {"email": email, "note": note})


def test_waitlist_entry_approved_in_the_admin_gets_a_link_that_opens_an_account(
    client, staff_client, staff, mode, on_commit, mailoutbox, settings
):
    mode("waitlist")
    signup = client.get(SIGNUP)
    assert signup.status_code == 302 and signup.url == reverse("waitlist")
    page = client.get(reverse("waitlist")).content.decode()
    assert "Join the waitlist" in page and 'name="email"' in page
    done = _join(client, CAROL, note="Trend bots on BTC")
    assert done.status_code == 200 and "We have your request" in done.content.decode()
    entry = WaitlistEntry.objects.get()
    assert (entry.email, entry.note, entry.approved_at) == (CAROL, "Trend bots on BTC", None)
    assert mailoutbox == []

    listing = staff_client.get(reverse("admin:oneclick_waitlistentry_changelist")).content.decode()
    assert CAROL in listing and "Trend bots on BTC" in listing
    response = _approve_in_admin(staff_client, on_commit, [entry])
    assert "1 approved" in response.content.decode()
    entry.refresh_from_db()
    assert entry.approved_at is not None and entry.approved_by == staff and entry.invitation.email == CAROL
    assert len(mailoutbox) == 1 and mailoutbox[0].to == [CAROL]

    assert client.get(_link(mailoutbox[0], settings)).status_code == 302
    assert _sign_up(client).status_code == 302
    carol = _users(CAROL).get()
    entry.invitation.refresh_from_db()
    assert entry.invitation.used_by == carol
    assert client.get(reverse("dashboard")).status_code == 200

    # Approving again sends nothing more.
    response = _approve_in_admin(staff_client, on_commit, [entry])
    assert "already approved" in response.content.decode() and len(mailoutbox) == 1


def test_waitlist_says_the_same_whatever_the_address_and_keeps_one_entry_each(client, alice, mode):
    mode("waitlist")
    answers = [
        _join(client, "dave@example.com", note="first"),
        _join(client, "DAVE@example.com", note="second"),
        _join(client, alice.email),
    ]
    emails = ["dave@example.com", "DAVE@example.com", alice.email]
    pages = {response.content.decode().replace(email, "EMAIL") for response, email in zip(answers, emails)}
    assert all(response.status_code == 200 for response in answers)
    assert len(pages) == 1, "the answer tells apart a new address, a waiting one and an account"
    assert list(WaitlistEntry.objects.values_list("email", "note")) == [("dave@example.com", "first")]


def test_waitlist_is_rate_limited(client, mode):
    mode("waitlist")
    for _ in range(3):
        assert "We have your request" in _join(client, "erin@example.com").content.decode()
    refused = _join(client, "erin@example.com")
    assert refused.status_code == 200 and "Too many requests" in refused.content.decode()
    assert WaitlistEntry.objects.count() == 1


def test_waitlist_bad_input_is_refused_and_changes_nothing(client, mode):
    mode("waitlist")
    for data in ({"email": "not-an-address"}, {"email": ""}, {"email": "fay@example.com", "note": "x" * 301}):
        response = client.post(reverse("waitlist"), data)
        assert response.status_code == 200 and 'role="alert"' in response.content.decode()
    assert not WaitlistEntry.objects.exists()


def test_in_waitlist_mode_a_post_to_sign_up_makes_no_user_and_the_links_say_join(client, mode):
    mode("waitlist")
    response = _sign_up(client)
    assert response.status_code == 302 and response.url == reverse("waitlist")
    assert not _users(CAROL).exists()
    login = client.get(reverse("account_login")).content.decode()
    assert "Join the waitlist" in login and SIGNUP not in login


# ONECLICK_SIGNUP=open (the demo's default)

def test_open_mode_signs_up_anyone_and_has_no_waitlist(client, mode, mailoutbox, settings):
    mode("open")
    login = client.get(reverse("account_login")).content.decode()
    assert SIGNUP in login and "waitlist" not in login.lower()
    assert client.get(reverse("waitlist")).url == SIGNUP
    assert _sign_up(client).status_code == 302
    assert _users(CAROL).exists()
    assert not EmailAddress.objects.get(email=CAROL).verified  # verified by the emailed link, as before
    assert "confirm" in mailoutbox[0].subject.lower()


def test_the_mode_is_read_on_every_request(client, mode):
    mode("invite")
    assert "by invitation only" in client.get(SIGNUP).content.decode()
    mode("open")
    assert 'name="password1"' in client.get(SIGNUP).content.decode()
    mode("waitlist")
    assert client.get(SIGNUP).url == reverse("waitlist")


def test_an_unknown_mode_stops_startup_with_one_readable_line():
    result = _manage("check", **{**PRODUCTION, "ONECLICK_SIGNUP": "closed"})
    assert result.returncode != 0
    assert "ONECLICK_SIGNUP must be open, invite or waitlist, not 'closed'" in result.stderr.splitlines()[-1]
    assert _manage("check", **{**PRODUCTION, "ONECLICK_SIGNUP": "Invite"}).returncode == 0
