import pytest

from tests.conftest import enable_two_factor, login_verified, make_user

pytestmark = pytest.mark.django_db


def test_anonymous_is_sent_to_the_portal_login(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response.url
    login = client.get(response.url)
    assert login.status_code == 302
    assert login.url.startswith("/accounts/login/")


def test_staff_without_second_factor_is_refused(client, staff, settings):
    assert settings.DEBUG is False
    client.force_login(staff)
    response = client.get("/admin/", follow=True)
    assert response.status_code == 403
    assert b"Two-factor authentication required" in response.content
    assert client.get("/admin/auth/user/").status_code in (302, 403)


def test_staff_with_verified_second_factor_is_allowed(client, staff):
    device, _ = enable_two_factor(staff)
    login_verified(client, staff, device)
    response = client.get("/admin/")
    assert response.status_code == 200
    assert b"OneClick staff" in response.content
    assert client.get("/admin/auth/user/").status_code == 200


def test_non_staff_is_refused_even_with_second_factor(client, alice):
    device, _ = enable_two_factor(alice)
    login_verified(client, alice, device)
    response = client.get("/admin/", follow=True)
    assert response.status_code == 403
    assert client.get("/admin/auth/user/").status_code in (302, 403)


def test_admin_never_shows_a_totp_seed_or_backup_code(client, staff):
    device, codes = enable_two_factor(staff)
    login_verified(client, staff, device)
    victim = make_user("victim@example.com")
    victim_device, victim_codes = enable_two_factor(victim)
    pages = [
        "/admin/oneclick/totpdevice/",
        f"/admin/oneclick/totpdevice/{victim_device.pk}/change/",
        "/admin/otp_static/staticdevice/",
        f"/admin/otp_static/staticdevice/{victim_device.user.staticdevice_set.get().pk}/change/",
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert victim_device.key not in html
        assert not any(code in html for code in victim_codes)
