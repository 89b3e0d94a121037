"""Every change to how the account signs in, and every sign-in from a new device, is told to its owner by email."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.test import Client
from django.urls import reverse

from keys.services import key_disable, key_link
from exchanges import Credentials
from oneclick.devices import DEVICE_COOKIE
from oneclick.lib.useragent import user_agent_summary
from tests.conftest import PASSWORD, login_verified, totp_code
from tests.keys.conftest import link_form

pytestmark = pytest.mark.django_db

FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI_IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                 "Version/17.5 Mobile/15E148 Safari/604.1")


def _browser(user_agent=FIREFOX_LINUX, ip="198.51.100.7"):
    return Client(HTTP_USER_AGENT=user_agent, REMOTE_ADDR=ip)


def _sign_in(client, user, password=PASSWORD):
    response = client.post(reverse("account_login"), {"login": user.email, "password": password})
    assert response.status_code == 302, response.content.decode()[:1000]
    return response


def _notices(mailoutbox, to=None):
    return [m for m in mailoutbox if to is None or m.to == [to]]


def _assert_told(message, to, subject, *phrases):
    assert message.to == [to]
    assert subject in message.subject
    for phrase in (*phrases, "Reset your password now", "/accounts/sessions/"):
        assert phrase in message.body, f"{phrase!r} not in {message.body}"


@pytest.mark.parametrize("header, summary", [
    (FIREFOX_LINUX, "Firefox on Linux"),
    (SAFARI_IPHONE, "Safari on iOS"),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 "
     "Safari/537.36 Edg/126.0.0.0", "Edge on Windows"),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile "
     "Safari/537.36", "Chrome on Android"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
     "Safari/605.1.15", "Safari on macOS"),
    ("curl/8.5.0", "curl"),
    ("", "Unknown browser"),
])
def test_browsers_are_summarised_for_people(header, summary):
    assert user_agent_summary(header) == summary


def test_a_sign_in_from_a_new_device_is_told_and_a_known_one_is_not(alice, mailoutbox):
    laptop = _browser()
    _sign_in(laptop, alice)
    # The first sign-in of an account (right after sign-up) is not news.
    assert _notices(mailoutbox) == []
    assert laptop.cookies[DEVICE_COOKIE].value
    laptop.post(reverse("account_logout"))

    _sign_in(laptop, alice)
    assert _notices(mailoutbox) == []

    phone = _browser(SAFARI_IPHONE, ip="203.0.113.99")
    _sign_in(phone, alice)
    [notice] = _notices(mailoutbox)
    _assert_told(notice, "alice@example.com", "New sign-in from Safari on iOS", "IP address 203.0.113.99",
                 "Safari on iOS", "UTC")
    assert PASSWORD not in notice.body

    phone.post(reverse("account_logout"))
    _sign_in(phone, alice)
    assert len(_notices(mailoutbox)) == 1


def test_a_browser_known_for_bob_is_new_for_alice(alice, bob, mailoutbox):
    shared = _browser()
    _sign_in(_browser(), alice)  # alice's first sign-in, elsewhere
    _sign_in(shared, bob)
    shared.post(reverse("account_logout"))
    _sign_in(shared, alice)
    [notice] = _notices(mailoutbox)
    assert notice.to == ["alice@example.com"]


def test_with_two_factor_a_browser_is_known_only_once_the_code_is_entered(alice_2fa, mailoutbox):
    _sign_in(_browser(), alice_2fa)  # the first sign-in
    thief = _browser(ip="192.0.2.66")
    _sign_in(thief, alice_2fa)
    assert DEVICE_COOKIE not in thief.cookies
    thief.post(reverse("account_logout"))
    _sign_in(thief, alice_2fa)
    # Someone with the password only is reported at every attempt.
    assert [m.subject for m in _notices(mailoutbox)] == ["[OneClick] New sign-in from Firefox on Linux"] * 2

    owner = _browser(ip="198.51.100.8")
    _sign_in(owner, alice_2fa)
    owner.post(reverse("two_factor_verify"), {"code": totp_code(alice_2fa.totp_device)})
    assert owner.cookies[DEVICE_COOKIE].value
    owner.post(reverse("account_logout"))
    _sign_in(owner, alice_2fa)
    assert len(_notices(mailoutbox)) == 3


def test_a_password_change_is_told(client, alice, mailoutbox):
    login_verified(client, alice)
    new = "a-brand-new-password-7"
    client.post(reverse("account_change_password"), {"oldpassword": PASSWORD, "password1": new, "password2": new},
                HTTP_USER_AGENT=FIREFOX_LINUX, REMOTE_ADDR="198.51.100.7")
    [notice] = _notices(mailoutbox)
    _assert_told(notice, "alice@example.com", "Password Changed", "Your password has been changed",
                 "Firefox on Linux", "IP address 198.51.100.7")
    assert new not in notice.body and PASSWORD not in notice.body


def test_a_password_reset_is_told(client, alice, mailoutbox):
    client.post(reverse("account_reset_password"), {"email": alice.email})
    link = re.search(r"https?://testserver(/accounts/password/reset/key/[^\s]+)", mailoutbox[0].body).group(1)
    form_page = client.get(link, follow=True)
    new = "a-brand-new-password-7"
    client.post(form_page.redirect_chain[-1][0], {"password1": new, "password2": new})
    notice = mailoutbox[-1]
    _assert_told(notice, "alice@example.com", "Password Reset", "password has been reset")


def test_an_email_change_is_told_to_the_old_address(client, alice, mailoutbox):
    login_verified(client, alice)
    client.post(reverse("account_email"), {"action_add": "", "email": "new@example.com"})
    added = [m for m in mailoutbox if "added" in m.subject]
    [added] = added
    _assert_told(added, "alice@example.com", "Email address added: new@example.com",
                 "new@example.com was added to your account")

    EmailAddress.objects.filter(email="new@example.com").update(verified=True)  # its link was followed
    mailoutbox.clear()
    client.post(reverse("account_email"), {"action_primary": "", "email": "new@example.com"})
    [changed] = mailoutbox
    _assert_told(changed, "alice@example.com", "Email Changed", "from alice@example.com to new@example.com")

    mailoutbox.clear()
    client.post(reverse("account_email"), {"action_remove": "", "email": "alice@example.com"})
    # The removed address is told too: removing it does not silence the owner.
    assert sorted(m.to[0] for m in mailoutbox) == ["alice@example.com", "new@example.com"]
    for message in mailoutbox:
        _assert_told(message, message.to[0], "Email Removed", "alice@example.com")


def test_two_factor_off_and_new_backup_codes_are_told(client, alice_2fa, mailoutbox):
    login_verified(client, alice_2fa, alice_2fa.totp_device)
    made = client.post(reverse("backup_codes_new"), {"otp_code": alice_2fa.backup_codes[0]})
    codes = re.findall(r"<li><code>([a-z2-7]+)</code></li>", made.content.decode())
    [notice] = mailoutbox
    _assert_told(notice, "alice@example.com", "New backup codes made", "The old ones no longer work")
    assert not any(code in notice.body for code in codes)

    client.post(reverse("two_factor_off"), {"code": totp_code(alice_2fa.totp_device)})
    _assert_told(mailoutbox[-1], "alice@example.com", "Two-factor authentication turned off", "password only")
    assert len(mailoutbox) == 2


def test_a_refused_change_tells_nobody(client, alice_2fa, mailoutbox):
    login_verified(client, alice_2fa, alice_2fa.totp_device)
    client.post(reverse("two_factor_off"), {"code": "000000"})
    client.post(reverse("backup_codes_new"), {"otp_code": "000000"})
    assert mailoutbox == []


def test_linking_and_re_enabling_a_key_are_told_without_the_secret(client, alice_2fa, paper, paper_account,
                                                                   mailoutbox):
    login_verified(client, alice_2fa, alice_2fa.totp_device)
    linked = client.post(reverse("keys:link"), {**link_form(paper_account.key, label="Main"),
                                                "otp_code": totp_code(alice_2fa.totp_device)})
    assert linked.status_code == 302
    [notice] = mailoutbox
    key = alice_2fa.exchange_keys.get()
    _assert_told(notice, "alice@example.com", "Exchange key linked: Main", "“Main”", key.api_key_hint)
    assert paper_account.secret not in notice.body and paper_account.api_key not in notice.body

    key_disable(key=key, by=alice_2fa, reason="test")
    client.post(reverse("keys:enable", args=[key.pk]), {"otp_code": alice_2fa.backup_codes[0]})
    _assert_told(mailoutbox[-1], "alice@example.com", "Exchange key re-enabled: Main", key.api_key_hint)
    assert len(mailoutbox) == 2


def test_another_users_key_is_not_theirs_to_re_enable_and_nobody_is_told(client, alice_2fa, bob, paper,
                                                                         paper_account, mailoutbox):
    key = key_link(owner=alice_2fa, exchange="paper", label="Main",
                   credentials=Credentials(api_key=paper_account.api_key, secret=paper_account.secret))
    key_disable(key=key, by=alice_2fa, reason="test")
    login_verified(client, bob)
    assert client.post(reverse("keys:enable", args=[key.pk]), {"otp_code": "123456"}).status_code == 404
    assert mailoutbox == []
