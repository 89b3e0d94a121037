import re

import pytest
from django.urls import reverse

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _signup(client, email="carol@example.com", password=PASSWORD):
    return client.post(
        reverse("account_signup"), {"email": email, "password1": password, "password2": password}, follow=True
    )


def test_signup_sends_verification_email_and_verified_user_can_log_in(client, mailoutbox, settings):
    response = _signup(client)
    assert response.status_code == 200
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["carol@example.com"]
    # The welcome email tells the user which IPs to whitelist on their keys.
    for ip in settings.ONECLICK_EGRESS_IPS:
        assert ip in message.body
    link = re.search(r"https?://[^\s]+/accounts/confirm-email/[^\s]+/", message.body).group(0)
    path = link.split("testserver", 1)[1]

    assert client.get(reverse("dashboard")).status_code == 302  # not verified yet

    page = client.get(path)
    assert page.status_code == 200
    client.post(path)
    response = client.post(reverse("account_login"), {"login": "carol@example.com", "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("dashboard")
    assert b"Link your first exchange key" in response.content


def test_unverified_user_cannot_reach_dashboard(client, mailoutbox):
    _signup(client, email="dave@example.com")
    response = client.post(reverse("account_login"), {"login": "dave@example.com", "password": PASSWORD}, follow=True)
    assert b"Verify Your Email Address" in response.content or b"verification" in response.content.lower()
    assert client.get(reverse("dashboard")).status_code == 302
    # Logging in again re-sends the verification email instead of letting them in.
    assert len(mailoutbox) >= 1


def test_wrong_password_is_refused_with_a_message(client, alice):
    response = client.post(reverse("account_login"), {"login": alice.email, "password": "not-the-password"})
    assert response.status_code == 200
    assert b"not correct" in response.content or b"incorrect" in response.content.lower()
    assert client.get(reverse("dashboard")).status_code == 302


def test_login_is_rate_limited_after_repeated_failures(client, alice):
    for _ in range(5):
        client.post(reverse("account_login"), {"login": alice.email, "password": "wrong-password-1"})
    response = client.post(reverse("account_login"), {"login": alice.email, "password": PASSWORD})
    assert b"Too many failed login attempts" in response.content
    assert client.get(reverse("dashboard")).status_code == 302


def test_usernames_are_never_asked_for(client):
    page = client.get(reverse("account_signup")).content.decode()
    assert 'name="email"' in page
    assert 'name="username"' not in page


def test_password_reset_sends_a_link_that_sets_a_new_password(client, alice, mailoutbox):
    client.post(reverse("account_reset_password"), {"email": alice.email})
    assert len(mailoutbox) == 1
    link = re.search(r"https?://testserver(/accounts/password/reset/key/[^\s]+)", mailoutbox[0].body).group(1)
    form_page = client.get(link, follow=True)
    action = form_page.redirect_chain[-1][0] if form_page.redirect_chain else link
    new_password = "a-brand-new-password-7"
    client.post(action, {"password1": new_password, "password2": new_password})
    alice.refresh_from_db()
    assert alice.check_password(new_password)


def test_change_password_and_log_out(client, alice):
    client.force_login(alice)
    new_password = "another-new-password-8"
    response = client.post(
        reverse("account_change_password"),
        {"oldpassword": PASSWORD, "password1": new_password, "password2": new_password},
    )
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password(new_password)
    client.post(reverse("account_logout"))
    assert client.get(reverse("dashboard")).status_code == 302


def test_sign_ins_are_listed_on_the_security_page(client, alice):
    client.post(reverse("account_login"), {"login": alice.email, "password": PASSWORD}, REMOTE_ADDR="198.51.100.7")
    page = client.get(reverse("security")).content.decode()
    assert "Signed in with password" in page
    assert "198.51.100.7" in page
