"""Stop everything: one button on the dashboard, a confirmation with options, no second-factor step-up."""

from decimal import Decimal
from html import unescape

import pytest
from django.urls import reverse

from keys.models import ExchangeKey
from portfolios.models import Order
from tests.conftest import enable_two_factor, login_verified
from tests.portfolios.conftest import make_bot

pytestmark = pytest.mark.django_db


def _page(response):
    return unescape(response.content.decode())


def _resting_order(bot, paper_account):
    """A limit buy far below the price: it rests on the exchange's book, as a bot's open order."""
    exchange = paper_account.ccxt()
    answer = exchange.create_order("BTC/USDT", "limit", "buy", 0.001, 50000, {"newClientOrderId": "oc-resting-1"})
    return Order.objects.create(
        bot=bot, key=bot.key, market="BTC/USDT", side="buy", order_type="limit", quantity=Decimal("0.001"),
        reference_price=Decimal("50000"), client_order_id="oc-resting-1", exchange_order_id=str(answer["id"]),
        state=Order.State.OPEN, purpose="test",
    )


def test_the_dashboard_button_leads_to_a_confirmation_that_changes_nothing(client, alice, alice_bot):
    client.force_login(alice)
    dashboard = _page(client.get(reverse("dashboard")))
    assert "Stop everything" in dashboard and reverse("portfolios:kill_switch") in dashboard
    page = _page(client.get(reverse("portfolios:kill_switch")))
    assert "Stop everything?" in page
    assert "Also cancel open orders on the exchange" in page and "Also disable every exchange key" in page
    assert "(1 now)" in page
    alice_bot.refresh_from_db()
    assert alice_bot.state == "running"


def test_stop_everything_pauses_every_bot_of_the_user_only(client, alice, bob, alice_bot, alice_offline_key,
                                                           strategy):
    second = make_bot(alice, alice_offline_key, strategy, name="Second")
    bob_key = ExchangeKey.objects.create(owner=bob, exchange="paper", label="Bob", api_key="b", api_key_hint="b",
                                         permissions={"can_trade": True})
    bobs = make_bot(bob, bob_key, strategy, name="Bob's")
    client.force_login(alice)
    page = _page(client.post(reverse("portfolios:kill_switch"), {}, follow=True))
    assert "Stopped everything: 2 bot(s) paused." in page
    for bot in (alice_bot, second):
        bot.refresh_from_db()
        assert bot.state == "paused" and bot.state_reason == "Stop everything (owner)"
        assert bot.state_changes.get().by == alice
    bobs.refresh_from_db()
    assert bobs.state == "running"
    assert ExchangeKey.objects.filter(owner=alice, status="active").count() == 2  # keys untouched by default


def test_stop_everything_can_cancel_open_orders_and_disable_every_key(client, alice, alice_bot, paper,
                                                                      paper_account):
    order = _resting_order(alice_bot, paper_account)
    assert [o["status"] for o in paper.account(paper_account.id)["orders"]] == ["NEW"]
    client.force_login(alice)
    page = _page(client.post(reverse("portfolios:kill_switch"), {"cancel_orders": "on", "disable_keys": "on"},
                             follow=True))
    assert "1 bot(s) paused, 1 open order(s) canceled, 1 key(s) disabled" in page
    order.refresh_from_db()
    assert order.state == "canceled"
    assert [o["status"] for o in paper.account(paper_account.id)["orders"]] == ["CANCELED"]
    alice_bot.key.refresh_from_db()
    assert alice_bot.key.status == "disabled"


def test_a_user_with_two_factor_stops_everything_without_a_code(client, alice, alice_bot):
    device, _codes = enable_two_factor(alice)
    login_verified(client, alice, device)
    response = client.post(reverse("portfolios:kill_switch"), {})
    assert response.status_code == 302 and response.url == reverse("portfolios:kill_switch_resume")
    alice_bot.refresh_from_db()
    assert alice_bot.state == "paused"


def test_stop_everything_needs_a_signed_in_user(client, alice_bot):
    response = client.post(reverse("portfolios:kill_switch"), {})
    assert response.status_code == 302 and response.url.startswith(reverse("account_login"))
    alice_bot.refresh_from_db()
    assert alice_bot.state == "running"


def test_bob_stopping_everything_leaves_alices_bots_running(client, bob, alice_bot):
    client.force_login(bob)
    page = _page(client.post(reverse("portfolios:kill_switch"), {"cancel_orders": "on", "disable_keys": "on"},
                             follow=True))
    assert "0 bot(s) paused" in page
    alice_bot.refresh_from_db()
    alice_bot.key.refresh_from_db()
    assert alice_bot.state == "running" and alice_bot.key.status == "active"


def test_the_resume_page_lists_what_stop_everything_stopped_and_resumes_it_in_one_go(
        client, alice, bob, alice_bot, alice_offline_key, strategy):
    from portfolios.services import bot_pause

    second = make_bot(alice, alice_offline_key, strategy, name="Second")
    paused_before = make_bot(alice, alice_offline_key, strategy, name="Paused before")
    bot_pause(bot=paused_before, by=alice, reason="Paused by the owner")
    client.force_login(alice)
    stopped = client.post(reverse("portfolios:kill_switch"), {}, follow=True)
    assert stopped.redirect_chain[-1][0] == reverse("portfolios:kill_switch_resume")
    page = _page(stopped)
    assert "Bots it paused" in page and "Second" in page
    assert reverse("portfolios:bot_detail", args=[alice_bot.pk]) in page
    assert "Paused before" not in page  # paused by its owner earlier: not Stop everything's to resume
    assert "Resume 2 bots" in page

    # Another user's resume page shows none of alice's bots and resumes nothing of hers.
    client.force_login(bob)
    assert "Second" not in _page(client.get(reverse("portfolios:kill_switch_resume")))
    client.post(reverse("portfolios:kill_switch_resume"))
    second.refresh_from_db()
    assert second.state == "paused"

    client.force_login(alice)
    done = _page(client.post(reverse("portfolios:kill_switch_resume"), follow=True))
    assert "2 bot(s) resumed." in done
    for bot in (alice_bot, second, paused_before):
        bot.refresh_from_db()
    assert (alice_bot.state, second.state, paused_before.state) == ("running", "running", "paused")
    assert "Nothing is stopped" in _page(client.get(reverse("portfolios:kill_switch_resume")))


def test_bots_whose_key_stop_everything_disabled_wait_for_the_key(client, alice, alice_bot):
    client.force_login(alice)
    page = _page(client.post(reverse("portfolios:kill_switch"), {"disable_keys": "on"}, follow=True))
    assert "Keys it disabled" in page and "waits for its key" in page and "Resume 0 bots" in page
    done = _page(client.post(reverse("portfolios:kill_switch_resume"), follow=True))
    assert "0 bot(s) resumed. 1 wait for their key" in done
    alice_bot.refresh_from_db()
    assert alice_bot.state == "paused"
