"""Reconciliation: what really happened on the account, from the exchange's own records.

After every order and on a schedule, per active key:
1. balances;
2. orders still unresolved or open are looked up, so their trades are known;
3. trades per market since the last trade id seen (``fromId``), never the
   whole history again; a trade no bot placed is stored as *foreign* and never
   enters a bot's position;
4. positions (average cost, fees included), PnL and an equity snapshot per bot
   and for the account, from the fills;
5. foreign trades in a market no bot trades, or buys in a thin market, pause
   every bot of the account (the 2022 key-leak pattern).

Reads here are bookkeeping: they leave part of the request budget to orders.
"""

import logging
from datetime import datetime, timedelta, timezone as dt_timezone
from decimal import Decimal

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from keys.models import ExchangeKey
from keys.services import KeyNotActive, key_exchange, key_permissions_apply
from portfolios.gateway import ExchangeError
from portfolios.models import Balance, Bot, EquitySnapshot, Fill, Order, Position, TradeCursor
from portfolios.sizing import to_decimal

log = logging.getLogger(__name__)

QUOTES = ("USDT", "USDC")
TRADES_PAGE = 1000
TICKER_CACHE_SECONDS = 10
# A market whose 24 h volume (in its quote asset) is below this is thin.
THIN_MARKET_QUOTE_VOLUME = Decimal("250000")


def ticker(exchange, symbol):
    """The market's ticker, cached for a few seconds across bots of the process."""
    cache_key = f"ticker:{exchange.name}:{symbol}"
    found = cache.get(cache_key)
    if found is None:
        raw = exchange.call("fetch_ticker", symbol)
        found = {"last": str(raw.get("last") or raw.get("close") or 0), "quoteVolume": str(raw.get("quoteVolume") or 0)}
        cache.set(cache_key, found, TICKER_CACHE_SECONDS)
    return found


def ticker_price(exchange, symbol):
    return Decimal(ticker(exchange, symbol)["last"])


def market_is_thin(exchange, symbol):
    return Decimal(ticker(exchange, symbol)["quoteVolume"]) < THIN_MARKET_QUOTE_VOLUME


def balances_store(*, key, balances):
    """Replace the stored balances of a key by what the exchange reports."""
    with transaction.atomic():
        for asset, amounts in balances.items():
            Balance.objects.update_or_create(
                key=key, asset=asset,
                defaults={"free": amounts["free"], "used": amounts["used"], "total": amounts["total"]},
            )
        Balance.objects.filter(key=key).exclude(asset__in=list(balances)).update(free=0, used=0, total=0)


def _fee_in_quote(fee, fee_asset, base, quote, price):
    if not fee:
        return Decimal(0)
    if fee_asset == quote:
        return fee
    if fee_asset == base:
        return fee * price
    return Decimal(0)


def fills_store(*, key, market, trades, orders):
    """Store trades as fills (a trade already stored is skipped). Returns the new ones.

    ``orders`` maps exchange order ids to our orders; a trade of any other
    order is foreign.
    """
    base, quote = market.split("/")
    created = []
    for trade in trades:
        trade_id = str(trade.get("id") or "")
        if not trade_id:
            continue
        order_id = str(trade.get("order") or "")
        order = orders.get(order_id)
        price = to_decimal(trade.get("price"), Decimal(0))
        quantity = to_decimal(trade.get("amount"), Decimal(0))
        fee = trade.get("fee") or {}
        fee_cost = to_decimal(fee.get("cost"), Decimal(0))
        fee_asset = fee.get("currency") or ""
        timestamp = trade.get("timestamp")
        traded_at = (
            datetime.fromtimestamp(timestamp / 1000, tz=dt_timezone.utc) if timestamp else timezone.now()
        )
        try:
            with transaction.atomic():
                fill = Fill.objects.create(
                    key=key, bot_id=order.bot_id if order else None, order=order, market=market,
                    side=trade.get("side") or (order.side if order else "buy"),
                    price=price, quantity=quantity,
                    cost=to_decimal(trade.get("cost"), price * quantity),
                    fee=fee_cost, fee_asset=fee_asset,
                    fee_in_quote=_fee_in_quote(fee_cost, fee_asset, base, quote, price),
                    exchange_trade_id=trade_id, exchange_order_id=order_id, foreign=order is None,
                    traded_at=traded_at,
                )
        except IntegrityError:
            continue  # read before: harmless
        created.append(fill)
    return created


def position_recompute(*, bot, market, last_price=None):
    """A bot's position in a market from its fills: average cost, fees included.

    Only fills not applied yet are read (in the order they were recorded), so a
    pass costs the same however long the history is.
    """
    base, quote = market.split("/")
    with transaction.atomic():
        position, _ = Position.objects.select_for_update().get_or_create(bot=bot, market=market)
        quantity, cost_basis = position.quantity, position.cost_basis
        realized, fees = position.realized_pnl, position.fees_paid
        fills = Fill.objects.filter(bot=bot, market=market, foreign=False, pk__gt=position.last_fill_id).order_by("pk")
        for fill in fills:
            fees += fill.fee_in_quote
            fee_base = fill.fee if fill.fee_asset == base else Decimal(0)
            fee_quote = fill.fee if fill.fee_asset == quote else Decimal(0)
            if fill.side == "buy":
                quantity += fill.quantity - fee_base
                cost_basis += fill.cost + fee_quote
            else:
                sold = min(fill.quantity + fee_base, quantity)
                average = cost_basis / quantity if quantity else Decimal(0)
                realized += fill.cost - fee_quote - average * sold
                cost_basis -= average * sold
                quantity -= sold
            position.last_fill_id = fill.pk
        position.quantity, position.cost_basis = quantity, cost_basis
        position.realized_pnl, position.fees_paid = realized, fees
        position.average_entry = cost_basis / quantity if quantity > 0 else Decimal(0)
        if last_price is not None:
            position.last_price = last_price
        position.save()
    return position


def bot_equity(*, bot):
    """Allocation plus realized and unrealized PnL over the bot's positions."""
    realized = unrealized = Decimal(0)
    for position in Position.objects.filter(bot=bot):
        realized += position.realized_pnl
        unrealized += position.unrealized_pnl
    return bot.allocation + realized + unrealized, realized, unrealized


def _candidate_markets(key, exchange, bots):
    markets = set()
    for bot in bots:
        markets.update(bot.markets or [])
    markets.update(
        Order.objects.filter(key=key).exclude(state__in=Order.TERMINAL).values_list("market", flat=True)
    )
    known = exchange.markets()
    for balance in Balance.objects.filter(key=key, total__gt=0).exclude(asset__in=QUOTES):
        for quote in QUOTES:
            symbol = f"{balance.asset}/{quote}"
            if symbol in known:
                markets.add(symbol)
    markets.update(TradeCursor.objects.filter(key=key).values_list("market", flat=True))
    return sorted(markets)


def _resolve_open_orders(key, exchange):
    """Look up our orders the exchange may have answered for, before reading trades."""
    from portfolios.execution import RECOVERY_AGE, order_record, order_resolve

    blocked = set()
    cutoff = timezone.now() - RECOVERY_AGE
    for order in Order.objects.filter(key=key).exclude(state__in=Order.TERMINAL):
        if order.state in Order.UNRESOLVED:
            if (order.sent_at or order.created) < cutoff:
                order = order_resolve(order=order, exchange=exchange)
            if order.state in Order.UNRESOLVED:
                blocked.add(order.market)  # its trades would look foreign
            continue
        try:
            answer = exchange.call("fetch_order", order.exchange_order_id, order.market, bookkeeping=True)
        except ExchangeError as error:
            log.warning("order %s lookup failed: %s", order.pk, error.reason)
            blocked.add(order.market)
            continue
        order_record(order=order, answer=answer, exchange=exchange)
    return blocked


def _read_trades(key, exchange, market):
    cursor, first_read = TradeCursor.objects.get_or_create(key=key, market=market)
    new = []
    while True:
        if cursor.last_trade_id:
            page = exchange.call("fetch_my_trades", market, None, TRADES_PAGE,
                                 {"fromId": cursor.last_trade_id + 1}, bookkeeping=True)
        else:
            # No trade seen yet: read by time. The exchange answers at most 24 h
            # from ``since``, so each pass starts a little before the previous one.
            start = key.created if first_read else max(key.created, cursor.updated - timedelta(hours=1))
            since = int((start - timedelta(minutes=5)).timestamp() * 1000)
            page = exchange.call("fetch_my_trades", market, since, TRADES_PAGE, bookkeeping=True)
        page = [t for t in page if int(t["id"]) > cursor.last_trade_id]
        if not page:
            cursor.save(update_fields=["updated"])
            break
        # Every order is written before it is sent, so an order whose trade is in
        # this page is either known by its exchange id below or still in flight
        # now (its answer not recorded yet). Asked in this order, nothing slips
        # between the two questions.
        in_flight = Order.objects.filter(key=key, market=market, exchange_order_id="").exclude(
            state__in=Order.TERMINAL).exists()
        order_ids = {str(t.get("order")) for t in page if t.get("order")}
        orders = {o.exchange_order_id: o for o in Order.objects.filter(key=key, market=market,
                                                                         exchange_order_id__in=order_ids)}
        if in_flight and order_ids - set(orders):
            # A trade of an order being placed right now would look foreign:
            # leave the page for the pass that follows the order.
            log.info("key %s %s: trades wait for an order in flight", key.pk, market)
            break
        with transaction.atomic():  # a page and the cursor move together
            new += fills_store(key=key, market=market, trades=page, orders=orders)
            cursor.last_trade_id = max(int(t["id"]) for t in page)
            cursor.save(update_fields=["last_trade_id", "updated"])
        if len(page) < TRADES_PAGE:
            break
    return new


def _judge_foreign(key, exchange, fills, bots):
    """Foreign fills: severe ones pause every bot of the account."""
    from portfolios.services import bot_pause

    traded = {m for bot in bots for m in (bot.markets or [])}
    severe = []
    for fill in fills:
        if not fill.foreign:
            continue
        if fill.market not in traded:
            severe.append(f"a {fill.side} of {fill.quantity} {fill.market}, a market no bot trades")
        elif fill.side == "buy" and market_is_thin(exchange, fill.market):
            severe.append(f"a buy of {fill.quantity} {fill.market}, a thin market")
    if severe:
        reason = "Trade placed by no bot: " + "; ".join(severe)
        for bot in Bot.objects.filter(key=key, state=Bot.State.RUNNING):
            bot_pause(bot=bot, reason=reason[:300])
    return severe


def key_reconcile(*, key_id):
    """Reconcile one key's account. Returns a small report (for logs and tests)."""
    try:
        key, exchange = key_exchange(key_id=key_id)
    except KeyNotActive:
        return {"skipped": "key not active"}
    except ExchangeKey.DoesNotExist:
        return {"skipped": "no such key"}
    bots = list(Bot.objects.filter(key=key).exclude(state=Bot.State.STOPPED))
    balances_store(key=key, balances=exchange.balances())
    if exchange.reports_permissions:
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

    now = timezone.now()
    account_equity = Decimal(0)
    for bot in bots:
        for market in bot.markets or []:
            position_recompute(bot=bot, market=market, last_price=ticker_price(exchange, market))
        equity, realized, unrealized = bot_equity(bot=bot)
        EquitySnapshot.objects.create(key=key, bot=bot, quote_asset=bot.quote_asset, equity=equity,
                                      realized_pnl=realized, unrealized_pnl=unrealized, taken=now)
    for balance in Balance.objects.filter(key=key, total__gt=0):
        if balance.asset in QUOTES:
            account_equity += balance.total
        elif f"{balance.asset}/USDT" in exchange.markets():
            account_equity += balance.total * ticker_price(exchange, f"{balance.asset}/USDT")
    EquitySnapshot.objects.create(key=key, bot=None, quote_asset="USDT", equity=account_equity, taken=now)
    severe = _judge_foreign(key, exchange, new_fills, bots)
    from alerts.rules import rules_run_for_key

    rules_run_for_key(key=key, new_fills=new_fills, severe=severe, exchange=exchange)
    return {
        "markets": markets,
        "new_fills": len(new_fills),
        "foreign": sum(1 for f in new_fills if f.foreign),
        "severe": severe,
        "blocked": sorted(blocked),
    }
