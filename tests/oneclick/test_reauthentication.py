"""Sensitive changes need the password confirmed a moment ago (and a fresh code when 2FA is on).

Someone who holds only a signed-in browser (a stolen session cookie) cannot replace the account's email, turn
2FA off, make new backup codes or link or re-enable an exchange key.
"""

from urllib.parse import parse_qs, urlsplit

import pytest
from allauth.account.models import EmailAddress
from django.contrib.sessions.models import Session
from django.urls import reverse
from django_otp.plugins.otp_static.models import StaticToken

from keys.models import ExchangeKey
from keys.services import key_disable, key_link
from exchanges import Credentials
from oneclick.models import TOTPDevice
from tests.conftest import PASSWORD, login_verified, reauthenticate, totp_code
from tests.keys.conftest import link_form

pytestmark = pytest.mark.django_db

REAUTH = reverse("account_reauthenticate")


def _to_reauth(response, back):
    """The answer sends the user to "Confirm your password", to come back to ``back``."""
    if response.status_code != 302:
        return False
    location = urlsplit(response["Location"])
    return location.path == REAUTH and parse_qs(location.query) == {"next": [back]}


def _emails(user):
    return sorted(EmailAddress.objects.filter(user=user).values_list("email", "primary"))


@pytest.fixture
def stolen(client, alice):
    """A browser signed in as alice, without her password."""
    return login_verified(client, alice, reauthenticated=False)


@pytest.fixture
def stolen_2fa(client, alice_2fa):
    return login_verified(client, alice_2fa, alice_2fa.totp_device, reauthenticated=False)


def test_a_live_session_alone_cannot_replace_the_email(stolen, alice):
    before = _emails(alice)
    page = stolen.get(reverse("account_email"))
    assert _to_reauth(page, reverse("account_email"))

    added = stolen.post(reverse("account_email"), {"action_add": "", "email": "mallory@evil.example"})
    assert _to_reauth(added, reverse("account_email"))
    # Someone else's address already verified on the account (as after a confirmation link) cannot be promoted.
    EmailAddress.objects.create(user=alice, email="mallory@evil.example", verified=True, primary=False)
    primary = stolen.post(reverse("account_email"), {"action_primary": "", "email": "mallory@evil.example"})
    removed = stolen.post(reverse("account_email"), {"action_remove": "", "email": "alice@example.com"})
    assert _to_reauth(primary, reverse("account_email")) and _to_reauth(removed, reverse("account_email"))
    assert _emails(alice) == sorted(before + [("mallory@evil.example", False)])
    alice.refresh_from_db()
    assert alice.email == "alice@example.com"


def test_the_confirm_page_takes_the_password_then_the_email_can_change(stolen, alice):
    page = stolen.get(reverse("account_email"), follow=True)
    html = page.content.decode()
    assert page.redirect_chain[-1][0].startswith(REAUTH)
    assert "Confirm your password" in html and 'name="password"' in html and 'name="next"' in html

    wrong = stolen.post(f"{REAUTH}?next=/accounts/email/", {"password": "not-her-password", "next": "/accounts/email/"})
    assert wrong.status_code == 200 and "password" in wrong.content.decode().lower()
    assert _to_reauth(stolen.post(reverse("account_email"), {"action_add": "", "email": "new@example.com"}),
                      reverse("account_email"))

    ok = stolen.post(REAUTH, {"password": PASSWORD, "next": "/accounts/email/"})
    assert ok.status_code == 302 and ok["Location"] == "/accounts/email/"
    assert stolen.get(reverse("account_email")).status_code == 200
    added = stolen.post(reverse("account_email"), {"action_add": "", "email": "new@example.com"})
    assert added.status_code == 302
    assert EmailAddress.objects.filter(user=alice, email="new@example.com", verified=False).exists()


def test_the_confirmation_lapses_after_the_timeout(stolen, alice, settings):
    reauthenticate(stolen)
    assert stolen.get(reverse("account_email")).status_code == 200
    settings.ACCOUNT_REAUTHENTICATION_TIMEOUT = 0
    assert _to_reauth(stolen.get(reverse("account_email")), reverse("account_email"))


@pytest.mark.parametrize("evil", ["https://evil.example/", "//evil.example/", "https:evil.example", "/\\evil.example"])
def test_the_confirm_page_never_sends_off_site(stolen, evil):
    response = stolen.post(REAUTH, {"password": PASSWORD, "next": evil})
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard")


def test_with_two_factor_email_changes_also_need_a_fresh_code(stolen_2fa, alice_2fa):
    reauthenticate(stolen_2fa)
    page = stolen_2fa.get(reverse("account_email")).content.decode()
    assert page.count('name="otp_code"') == 2  # the add form, and the primary/remove form

    no_code = stolen_2fa.post(reverse("account_email"), {"action_add": "", "email": "new@example.com"})
    assert no_code.status_code == 200 and "This field is required" in no_code.content.decode()
    wrong = stolen_2fa.post(reverse("account_email"),
                            {"action_add": "", "email": "new@example.com", "otp_code": "000000"})
    assert "not valid" in wrong.content.decode()
    assert not EmailAddress.objects.filter(email="new@example.com").exists()

    added = stolen_2fa.post(reverse("account_email"), {"action_add": "", "email": "new@example.com",
                                                      "otp_code": alice_2fa.backup_codes[0]})
    assert added.status_code == 302
    assert EmailAddress.objects.filter(user=alice_2fa, email="new@example.com").exists()

    EmailAddress.objects.filter(email="new@example.com").update(verified=True)
    refused = stolen_2fa.post(reverse("account_email"), {"action_primary": "", "email": "new@example.com",
                                                        "otp_code": "000000"}, follow=True)
    assert "Email addresses not changed" in refused.content.decode()
    assert EmailAddress.objects.get(user=alice_2fa, primary=True).email == "alice@example.com"
    stolen_2fa.post(reverse("account_email"), {"action_primary": "", "email": "new@example.com",
                                               "otp_code": totp_code(alice_2fa.totp_device)})
    assert EmailAddress.objects.get(user=alice_2fa, primary=True).email == "new@example.com"

    removal = {"action_remove": "", "email": "alice@example.com"}
    stolen_2fa.post(reverse("account_email"), removal)
    assert EmailAddress.objects.filter(user=alice_2fa, email="alice@example.com").exists()
    stolen_2fa.post(reverse("account_email"), {**removal, "otp_code": alice_2fa.backup_codes[1]})
    assert not EmailAddress.objects.filter(user=alice_2fa, email="alice@example.com").exists()


def test_bob_cannot_touch_alices_addresses(client, alice, bob):
    login_verified(client, bob)
    client.post(reverse("account_email"), {"action_remove": "", "email": "alice@example.com"})
    client.post(reverse("account_email"), {"action_primary": "", "email": "alice@example.com"})
    assert _emails(alice) == [("alice@example.com", True)]
    assert _emails(bob) == [("bob@example.com", True)]


def test_the_password_changes_only_with_the_current_one(stolen, alice):
    url = reverse("account_change_password")
    new = "a-brand-new-password-7"
    for old in ("", "not-her-password"):
        refused = stolen.post(url, {"oldpassword": old, "password1": new, "password2": new})
        assert refused.status_code == 200
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)
    assert stolen.post(url, {"oldpassword": PASSWORD, "password1": new, "password2": new}).status_code == 302
    alice.refresh_from_db()
    assert alice.check_password(new)


def test_with_two_factor_the_password_change_also_needs_a_code(stolen_2fa, alice_2fa):
    url = reverse("account_change_password")
    new = "a-brand-new-password-7"
    assert 'name="otp_code"' in stolen_2fa.get(url).content.decode()
    refused = stolen_2fa.post(url, {"oldpassword": PASSWORD, "password1": new, "password2": new, "otp_code": "1"})
    assert "not valid" in refused.content.decode()
    alice_2fa.refresh_from_db()
    assert alice_2fa.check_password(PASSWORD)
    ok = stolen_2fa.post(url, {"oldpassword": PASSWORD, "password1": new, "password2": new,
                               "otp_code": totp_code(alice_2fa.totp_device)})
    assert ok.status_code == 302
    alice_2fa.refresh_from_db()
    assert alice_2fa.check_password(new)


def test_a_live_session_alone_cannot_turn_two_factor_off(stolen_2fa, alice_2fa):
    code = totp_code(alice_2fa.totp_device)
    refused = stolen_2fa.post(reverse("two_factor_off"), {"code": code})
    assert _to_reauth(refused, reverse("security"))
    assert TOTPDevice.objects.filter(user=alice_2fa, confirmed=True).exists()

    reauthenticate(stolen_2fa)
    # The code was not spent by the refused attempt.
    done = stolen_2fa.post(reverse("two_factor_off"), {"code": code}, follow=True)
    assert "is off" in done.content.decode()
    assert not TOTPDevice.objects.filter(user=alice_2fa).exists()


def test_a_live_session_alone_cannot_make_new_backup_codes(stolen_2fa, alice_2fa):
    before = set(StaticToken.objects.filter(device__user=alice_2fa).values_list("token", flat=True))
    refused = stolen_2fa.post(reverse("backup_codes_new"), {"otp_code": totp_code(alice_2fa.totp_device)})
    assert _to_reauth(refused, reverse("security"))
    assert set(StaticToken.objects.filter(device__user=alice_2fa).values_list("token", flat=True)) == before

    reauthenticate(stolen_2fa)
    made = stolen_2fa.post(reverse("backup_codes_new"), {"otp_code": totp_code(alice_2fa.totp_device)})
    assert made.status_code == 200 and "Your backup codes" in made.content.decode()
    assert set(StaticToken.objects.filter(device__user=alice_2fa).values_list("token", flat=True)).isdisjoint(before)


def test_a_live_session_alone_cannot_link_a_key_and_the_secret_is_never_kept(stolen_2fa, alice_2fa, paper,
                                                                              paper_account):
    assert _to_reauth(stolen_2fa.get(reverse("keys:link")), reverse("keys:link"))
    data = {**link_form(paper_account.key), "otp_code": totp_code(alice_2fa.totp_device)}
    refused = stolen_2fa.post(reverse("keys:link"), data)
    assert _to_reauth(refused, reverse("keys:link"))
    assert not ExchangeKey.objects.exists()
    # The refused form is not kept to be replayed: the secret is in no session.
    assert not any(paper_account.secret in str(s.get_decoded()) for s in Session.objects.all())

    reauthenticate(stolen_2fa)
    linked = stolen_2fa.post(reverse("keys:link"), data)
    assert linked.status_code == 302
    assert ExchangeKey.objects.get(owner=alice_2fa).label == "Paper main"


def test_a_user_without_two_factor_is_told_to_turn_it_on_before_the_password(stolen):
    page = stolen.get(reverse("keys:link"))
    assert page.status_code == 200 and "two-factor" in page.content.decode().lower()


def test_a_live_session_alone_cannot_re_enable_a_key(stolen_2fa, alice_2fa, bob, paper, paper_account):
    credentials = Credentials(api_key=paper_account.api_key, secret=paper_account.secret)
    key = key_link(owner=alice_2fa, exchange="paper", label="Main", credentials=credentials)
    key_disable(key=key, by=alice_2fa, reason="test")
    url = reverse("keys:enable", args=[key.pk])
    refused = stolen_2fa.post(url, {"otp_code": totp_code(alice_2fa.totp_device)})
    assert _to_reauth(refused, reverse("keys:detail", args=[key.pk]))
    key.refresh_from_db()
    assert key.status == ExchangeKey.Status.DISABLED

    reauthenticate(stolen_2fa)
    stolen_2fa.post(url, {"otp_code": totp_code(alice_2fa.totp_device)})
    key.refresh_from_db()
    assert key.status == ExchangeKey.Status.ACTIVE
