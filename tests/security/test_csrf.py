"""A POST without a CSRF token is refused (403) by every view of the portal, signed in or not, and changes nothing.

The only exemption is Telegram's webhook, which proves where it comes from with its secret token header.
"""

import pytest
from django.test import Client
from django.urls import NoReverseMatch, reverse

from keys.models import ExchangeKey
from portfolios.models import Bot
from strategies.services import strategy_create
from tests.conftest import enable_two_factor, login_verified
from tests.security.test_idor import _key
from tests.security.urlmap import NOT_IDS, OWNED, SHARED, objects_for, portal_routes

pytestmark = pytest.mark.django_db

CSRF_EXEMPT = {"alerts:telegram_webhook": "authenticated by the X-Telegram-Bot-Api-Secret-Token header"}


def _urls(objects):
    for route in portal_routes():
        if route.name in CSRF_EXEMPT:
            continue
        kinds = OWNED | SHARED
        try:
            if route.name in kinds:
                yield reverse(route.name, kwargs={"pk": objects[kinds[route.name]].pk})
            elif route.name in NOT_IDS:
                yield reverse(route.name, kwargs=NOT_IDS[route.name][0])
            else:
                yield reverse(route.name)
        except NoReverseMatch:
            # Only allauth's includes have their own parameters; they are covered by NOT_IDS.
            assert route.name.startswith("account_") or not route.name, route


@pytest.fixture
def objects(alice_2fa):
    strategy = strategy_create(name="Trend", kind="trend", markets=["BTC/USDT"])
    return objects_for(alice_2fa, _key(alice_2fa), strategy)


def test_every_post_without_a_token_is_refused(alice_2fa, objects):
    signed_in = login_verified(Client(enforce_csrf_checks=True), alice_2fa, alice_2fa.totp_device)
    anonymous = Client(enforce_csrf_checks=True)
    urls = list(_urls(objects))
    assert len(urls) > 40
    for url in urls:
        for client in (signed_in, anonymous):
            response = client.post(url, {"otp_code": "123456", "disable_keys": "on", "name": "x"})
            assert response.status_code == 403, f"POST {url} without a CSRF token: {response.status_code}"
    assert Bot.objects.get().state == Bot.State.RUNNING
    assert ExchangeKey.objects.get().status == ExchangeKey.Status.ACTIVE


def test_the_same_post_with_a_token_goes_through(alice_2fa, objects):
    """The refusal above is the token's doing: with it, the kill switch acts."""
    client = login_verified(Client(enforce_csrf_checks=True), alice_2fa, alice_2fa.totp_device)
    page = client.get(reverse("portfolios:kill_switch"))
    token = page.cookies["csrftoken"].value
    response = client.post(reverse("portfolios:kill_switch"), {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert Bot.objects.get().state == Bot.State.PAUSED


def test_admin_posts_need_a_token_too(staff, objects):
    device, _ = enable_two_factor(staff)
    client = login_verified(Client(enforce_csrf_checks=True), staff, device)
    for url in (reverse("admin:portfolios_bot_changelist"), reverse("admin:keys_exchangekey_changelist")):
        response = client.post(url, {"action": "delete_selected", "_selected_action": [objects["bot"].pk]})
        assert response.status_code == 403, url
    assert Bot.objects.exists()
