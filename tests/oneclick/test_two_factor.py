import base64
import re

import pytest
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_static.models import StaticToken

from oneclick.models import TOTPDevice
from oneclick.services import backup_code_digest
from tests.conftest import PASSWORD, login_verified, totp_code

pytestmark = pytest.mark.django_db


def _code_from_page_secret(secret, offset=0):
    """What an authenticator app computes from the secret shown on the page."""
    import time

    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    totp = TOTP(key, 30, 0, 6, 0)
    totp.time = time.time() + offset * 30
    return f"{totp.token():06d}"


def _log_in_with_password(client, user):
    return client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD}, follow=True)


def test_enrolment_shows_qr_and_secret_and_confirms_only_with_a_valid_code(client, alice):
    client.force_login(alice)
    page = client.get(reverse("two_factor_setup")).content.decode()
    assert "<svg" in page
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', page).group(1)

    wrong = client.post(reverse("two_factor_setup"), {"code": "000000"})
    assert "not valid" in wrong.content.decode()
    assert not TOTPDevice.objects.filter(user=alice, confirmed=True).exists()

    done = client.post(reverse("two_factor_setup"), {"code": _code_from_page_secret(secret)})
    assert done.status_code == 200
    codes = re.findall(r"<li><code>([a-z2-7]+)</code></li>", done.content.decode())
    assert len(codes) == 10
    assert TOTPDevice.objects.filter(user=alice, confirmed=True).count() == 1
    assert StaticToken.objects.filter(device__user=alice).count() == 10

    # The seed is never shown again once the device is confirmed.
    assert secret not in client.get(reverse("two_factor_setup"), follow=True).content.decode()
    assert secret not in client.get(reverse("security")).content.decode()


def test_login_demands_the_code_before_any_portal_page(client, alice_2fa):
    response = _log_in_with_password(client, alice_2fa)
    assert response.redirect_chain[-1][0].startswith(reverse("two_factor_verify"))
    for name in ("dashboard", "security", "keys:list", "portfolios:bot_list"):
        assert client.get(reverse(name)).url.startswith(reverse("two_factor_verify"))
    assert client.get("/admin/").url.startswith(reverse("two_factor_verify"))

    wrong = client.post(reverse("two_factor_verify"), {"code": "123456"})
    assert "not valid" in wrong.content.decode()
    assert client.get(reverse("dashboard")).status_code == 302

    ok = client.post(reverse("two_factor_verify"), {"code": totp_code(alice_2fa.totp_device)})
    assert ok.status_code == 302
    assert client.get(reverse("dashboard")).status_code == 200


def test_a_totp_code_cannot_be_used_twice(client, alice_2fa):
    code = totp_code(alice_2fa.totp_device)
    _log_in_with_password(client, alice_2fa)
    assert client.post(reverse("two_factor_verify"), {"code": code}).status_code == 302
    client.post(reverse("account_logout"))
    _log_in_with_password(client, alice_2fa)
    reused = client.post(reverse("two_factor_verify"), {"code": code})
    assert "not valid" in reused.content.decode()


def test_a_backup_code_works_once_and_only_once(client, alice_2fa):
    code = alice_2fa.backup_codes[0]
    _log_in_with_password(client, alice_2fa)
    assert client.post(reverse("two_factor_verify"), {"code": code}).status_code == 302
    assert client.get(reverse("dashboard")).status_code == 200
    assert StaticToken.objects.filter(device__user=alice_2fa).count() == 9

    client.post(reverse("account_logout"))
    _log_in_with_password(client, alice_2fa)
    again = client.post(reverse("two_factor_verify"), {"code": code})
    assert "not valid" in again.content.decode()
    assert client.get(reverse("dashboard")).status_code == 302


def test_wrong_codes_are_rate_limited(client, alice_2fa):
    _log_in_with_password(client, alice_2fa)
    for _ in range(5):
        client.post(reverse("two_factor_verify"), {"code": "000000"})
    blocked = client.post(reverse("two_factor_verify"), {"code": totp_code(alice_2fa.totp_device)})
    assert "Too many wrong codes" in blocked.content.decode()
    assert client.get(reverse("dashboard")).status_code == 302


def test_disabling_two_factor_needs_a_current_code(client, alice_2fa):
    login_verified(client, alice_2fa, alice_2fa.totp_device)
    refused = client.post(reverse("two_factor_off"), {"code": "111111"}, follow=True)
    assert "still on" in refused.content.decode()
    assert TOTPDevice.objects.filter(user=alice_2fa, confirmed=True).exists()

    empty = client.post(reverse("two_factor_off"), {"code": ""}, follow=True)
    assert "still on" in empty.content.decode()

    done = client.post(reverse("two_factor_off"), {"code": totp_code(alice_2fa.totp_device)}, follow=True)
    assert "is off" in done.content.decode()
    assert not TOTPDevice.objects.filter(user=alice_2fa).exists()
    assert not StaticToken.objects.filter(device__user=alice_2fa).exists()


def test_regenerating_backup_codes_kills_the_old_ones(client, alice_2fa):
    login_verified(client, alice_2fa, alice_2fa.totp_device)
    old = set(alice_2fa.backup_codes)
    response = client.post(reverse("backup_codes_new"), {"otp_code": totp_code(alice_2fa.totp_device)})
    new = set(re.findall(r"<li><code>([a-z2-7]+)</code></li>", response.content.decode()))
    assert len(new) == 10
    assert not (old & new)
    stored = set(StaticToken.objects.filter(device__user=alice_2fa).values_list("token", flat=True))
    # Only keyed hashes are stored, never the codes themselves.
    assert stored == {backup_code_digest(code) for code in new}
    assert not (stored & new)
    # The security page shows how many are left, never the codes.
    page = client.get(reverse("security")).content.decode()
    assert "<strong>10</strong> of 10" in page
    assert not any(code in page for code in new)


def test_logged_in_is_said_after_the_code_not_before(client, alice_2fa):
    before = _log_in_with_password(client, alice_2fa)
    # The code page: not logged in yet, and it does not say so.
    assert before.redirect_chain[-1][0].startswith(reverse("two_factor_verify"))
    assert "Logged in" not in before.content.decode() and "signed in" not in before.content.decode()

    after = client.post(reverse("two_factor_verify"), {"code": totp_code(alice_2fa.totp_device)}, follow=True)
    assert after.redirect_chain[-1][0] == reverse("dashboard")
    assert f"Logged in as {alice_2fa.email}." in after.content.decode()


def test_without_two_factor_logged_in_is_said_at_once(client, alice):
    page = _log_in_with_password(client, alice).content.decode()
    assert "Logged in as" in page and "Successfully signed in" not in page
