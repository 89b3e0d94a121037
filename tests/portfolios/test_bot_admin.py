"""Staff: every portfolios model in the admin, bot actions and the kill switch, exchange records read-only."""

from html import unescape

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db import connection
from django.test.utils import CaptureQueriesContext

from portfolios.models import Fill, Order
from tests.conftest import enable_two_factor, login_verified
from tests.portfolios.conftest import bot_history, make_bot

pytestmark = pytest.mark.django_db

MODELS = ["bot", "botstatechange", "signaldecision", "order", "stuckorder", "fill", "position", "balance",
          "tradecursor", "equitysnapshot"]


@pytest.fixture
def staff_client(client, staff):
    device, _codes = enable_two_factor(staff)
    return login_verified(client, staff, device)


def _changelist_queries(client, model):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(f"/admin/portfolios/{model}/")
    assert response.status_code == 200, model
    return len(captured)


def test_every_model_is_listed_in_a_constant_number_of_queries(staff_client, alice, alice_offline_key, strategy):
    bot = make_bot(alice, alice_offline_key, strategy)
    bot_history(bot, 3)
    few = {model: _changelist_queries(staff_client, model) for model in MODELS}
    bot_history(make_bot(alice, alice_offline_key, strategy, name="Busy"), 60)
    many = {model: _changelist_queries(staff_client, model) for model in MODELS}
    assert few == many


def test_orders_and_fills_are_read_only(staff_client, alice, alice_offline_key, strategy):
    [order] = bot_history(make_bot(alice, alice_offline_key, strategy), 1)
    fill = Fill.objects.get(order=order)
    for url in (f"/admin/portfolios/order/{order.pk}/change/", f"/admin/portfolios/fill/{fill.pk}/change/"):
        page = unescape(staff_client.get(url).content.decode())
        assert "View " in page and 'name="_save"' not in page
        assert staff_client.post(url, {"state": "canceled"}).status_code == 403
    assert staff_client.get("/admin/portfolios/order/add/").status_code == 403
    assert staff_client.post(f"/admin/portfolios/order/{order.pk}/delete/", {"post": "yes"}).status_code == 403
    order.refresh_from_db()
    assert order.state == "filled"


def test_the_bot_page_never_shows_a_key_secret(staff_client, alice, alice_offline_key, strategy):
    bot = make_bot(alice, alice_offline_key, strategy)
    page = staff_client.get(f"/admin/portfolios/bot/{bot.pk}/change/").content.decode()
    assert "offline-secret" not in page and "offline-api-key" not in page
    assert alice_offline_key.api_key_hint in unescape(page)


def _act(client, action, bots, **extra):
    return client.post("/admin/portfolios/bot/", {"action": action, ACTION_CHECKBOX_NAME: [b.pk for b in bots],
                                                  **extra}, follow=True)


def test_staff_pause_resume_and_stop_bots_with_their_name_in_the_history(staff_client, staff, alice,
                                                                          alice_offline_key, strategy):
    bot = make_bot(alice, alice_offline_key, strategy)
    assert "1 bot(s) paused." in unescape(_act(staff_client, "pause_bots", [bot]).content.decode())
    bot.refresh_from_db()
    assert bot.state == "paused" and bot.state_changes.get().by == staff
    assert "1 bot(s) resumed." in unescape(_act(staff_client, "resume_bots", [bot]).content.decode())
    assert "1 bot(s) stopped." in unescape(_act(staff_client, "stop_bots", [bot]).content.decode())
    bot.refresh_from_db()
    assert bot.state == "stopped"
    assert [c.reason for c in bot.state_changes.order_by("id")] == [
        "Paused by staff", "Resumed by staff", "Stopped by staff"]


def test_staff_kill_switch_for_a_user_asks_first_then_pauses_all_their_bots(staff_client, alice, bob,
                                                                            alice_offline_key, strategy):
    first = make_bot(alice, alice_offline_key, strategy, name="First")
    second = make_bot(alice, alice_offline_key, strategy, name="Second")
    bob_key = type(alice_offline_key).objects.create(owner=bob, exchange="paper", label="Bob", api_key="b",
                                                     api_key_hint="b", permissions={"can_trade": True})
    bobs = make_bot(bob, bob_key, strategy, name="Bob's")
    page = unescape(_act(staff_client, "kill_switch_owners", [first]).content.decode())
    assert "Stop everything for these users?" in page and alice.email in page
    first.refresh_from_db()
    assert first.state == "running"  # nothing happens before the confirmation
    page = unescape(_act(staff_client, "kill_switch_owners", [first], apply="1", disable_keys="on").content.decode())
    assert f"Stopped everything for {alice.email}: 2 bot(s) paused, 0 order(s) canceled, 1 key(s) disabled." in page
    for bot in (first, second):
        bot.refresh_from_db()
        assert bot.state == "paused"
    alice_offline_key.refresh_from_db()
    assert alice_offline_key.status == "disabled"
    bobs.refresh_from_db()
    assert bobs.state == "running"


def test_a_user_who_is_not_staff_cannot_use_the_admin_actions(client, alice, alice_offline_key, strategy):
    bot = make_bot(alice, alice_offline_key, strategy)
    device, _codes = enable_two_factor(alice)
    login_verified(client, alice, device)
    response = _act(client, "pause_bots", [bot])
    assert response.status_code in (403, 200) and "1 bot(s) paused" not in response.content.decode()
    bot.refresh_from_db()
    assert bot.state == "running"
    assert not Order.objects.exists()
