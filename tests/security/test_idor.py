"""Every portal URL that takes an id, walked from the URL configuration: bob gets 404 for alice's objects.

A view that only accepts POST answers a GET with 405 before looking anything up: that answer is
the same for alice's id and for an id that does not exist, so it confirms nothing.
"""

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from keys.models import ExchangeKey
from portfolios.models import Bot
from strategies.services import strategy_create
from tests.conftest import enable_two_factor, login_verified
from tests.security.urlmap import NOT_IDS, OWNED, PUBLIC, SHARED, id_routes, objects_for, unknown_id_routes

pytestmark = pytest.mark.django_db


def _key(user):
    return ExchangeKey.objects.create(
        owner=user, exchange="paper", label="Paper", api_key=f"{user.username}-api-key",
        api_secret=f"{user.username}-secret", api_key_hint="xxxx…xxxx",
        permissions={"can_read": True, "can_trade": True, "can_withdraw": False}, permissions_verified=True,
    )


@pytest.fixture
def world(alice, bob):
    strategy = strategy_create(name="Trend", kind="trend", markets=["BTC/USDT", "ETH/USDT"])
    return objects_for(alice, _key(alice), strategy)


def _url(name, obj_pk):
    return reverse(name, kwargs={"pk": obj_pk})


def _is_login_redirect(response):
    return response.status_code == 302 and response.url.startswith(reverse("account_login"))


def test_every_id_taking_url_is_known_to_the_sweep():
    unknown = unknown_id_routes()
    assert not unknown, (
        "URL patterns taking a parameter that the security sweep cannot fill in; add them to OWNED, SHARED "
        f"or NOT_IDS in tests/security/urlmap.py: {unknown}"
    )
    names = {r.name for r in id_routes()}
    stale = (set(OWNED) | set(SHARED) | set(NOT_IDS)) - names
    assert not stale, f"the sweep lists URL names that no longer exist: {sorted(stale)}"


def test_a_new_id_taking_url_fails_the_sweep(settings):
    settings.ROOT_URLCONF = "tests.security.urls_with_a_new_page"
    assert unknown_id_routes() == ["portfolios_clone bots/<int:pk>/clone/"]


def test_bob_gets_404_for_every_object_of_alice(client, alice, bob, world):
    alice_client = login_verified(Client(), alice)
    login_verified(client, bob)
    missing_pk = 10**9
    checked = []
    for route in id_routes():
        if route.name not in OWNED:
            continue
        obj = world[OWNED[route.name]]
        url, nowhere = _url(route.name, obj.pk), _url(route.name, missing_pk)
        own = alice_client.get(url)
        assert own.status_code in (200, 405), f"alice cannot open her own {url}: {own.status_code}"
        get, post = client.get(url), client.post(url, {"otp_code": "123456", "sell_positions": "on"})
        assert post.status_code == 404, f"POST {url} as bob: {post.status_code}"
        if own.status_code == 405:  # POST only: refused before any lookup, as for an id that does not exist
            assert get.status_code == client.get(nowhere).status_code == 405, url
        else:
            assert get.status_code == 404, f"GET {url} as bob: {get.status_code}"
        checked.append(route.name)
    assert sorted(checked) == sorted(OWNED)

    # Nothing of alice's changed.
    bot, key, alert = world["bot"], world["key"], world["alert"]
    bot.refresh_from_db(), key.refresh_from_db(), alert.refresh_from_db()
    assert bot.state == Bot.State.RUNNING and key.status == ExchangeKey.Status.ACTIVE
    assert alert.acknowledged_at is None
    assert not bob.bots.exists() and not bob.exchange_keys.exists()


def test_anonymous_is_sent_to_log_in_for_every_id_taking_url(client, world):
    for route in id_routes():
        if route.name in OWNED or route.name in SHARED:
            url = _url(route.name, world[(OWNED | SHARED)[route.name]].pk)
        else:
            continue
        get, post = client.get(url), client.post(url)
        if route.name in PUBLIC:  # readable by anyone, changed by no one
            assert (get.status_code, post.status_code) == (200, 405), url
            continue
        assert _is_login_redirect(post), f"POST {url} anonymous: {post.status_code}"
        assert _is_login_redirect(get) or get.status_code == 405, f"GET {url} anonymous: {get.status_code}"


def test_shared_objects_are_readable_by_any_signed_in_user(client, bob, world):
    login_verified(client, bob)
    for name, kind in SHARED.items():
        assert client.get(_url(name, world[kind].pk)).status_code == 200, name


def test_non_id_parameters_are_not_objects_of_another_user(client, alice, bob):
    """The channel switch acts on the caller's own settings; the guides are public."""
    login_verified(client, bob)
    assert client.get(reverse("keys:guide", kwargs=NOT_IDS["keys:guide"][0])).status_code == 200
    assert client.get(reverse("keys:guide", kwargs={"exchange": "nowhere"})).status_code == 404
    assert client.post(reverse("alerts:channel_on", kwargs={"channel": "nowhere"})).status_code == 404


def test_admin_refuses_non_staff_for_every_registered_model(client, alice, bob, world):
    device, _ = enable_two_factor(bob)
    login_verified(client, bob, device)
    for model in admin.site._registry:
        meta = model._meta
        for view, args in (("changelist", []), ("change", [1]), ("delete", [1]), ("history", [1])):
            url = reverse(f"admin:{meta.app_label}_{meta.model_name}_{view}", args=args)
            for response in (client.get(url), client.post(url, {"post": "yes"})):
                assert response.status_code == 302 and response.url.startswith(
                    (reverse("admin:login"), reverse("account_login"))), f"{url} as non-staff bob: {response.status_code}"
