"""Bots in the portal: create and edit with the exchange's checks, pause, resume, stop, order pages."""

from decimal import Decimal
from html import unescape

import pytest
from django.urls import reverse

from keys.models import ExchangeKey
from keys.services import key_disable, key_link
from portfolios.execution import signal_execute
from exchanges import Credentials
from portfolios.models import Bot, BotStateChange, Order
from portfolios.reconcile import key_reconcile
from strategies.services import strategy_create
from tests.portfolios.conftest import issue_signal, make_bot

pytestmark = pytest.mark.django_db


def _form(key, strategy, **changes):
    data = {
        "name": "Trend on BTC", "key": key.pk, "strategy": strategy.pk, "quote_asset": "USDT",
        "markets": ["BTC/USDT", "ETH/USDT"], "allocation": "1000", "position_cap": "400",
    }
    data.update(changes)
    return data


def _page(response):
    """The page's text as the user reads it (entities decoded)."""
    return unescape(response.content.decode())


def test_a_bot_is_created_after_the_exchange_checks_and_starts_running(client, alice, alice_paper_key, strategy):
    client.force_login(alice)
    response = client.post(reverse("portfolios:bot_create"), _form(alice_paper_key, strategy))
    bot = Bot.objects.get(owner=alice)
    assert response.status_code == 302 and response.url == reverse("portfolios:bot_detail", args=[bot.pk])
    assert bot.state == "running"
    assert bot.markets == ["BTC/USDT", "ETH/USDT"]
    assert bot.allocation == Decimal("1000") and bot.position_cap == Decimal("400")
    page = _page(client.get(response.url))
    assert "Trend on BTC" in page and "Running" in page
    assert "Created: markets BTC/USDT, ETH/USDT; allocation 1,000.00 USDT" in page
    assert BotStateChange.objects.get(bot=bot).by == alice


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"allocation": "0"}, "The allocation must be more than 0."),
        ({"allocation": "-5"}, "The allocation must be more than 0."),
        ({"allocation": "20000"}, "More than the free USDT balance on Paper exchange: 10,000.00 USDT free now."),
        ({"position_cap": "0"}, "The position cap must be more than 0."),
        ({"markets": []}, "This field is required."),
        ({"markets": ["SOL/USDT"]}, "Select a valid choice."),
        ({"markets": ["BTC/USDC"]}, "BTC/USDC is not quoted in USDT."),
        ({"quote_asset": "USDC", "markets": ["BTC/USDT", "BTC/USDC"]}, "BTC/USDT is not quoted in USDC."),
        ({"quote_asset": "EUR"}, "Paper exchange lists its markets in USDT or USDC: choose one of them."),
        ({"quote_asset": "JPY"}, "Select a valid choice. JPY is not one of the available choices."),
        ({"allocation": "abc"}, "Enter a number."),
    ],
)
def test_bad_settings_re_render_with_the_reason_and_create_nothing(
    client, alice, alice_paper_key, strategy, changes, message
):
    client.force_login(alice)
    response = client.post(reverse("portfolios:bot_create"), _form(alice_paper_key, strategy, **changes))
    assert response.status_code == 200
    assert message in _page(response)
    assert not Bot.objects.exists()


def test_a_market_of_the_strategy_the_exchange_does_not_list_is_refused(client, alice, alice_paper_key):
    strategy = strategy_create(name="Exotic", kind="trend", markets=["BTC/USDT", "DOGE/USDT"])
    client.force_login(alice)
    response = client.post(reverse("portfolios:bot_create"),
                           _form(alice_paper_key, strategy, markets=["BTC/USDT", "DOGE/USDT"]))
    assert response.status_code == 200
    assert "Paper exchange has no spot market DOGE/USDT." in _page(response)
    assert not Bot.objects.exists()


def test_a_market_of_another_strategy_is_refused(client, alice, alice_paper_key, strategy):
    other = strategy_create(name="Solana only", kind="trend", markets=["SOL/USDT"])
    client.force_login(alice)
    response = client.post(reverse("portfolios:bot_create"), _form(alice_paper_key, strategy, markets=["SOL/USDT"]))
    assert "SOL/USDT is not traded by the strategy Trend for bots." in _page(response)
    response = client.post(reverse("portfolios:bot_create"), _form(alice_paper_key, other, markets=["SOL/USDT"]))
    assert response.status_code == 302
    assert Bot.objects.get().strategy == other


def test_a_disabled_key_is_refused(client, alice, alice_paper_key, strategy):
    key_disable(key=alice_paper_key, reason="test")
    client.force_login(alice)
    response = client.post(reverse("portfolios:bot_create"), _form(alice_paper_key, strategy))
    assert "This key is disabled: re-enable it on the Keys page first." in _page(response)
    assert not Bot.objects.exists()


def test_a_key_that_can_withdraw_is_refused(client, alice, alice_paper_key, strategy):
    ExchangeKey.objects.filter(pk=alice_paper_key.pk).update(
        permissions={**alice_paper_key.permissions, "can_withdraw": True}
    )
    client.force_login(alice)
    response = client.post(reverse("portfolios:bot_create"), _form(alice_paper_key, strategy))
    assert "This key can withdraw funds. A bot trades only with a trade-only key." in _page(response)
    assert not Bot.objects.exists()


def _bob_key(bob, paper):
    account = paper.create_account(USDT="5")
    secret = paper.create_key(account)
    return key_link(owner=bob, exchange="paper", label="Bob's paper", confirmed_no_withdrawals=True,
                    credentials=Credentials(api_key=secret["api_key"], secret=secret["secret"]))


def test_bob_cannot_start_a_bot_on_alices_key(client, bob, alice_paper_key, strategy, paper):
    client.force_login(bob)
    response = client.post(reverse("portfolios:bot_create"), _form(alice_paper_key, strategy))
    assert "Link a trade-only key" in _page(response)  # bob has no key of his own
    _bob_key(bob, paper)
    response = client.post(reverse("portfolios:bot_create"), _form(alice_paper_key, strategy))
    assert response.status_code == 200
    assert "Select a valid choice" in _page(response)
    assert not Bot.objects.exists()


def test_the_usdc_balance_bounds_a_usdc_bot(client, alice, alice_paper_key, strategy, paper, paper_account):
    client.force_login(alice)
    data = _form(alice_paper_key, strategy, quote_asset="USDC", markets=["BTC/USDC"], allocation="10000.01")
    response = client.post(reverse("portfolios:bot_create"), data)
    assert "More than the free USDC balance" in _page(response)
    data["allocation"] = "10000"
    assert client.post(reverse("portfolios:bot_create"), data).status_code == 302
    assert Bot.objects.get().quote_asset == "USDC"


def test_what_other_bots_on_the_key_may_still_spend_is_not_free(client, alice, alice_paper_key, strategy, paper,
                                                               paper_account):
    from portfolios.models import Position

    # 10,000 USDT free; "Alpha" may still spend 6,000 of its 7,000 (1,000 sit in a position,
    # already out of the free balance); a stopped bot keeps nothing.
    alpha = make_bot(alice, alice_paper_key, strategy, allocation="7000", name="Alpha")
    Position.objects.create(bot=alpha, market="BTC/USDT", quantity=Decimal("0.01"), average_entry=Decimal("100000"),
                            cost_basis=Decimal("1000"))
    old = make_bot(alice, alice_paper_key, strategy, allocation="5000", name="Old")
    Bot.objects.filter(pk=old.pk).update(state="stopped")
    client.force_login(alice)
    response = client.post(reverse("portfolios:bot_create"), _form(alice_paper_key, strategy, allocation="4000.01"))
    assert response.status_code == 200
    assert ("More than the free USDT balance on Paper exchange: 10,000.00 USDT free now, of which 6,000.00 USDT is "
            "kept for your other bots on this key (Alpha).") in _page(response)
    assert not Bot.objects.filter(name="Trend on BTC").exists()
    response = client.post(reverse("portfolios:bot_create"), _form(alice_paper_key, strategy, allocation="4000"))
    assert response.status_code == 302 and Bot.objects.get(name="Trend on BTC").allocation == Decimal("4000")


def test_the_form_offers_only_the_users_keys(client, alice, bob, alice_paper_key, strategy, paper):
    bob_key = _bob_key(bob, paper)
    client.force_login(alice)
    page = _page(client.get(reverse("portfolios:bot_create")))
    assert "Paper" in page and bob_key.label not in page
    assert 'id="strategy-markets"' in page


# --- edit -----------------------------------------------------------------------------------------


def test_editing_a_bot_checks_the_exchange_and_records_the_change(client, alice, alice_bot):
    client.force_login(alice)
    url = reverse("portfolios:bot_edit", args=[alice_bot.pk])
    assert "Fixed when the bot was created." in _page(client.get(url))
    response = client.post(url, {"name": "Renamed", "markets": ["BTC/USDT"], "allocation": "800",
                                 "position_cap": "300"})
    assert response.status_code == 302
    alice_bot.refresh_from_db()
    assert (alice_bot.name, alice_bot.markets, alice_bot.allocation, alice_bot.position_cap) == (
        "Renamed", ["BTC/USDT"], Decimal("800"), Decimal("300"))
    change = BotStateChange.objects.get(bot=alice_bot)
    assert change.by == alice
    assert "allocation 500.00 → 800.00 USDT" in change.reason and "markets removed: ETH/USDT" in change.reason
    assert "markets removed: ETH/USDT" in _page(client.get(reverse("portfolios:bot_detail", args=[alice_bot.pk])))


def test_an_edit_above_the_free_balance_changes_nothing(client, alice, alice_bot):
    client.force_login(alice)
    response = client.post(reverse("portfolios:bot_edit", args=[alice_bot.pk]),
                           {"name": "Greedy", "markets": ["BTC/USDT"], "allocation": "50000", "position_cap": "400"})
    assert response.status_code == 200
    assert "More than the free USDT balance" in _page(response)
    alice_bot.refresh_from_db()
    assert alice_bot.name == "Bot" and alice_bot.allocation == Decimal("500") and len(alice_bot.markets) == 2
    assert not BotStateChange.objects.filter(bot=alice_bot).exists()


def test_the_key_strategy_and_quote_cannot_be_changed_by_editing(client, alice, alice_bot, strategy):
    other = strategy_create(name="Other", kind="trend", markets=["BTC/USDC"])
    client.force_login(alice)
    client.post(reverse("portfolios:bot_edit", args=[alice_bot.pk]), {
        "name": "Bot", "strategy": other.pk, "quote_asset": "USDC", "markets": ["BTC/USDT"], "allocation": "500",
        "position_cap": "400",
    })
    alice_bot.refresh_from_db()
    assert alice_bot.strategy == strategy and alice_bot.quote_asset == "USDT"


def test_a_held_market_cannot_be_dropped(client, alice, alice_bot, strategy, paper, paper_account):
    signal_execute(bot_id=alice_bot.pk, signal_id=issue_signal(strategy, "ETH/USDT", "buy", "0.5").pk)
    key_reconcile(key_id=alice_bot.key_id)
    client.force_login(alice)
    response = client.post(reverse("portfolios:bot_edit", args=[alice_bot.pk]),
                           {"name": "Bot", "markets": ["BTC/USDT"], "allocation": "500", "position_cap": "400"})
    assert "The bot still holds ETH/USDT" in _page(response)
    alice_bot.refresh_from_db()
    assert alice_bot.markets == ["BTC/USDT", "ETH/USDT"]


# --- pause, resume, stop ----------------------------------------------------------------------------


def test_pause_and_resume_show_on_the_bot_page(client, alice, alice_bot):
    client.force_login(alice)
    detail = reverse("portfolios:bot_detail", args=[alice_bot.pk])
    page = _page(client.post(reverse("portfolios:bot_pause", args=[alice_bot.pk]), follow=True))
    assert "is paused: it ignores signals until you resume it" in page
    alice_bot.refresh_from_db()
    assert alice_bot.state == "paused"
    page = _page(client.post(reverse("portfolios:bot_resume", args=[alice_bot.pk]), follow=True))
    assert "is running again" in page
    alice_bot.refresh_from_db()
    assert alice_bot.state == "running"
    page = _page(client.get(detail))
    assert "Running → Paused" in page and "Paused → Running" in page
    assert "Paused by the owner" in page and "Resumed by the owner" in page
    assert client.get(reverse("portfolios:bot_pause", args=[alice_bot.pk])).status_code == 405


def test_a_bot_on_a_disabled_key_stays_paused(client, alice, alice_bot):
    key_disable(key=alice_bot.key, reason="test")
    client.force_login(alice)
    page = _page(client.post(reverse("portfolios:bot_resume", args=[alice_bot.pk]), follow=True))
    assert "is still paused: The bot's exchange key is not active" in page
    alice_bot.refresh_from_db()
    assert alice_bot.state == "paused"


def test_stop_asks_for_confirmation_and_keeps_positions_by_default(client, alice, alice_bot, strategy, paper,
                                                                   paper_account):
    signal_execute(bot_id=alice_bot.pk, signal_id=issue_signal(strategy, "BTC/USDT", "buy", "0.5").pk)
    key_reconcile(key_id=alice_bot.key_id)
    client.force_login(alice)
    url = reverse("portfolios:bot_stop", args=[alice_bot.pk])
    page = _page(client.get(url))
    assert "Stop “Bot”?" in page and "BTC/USDT" in page and "Also sell the bot's positions" in page
    alice_bot.refresh_from_db()
    assert alice_bot.state == "running"  # a GET changes nothing
    page = _page(client.post(url, {}, follow=True))
    assert "Its positions stay on your exchange account" in page
    alice_bot.refresh_from_db()
    assert alice_bot.state == "stopped"
    assert not Order.objects.filter(bot=alice_bot, purpose="stop").exists()
    assert "Edit" not in _page(client.get(reverse("portfolios:bot_detail", args=[alice_bot.pk])))


def test_stop_with_selling_sells_the_positions_back_to_the_quote_asset(client, alice, alice_bot, strategy, paper,
                                                                       paper_account):
    signal_execute(bot_id=alice_bot.pk, signal_id=issue_signal(strategy, "BTC/USDT", "buy", "0.5").pk)
    key_reconcile(key_id=alice_bot.key_id)
    client.force_login(alice)
    page = _page(client.post(reverse("portfolios:bot_stop", args=[alice_bot.pk]), {"sell_positions": "on"},
                             follow=True))
    assert "1 sell order(s) sent, 1 filled" in page
    sell = Order.objects.get(bot=alice_bot, purpose="stop")
    assert sell.side == "sell" and sell.market == "BTC/USDT" and sell.state == "filled"
    assert "Stopped by the owner" in page


def test_a_stopped_bot_cannot_be_edited(client, alice, alice_bot):
    from portfolios.services import bot_stop

    bot_stop(bot=alice_bot, by=alice)
    client.force_login(alice)
    response = client.post(reverse("portfolios:bot_edit", args=[alice_bot.pk]),
                           {"name": "Again", "markets": ["BTC/USDT"], "allocation": "500", "position_cap": "400"},
                           follow=True)
    assert "A stopped bot cannot be changed" in _page(response)
    alice_bot.refresh_from_db()
    assert alice_bot.name == "Bot"


# --- what the bot page shows --------------------------------------------------------------------------


def test_the_bot_page_shows_orders_fills_signals_and_how_pnl_is_counted(client, alice, alice_bot, strategy, paper,
                                                                        paper_account):
    ordered = issue_signal(strategy, "BTC/USDT", "buy", "0.5")
    signal_execute(bot_id=alice_bot.pk, signal_id=ordered.pk)
    ignored = issue_signal(strategy, "BTC/USDC", "buy", "0.1")
    signal_execute(bot_id=alice_bot.pk, signal_id=ignored.pk)
    key_reconcile(key_id=alice_bot.key_id)
    client.force_login(alice)
    page = _page(client.get(reverse("portfolios:bot_detail", args=[alice_bot.pk])))
    order = Order.objects.get(bot=alice_bot)
    assert "average cost" in page and "fees included" in page
    assert reverse("portfolios:order_detail", args=[order.pk]) in page
    assert "Filled" in page
    assert "BTC/USDC is not one of the bot's markets" in page
    assert "Order placed" in page and "Ignored" in page
    fill = order.fills.get()
    assert fill.fee_asset == "BTC" and f">{fill.fee.normalize():f}<" in page
    assert 'id="equity-data"' in page and "uPlot.iife.min.js" in page

    detail = _page(client.get(reverse("portfolios:order_detail", args=[order.pk])))
    assert order.client_order_id in detail and order.exchange_order_id in detail
    assert f"signal #{ordered.pk}" in detail


def test_bob_gets_404_on_every_page_of_alices_bot_and_order(client, alice, bob, alice_bot, strategy, paper,
                                                            paper_account):
    order_signal = issue_signal(strategy, "BTC/USDT", "buy", "0.2")
    signal_execute(bot_id=alice_bot.pk, signal_id=order_signal.pk)
    order = Order.objects.get(bot=alice_bot)
    client.force_login(bob)
    for name in ("bot_detail", "bot_edit", "bot_stop", "bot_report"):
        assert client.get(reverse(f"portfolios:{name}", args=[alice_bot.pk])).status_code == 404, name
    for name in ("bot_pause", "bot_resume", "bot_stop", "bot_edit"):
        assert client.post(reverse(f"portfolios:{name}", args=[alice_bot.pk]), {"sell_positions": "on"}).status_code == 404
    assert client.get(reverse("portfolios:order_detail", args=[order.pk])).status_code == 404
    alice_bot.refresh_from_db()
    assert alice_bot.state == "running" and alice_bot.name == "Bot"
    assert "No bots yet" in _page(client.get(reverse("portfolios:bot_list")))


def test_the_bot_list_shows_the_users_bots_only(client, alice, bob, alice_paper_key, strategy):
    make_bot(alice, alice_paper_key, strategy, name="Alice's trend")
    client.force_login(alice)
    page = _page(client.get(reverse("portfolios:bot_list")))
    assert "Alice's trend" in page and "New bot" in page
    client.force_login(bob)
    assert "Alice's trend" not in _page(client.get(reverse("portfolios:bot_list")))


def test_a_running_bot_shows_when_its_strategy_signals_next(client, alice, bob, alice_bot, strategy):
    import re
    from datetime import datetime, timedelta

    from django.utils import timezone

    from strategies.services import schedules_sync

    schedules_sync(strategies=[strategy], now=timezone.now())
    client.force_login(alice)
    page = _page(client.get(reverse("portfolios:bot_detail", args=[alice_bot.pk])))
    shown = re.search(r'id="next-signal">Next signal: <time datetime="([^"]+)">', page)
    assert shown, page
    when = datetime.fromisoformat(shown.group(1))
    # The next 4-hour candle close (plus a few seconds), in the future and within one timeframe.
    assert timezone.now() < when <= timezone.now() + timedelta(hours=4, minutes=1)
    assert when.hour % 4 == 0 and when.minute == 0
    client.post(reverse("portfolios:bot_pause", args=[alice_bot.pk]))
    assert "Next signal" not in _page(client.get(reverse("portfolios:bot_detail", args=[alice_bot.pk])))
    client.force_login(bob)
    assert client.get(reverse("portfolios:bot_detail", args=[alice_bot.pk])).status_code == 404
