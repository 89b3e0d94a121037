"""No ``next`` sends anyone off the site: every view of the portal and the admin's login, walked with the
off-site forms an attacker uses, GET and POST, signed in as verified staff and anonymous."""

from urllib.parse import quote, urlsplit

import pytest
from django.test import Client

from strategies.services import strategy_create
from tests.conftest import enable_two_factor, login_verified
from tests.security.test_csrf import _urls
from tests.security.test_idor import _key
from tests.security.urlmap import objects_for

pytestmark = pytest.mark.django_db

OFF_SITE = ["https://evil.example/", "//evil.example/", "https:evil.example", "/\\evil.example", "\\\\evil.example",
            "http://testserver@evil.example/", " https://evil.example"]


def _off_site(response):
    if response.status_code not in (301, 302, 303, 307, 308):
        return None
    location = response["Location"]
    parts = urlsplit(location.replace("\\", "/"))
    return location if parts.netloc not in ("", "testserver") or parts.scheme not in ("", "http", "https") else None


@pytest.fixture
def staff_client(staff):
    device, _codes = enable_two_factor(staff)
    return login_verified(Client(), staff, device)


def test_no_view_redirects_off_site_whatever_next_says(staff, staff_client):
    strategy = strategy_create(name="Trend", kind="trend", markets=["BTC/USDT"])
    objects = objects_for(staff, _key(staff), strategy)
    # The admin's and the second factor's pages first; signing out last (it ends the staff session).
    urls = ["/admin/login/", "/admin/", "/accounts/login/", "/account/2fa/verify/"] + sorted(
        set(_urls(objects)), key=lambda url: url == "/accounts/logout/")
    walked = 0
    for client in (staff_client, Client()):
        for url in urls:
            for evil in OFF_SITE:
                for response in (client.get(f"{url}?next={quote(evil)}"), client.post(url, {"next": evil})):
                    assert _off_site(response) is None, f"{url} with next={evil!r} sent to {response['Location']}"
                    walked += 1
    assert walked > 1000


def test_the_admin_login_sends_verified_staff_on_site(staff_client):
    response = staff_client.get("/admin/login/?next=https://evil.example")
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert staff_client.get("/admin/login/?next=/admin/portfolios/order/")["Location"] == "/admin/portfolios/order/"
