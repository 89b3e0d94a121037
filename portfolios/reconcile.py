"""Reconciliation: what really happened on the account, from the exchange's own records.

Every 5 minutes, and after an order whose fills could not be read, per key with bots:
1. balances;
2. orders still unresolved or open are looked up, so their trades are known;
3. trades per market from the cursor of the last pass (a trade id or a time:
   the venue's adapter decides), never the whole history again; a trade no bot placed is stored as *foreign* and never
   enters a bot's position;
4. positions (average cost, fees included), PnL and an equity snapshot per bot
   and for the account, from the fills;
5. the rules (:mod:`portfolios.rules`) judge what was found: foreign trades in
   a market no bot trades, or buys in a thin market, pause every bot of the
   account (the 2022 key-leak pattern).

Reads here are bookkeeping: they leave part of the request budget to orders.
"""

import logging
from datetime import timedelta

from django.db import transaction

from exchanges import AuthFailed, ExchangeError, PermissionDenied
from keys.models import ExchangeKey
from keys.services import KeyNotActive, key_exchange, key_permissions_apply
from oneclick.lib.clock import db_now
from portfolios.execution import old_enough, order_record, order_resolve
from portfolios.ledger import balances_read, bot_equity, fills_store, position_recompute
from portfolios.models import Balance, Bot, EquitySnapshot, Order, TradeCursor
from portfolios.rules import foreign_trades_judge, rules_run_for_key
from portfolios.valuation import fee_valuer, pegs_off, value_balances

log = logging.getLogger(__name__)



def _candidate_markets(key, exchange, bots):
    markets = set()
    for bot in bots:
        markets.update(bot.markets or [])
    markets.update(
        Order.objects.filter(key=key).exclude(state__in=Order.TERMINAL).values_list("market", flat=True)
    )
    known = exchange.markets()
    for balance in Balance.objects.filter(key=key, total__gt=0).exclude(asset__in=exchange.quotes):
        for quote in exchange.quotes:
            symbol = f"{balance.asset}/{quote}"
            if symbol in known:
                markets.add(symbol)
    markets.update(TradeCursor.objects.filter(key=key).values_list("market", flat=True))
    return sorted(markets)


def _resolve_open_orders(key, exchange):
    """Look up our orders the exchange may have answered for, before reading trades."""
    blocked = set()
    now = db_now()
    for order in Order.objects.filter(key=key).exclude(state__in=Order.TERMINAL):
        if order.state in Order.UNRESOLVED:
            if old_enough(order, now):
                order = order_resolve(order=order, exchange=exchange)
            if order.state in Order.UNRESOLVED:
                blocked.add(order.market)  # its trades would look foreign
            continue
        try:
            answer = exchange.order_fetch(symbol=order.market, order_id=order.exchange_order_id, bookkeeping=True)
        except ExchangeError as error:
            log.warning("order %s lookup failed: %s", order.pk, error.reason)
            blocked.add(order.market)
            continue
        order_record(order=order, answer=answer, exchange=exchange)
    return blocked


def _read_trades(key, exchange, market):
    """New trades of one market, from where the cursor stands, as the venue pages them."""
    cursor, first_read = TradeCursor.objects.get_or_create(key=key, market=market)
    new = []
    while True:
        # No trade seen yet: read by time. Binance answers at most 24 h from
        # ``since``, so each pass starts a little before the previous one.
        start = key.created if first_read else max(key.created, cursor.updated - timedelta(hours=1))
        since = int((start - timedelta(minutes=5)).timestamp() * 1000)
        page = exchange.trades_after(symbol=market, cursor=cursor.position, since_ms=since)
        if not page.trades:
            cursor.position = page.cursor
            cursor.save(update_fields=["position", "updated"])
            break
        # Every order is written before it is sent, so an order whose trade is in
        # this page is either known by its exchange id below or still in flight
        # now (its answer not recorded yet). Asked in this order, nothing slips
        # between the two questions.
        in_flight = Order.objects.filter(key=key, market=market, exchange_order_id="").exclude(
            state__in=Order.TERMINAL).exists()
        order_ids = {str(t.get("order")) for t in page.trades if t.get("order")}
        orders = {o.exchange_order_id: o for o in Order.objects.filter(key=key, market=market,
                                                                         exchange_order_id__in=order_ids)}
        if in_flight and order_ids - set(orders):
            # A trade of an order being placed right now would look foreign:
            # leave the page for the pass that follows the order.
            log.info("key %s %s: trades wait for an order in flight", key.pk, market)
            break
        with transaction.atomic():  # a page and the cursor move together
            new += fills_store(key=key, market=market, trades=page.trades, orders=orders,
                               value_fee=fee_valuer(exchange, market))
            cursor.position = page.cursor
            cursor.save(update_fields=["position", "updated"])
        if not page.more:
            break
    return new


def key_reconcile(*, key_id):
    """Reconcile one key's account. Returns a small report (for logs and tests).

    A disabled key is still read (balances, trades, its orders' outcomes) until
    it is deleted; nothing is ever sent with it.
    """
    try:
        key, exchange = key_exchange(key_id=key_id, read_only=True)
    except KeyNotActive:
        return {"skipped": "key deleted"}
    except ExchangeKey.DoesNotExist:
        return {"skipped": "no such key"}
    # Every read here (balances, permissions, markets, trades, prices) leaves the budget's reserve to orders:
    # a pass over a thousand accounts must never hold back a fan-out's orders.
    exchange.bookkeeping = True
    bots = list(Bot.objects.filter(key=key).exclude(state=Bot.State.STOPPED))
    try:
        balances_read(key=key, exchange=exchange)
    except (AuthFailed, PermissionDenied) as error:
        if key.is_active:
            raise
        return {"skipped": f"disabled key refused: {error.reason}"}
    if exchange.reports_permissions and key.is_active:
        key = key_permissions_apply(key=key, permissions=exchange.permissions(), record_probe=False)
        if not key.is_active:
            return {"skipped": f"key disabled: {key.status_reason}"}
    blocked = _resolve_open_orders(key, exchange)
    new_fills = []
    markets = _candidate_markets(key, exchange, bots)
    for market in markets:
        if market in blocked:
            continue
        new_fills += _read_trades(key, exchange, market)

    now = db_now()
    for bot in bots:
        for market in bot.markets or []:
            position_recompute(bot=bot, market=market, last_price=exchange.ticker_price(market))
        equity, realized, unrealized = bot_equity(bot=bot)
        EquitySnapshot.objects.create(key=key, bot=bot, quote_asset=bot.quote_asset, equity=equity,
                                      realized_pnl=realized, unrealized_pnl=unrealized, taken=now)
    # The account's equity in the venue's main quote (USDT, or EUR where its markets are in EUR): every asset
    # through the exchange's markets; what no market values is kept apart with its amount.
    reference = exchange.quotes[0]
    held = {b.asset: b.total for b in Balance.objects.filter(key=key, total__gt=0)}
    account = value_balances(exchange, held, reference)
    pegs = pegs_off(exchange, set(held) | {bot.quote_asset for bot in bots})
    EquitySnapshot.objects.create(
        key=key, bot=None, quote_asset=reference, equity=account.total, taken=now,
        unvalued={asset: str(amount) for asset, amount in account.unvalued.items()},
        pegs_off={asset: [str(price), against] for asset, (price, against) in pegs.items()},
        valued_by={asset: how for asset, (_amount, _value, how) in account.valued.items()})
    severe = foreign_trades_judge(key=key, exchange=exchange, fills=new_fills, bots=bots)
    rules_run_for_key(key=key, new_fills=new_fills, severe=severe, exchange=exchange)
    return {
        "markets": markets,
        "new_fills": len(new_fills),
        "foreign": sum(1 for f in new_fills if f.foreign),
        "severe": severe,
        "blocked": sorted(blocked),
    }
