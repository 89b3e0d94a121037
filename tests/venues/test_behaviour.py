"""The same behaviour on every venue: linking, an order per signal (a lost answer included), reconciliation
with foreign trades, positions and PnL, and the kill switch, against each venue's paper dialect."""

from decimal import Decimal

import pytest
from django.urls import reverse

from exchanges import Credentials
from exchanges.base import clients_forget
from keys.models import ExchangeKey
from keys.services import KeyRefused, key_credentials, key_exchange, key_link
from portfolios.execution import signal_execute
from portfolios.models import Fill, Order, Position, TradeCursor
from portfolios.reconcile import key_reconcile
from portfolios.services import kill_switch
from tests.conftest import enable_two_factor, login_verified
from tests.portfolios.conftest import issue_signal

pytestmark = pytest.mark.django_db


# --- linking --------------------------------------------------------------------------------------


def test_a_trade_only_key_links_and_its_page_says_what_could_be_verified(client, alice, bob, venue):
    key = venue.link(alice)
    assert key.status == ExchangeKey.Status.ACTIVE and key.exchange == venue.name
    assert key.permissions["verified"] == venue.adapter.reports_permissions
    assert key.permissions["can_withdraw"] is False
    device, _ = enable_two_factor(alice)
    login_verified(client, alice, device)
    page = client.get(reverse("keys:detail", args=[key.pk])).content.decode()
    assert venue.adapter.label in page
    assert ("withdraw permission: not verifiable on this exchange" in page) != venue.adapter.reports_permissions
    # Another user's id answers 404.
    client.force_login(bob)
    assert client.get(reverse("keys:detail", args=[key.pk])).status_code == 404


def test_a_key_is_refused_when_it_can_withdraw_or_its_withdraw_right_is_not_confirmed(alice, venue):
    account = venue.create_account()
    risky = venue.create_key(account, can_withdraw=True)
    credentials = Credentials(api_key=risky["api_key"], secret=risky.get("secret") or "")
    if venue.adapter.reports_permissions:
        with pytest.raises(KeyRefused, match="can withdraw funds"):
            key_link(owner=alice, exchange=venue.name, label="Risky", credentials=credentials)
    else:
        # The venue cannot tell: the owner must confirm, plainly asked.
        with pytest.raises(KeyRefused, match="does not tell us a key's permissions"):
            key_link(owner=alice, exchange=venue.name, label="Unconfirmed", credentials=credentials)
    assert not ExchangeKey.objects.filter(owner=alice).exists()


def test_a_key_the_venue_does_not_know_is_refused_with_a_clear_reason(alice, venue):
    account = venue.create_account()
    real = venue.create_key(account)
    wrong = Credentials(api_key=real["api_key"][:-4] + "AAAA", secret=real.get("secret") or "")
    with pytest.raises(KeyRefused, match=f"{venue.adapter.label} did not accept this key"):
        key_link(owner=alice, exchange=venue.name, label="Wrong", credentials=wrong,
                 confirmed_no_withdrawals=True)
    assert not ExchangeKey.objects.filter(owner=alice).exists()


# --- orders ---------------------------------------------------------------------------------------


def test_a_buy_signal_places_one_order_with_the_venues_client_order_id(venue, venue_bot, venue_strategy):
    signal = issue_signal(venue_strategy, venue.market, "buy", "0.5")
    order = signal_execute(bot_id=venue_bot.pk, signal_id=signal.pk)
    order.refresh_from_db()
    assert order.state == Order.State.FILLED, order.error
    assert order.client_order_id == venue.adapter().client_order_id(
        bot_id=venue_bot.pk, tag=f"s{signal.pk}", salt=signal.signature)
    [theirs] = venue.exchange_orders(venue.account_of(venue_bot.key))
    assert theirs["clientOrderId"] == order.client_order_id
    assert venue.order_id(theirs["orderId"]) == order.exchange_order_id
    assert Decimal(theirs["executedQty"]) == order.filled_quantity == order.quantity
    # The same task again: still one order.
    assert signal_execute(bot_id=venue_bot.pk, signal_id=signal.pk).pk == order.pk
    assert len(venue.exchange_orders(venue.account_of(venue_bot.key))) == 1


def test_a_lost_answer_is_found_by_client_order_id_and_never_sent_twice(venue, venue_bot, venue_strategy):
    venue.paper.fault(lost_response={"count": 1})
    signal = issue_signal(venue_strategy, venue.market, "buy", "0.3")
    order = signal_execute(bot_id=venue_bot.pk, signal_id=signal.pk)
    order.refresh_from_db()
    assert order.state == Order.State.FILLED, order.error
    assert venue.paper.counters()["lost_responses"] == 1
    assert venue.paper.counters()["orders_by_client_order_id"] == {order.client_order_id: 1}
    [theirs] = venue.exchange_orders(venue.account_of(venue_bot.key))
    assert venue.order_id(theirs["orderId"]) == order.exchange_order_id


def test_a_lost_answer_is_found_by_a_client_given_the_markets_another_client_loaded(venue, venue_bot, venue_strategy):
    # One ccxt instance per key and thread; the markets are loaded once per process and handed to the others, with
    # what the venue's class builds beside them (Kraken parses an order's pair through its markets by altname).
    key_exchange(key_id=venue_bot.key_id)[1].markets()
    clients_forget()  # as a second thread of the worker: a fresh ccxt instance, the markets from the process
    venue.paper.fault(lost_response={"count": 1})
    signal = issue_signal(venue_strategy, venue.market, "buy", "0.3")
    order = signal_execute(bot_id=venue_bot.pk, signal_id=signal.pk)
    order.refresh_from_db()
    assert order.state == Order.State.FILLED, order.error
    assert order.attempts == 1
    assert venue.paper.counters()["orders_by_client_order_id"] == {order.client_order_id: 1}


def test_a_new_client_starts_with_the_markets_the_process_holds(venue, venue_bot):
    _key, exchange = key_exchange(key_id=venue_bot.key_id)
    exchange.markets()
    exchange.balances()
    warm = _requests_of(venue, exchange.balances)
    clients_forget()  # as another thread, or another key of the process: a fresh ccxt instance
    _key, fresh = key_exchange(key_id=venue_bot.key_id)
    # Its first balance read costs what a warm one does: the markets are not loaded from the exchange again.
    assert _requests_of(venue, fresh.balances) == warm


def _requests_of(venue, call):
    def requests():
        return {path: n for path, n in venue.paper.counters()["requests_by_path"].items()
                if not path.startswith("/_paper")}

    before = requests()
    call()
    after = requests()
    return {path: n - before.get(path, 0) for path, n in after.items() if n != before.get(path, 0)}


# --- reconciliation, positions, PnL -----------------------------------------------------------------


def test_reconciliation_reads_each_trade_once_and_keeps_foreign_ones_apart(venue, venue_bot, venue_strategy):
    account = venue.account_of(venue_bot.key)
    for fraction in ("0.2", "0.3"):
        signal_execute(bot_id=venue_bot.pk, signal_id=issue_signal(venue_strategy, venue.market, "buy", fraction).pk)
    key_reconcile(key_id=venue_bot.key_id)
    trades = venue.exchange_trades(account)
    fills = Fill.objects.filter(key=venue_bot.key)
    assert {f.exchange_trade_id for f in fills} == {venue.trade_id(t["id"]) for t in trades}
    assert not fills.filter(foreign=True).exists()
    cursor = TradeCursor.objects.get(key=venue_bot.key, market=venue.market)
    assert cursor.position
    # A market with no trade yet keeps no position: its next read starts from the key's linking again.
    assert TradeCursor.objects.get(key=venue_bot.key, market=venue.second_market).position == ""

    # A trade nobody's bot placed, in the bot's market: recorded apart, alerted, never in the position.
    held = Position.objects.get(bot=venue_bot, market=venue.market).quantity
    venue.paper.foreign_trade(account, venue.engine_symbol(venue.market), "0.001")
    report = key_reconcile(key_id=venue_bot.key_id)
    assert report["foreign"] == 1
    foreign = Fill.objects.get(key=venue_bot.key, foreign=True)
    assert foreign.bot_id is None and foreign.market == venue.market
    assert Position.objects.get(bot=venue_bot, market=venue.market).quantity == held
    # Read again: nothing new.
    assert key_reconcile(key_id=venue_bot.key_id)["new_fills"] == 0
    assert Fill.objects.filter(key=venue_bot.key).count() == len(venue.exchange_trades(account))


def test_positions_and_pnl_follow_the_venues_trades_and_fees(venue, venue_bot, venue_strategy):
    account = venue.account_of(venue_bot.key)
    buy = signal_execute(bot_id=venue_bot.pk, signal_id=issue_signal(venue_strategy, venue.market, "buy", "0.5").pk)
    key_reconcile(key_id=venue_bot.key_id)
    base = venue.market.split("/")[0]
    balances = venue.paper.account(account)["balances"]
    position = Position.objects.get(bot=venue_bot, market=venue.market)
    # The bot holds exactly what the account received (fees in the base asset or in the quote, as the venue charges).
    assert position.quantity == Decimal(balances[base]["free"]) + Decimal(balances[base]["locked"])
    fills = list(Fill.objects.filter(order=buy))
    assert fills and all(f.fee > 0 and f.fee_asset in (base, venue.quote) for f in fills)
    # What the position cost is what left the quote balance: the price paid, and the fee where charged in the quote.
    spent = Decimal("10000") - Decimal(balances[venue.quote]["free"]) - Decimal(balances[venue.quote]["locked"])
    assert position.cost_basis == spent

    sell = signal_execute(bot_id=venue_bot.pk, signal_id=issue_signal(venue_strategy, venue.market, "sell", "1").pk)
    sell.refresh_from_db()
    assert sell.state == Order.State.FILLED, sell.error
    key_reconcile(key_id=venue_bot.key_id)
    position.refresh_from_db()
    balances = venue.paper.account(account)["balances"]
    # Round trip: what the quote balance gained or lost is the realized PnL, fees included.
    final_quote = Decimal(balances[venue.quote]["free"]) + Decimal(balances[venue.quote]["locked"])
    leftover = Decimal(balances.get(base, {}).get("free", "0"))
    assert position.quantity == leftover
    assert abs(position.realized_pnl - (final_quote - Decimal("10000") + leftover * position.average_entry)) < \
        Decimal("0.00000001")


# --- the kill switch --------------------------------------------------------------------------------


def test_stop_everything_cancels_resting_orders_and_pauses_bots(alice, venue, venue_bot):
    exchange = venue.adapter(key_credentials(venue_bot.key))
    price = exchange.ticker_price(venue.market)
    client_id = exchange.client_order_id(bot_id=venue_bot.pk, tag="rest", salt="1")
    params = exchange.order_params(client_order_id=client_id, bot_id=venue_bot.pk)
    answer = exchange.call("create_order", venue.market, "limit", "buy", 0.001, float((price / 2).quantize(
        Decimal("1"))), params)
    order = Order.objects.create(
        bot=venue_bot, key=venue_bot.key, market=venue.market, side="buy", order_type="limit",
        quantity=Decimal("0.001"), reference_price=price / 2, client_order_id=client_id,
        exchange_order_id=str(answer["id"]), state=Order.State.OPEN, purpose="test",
    )
    result = kill_switch(user=alice, by=alice, cancel_orders=True)
    assert result == {"paused": 1, "canceled": 1, "disabled": 0}
    order.refresh_from_db()
    venue_bot.refresh_from_db()
    assert order.state == Order.State.CANCELED and venue_bot.state == "paused"
    [theirs] = venue.exchange_orders(venue.account_of(venue_bot.key))
    assert theirs["status"] == "CANCELED"
