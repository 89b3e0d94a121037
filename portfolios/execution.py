"""From a signal to at most one order, whatever crashes, duplicates, delays and clocks do.

1. Guard: the signal is authentic, fresh, not replayed, for a running bot
   with an active key, in one of its markets, and its size passes the
   exchange's filters and the bot's limits. A refusal is a visible row
   (:class:`SignalDecision`), never a silent drop. A bot whose earlier order
   in the same market is not resolved yet waits for it (:class:`Deferred`),
   so a sell right after a buy sells what the buy got.
2. Write ahead: the :class:`Order` row (``pending``) with a client order id
   derived from (bot, signal) is committed before anything is sent; a unique
   constraint makes a second delivery of the same task find it.
3. Send outside any transaction, after winning a conditional update (so two
   workers never send the same row). An order no longer wanted - its signal
   superseded or expired, its bot paused or stopped, its key disabled - is
   canceled with that reason instead, never sent late. Each request is
   stamped with the exchange's clock and bound to the venue's request window
   (Binance's recvWindow, Kraken's deadline, Bitvavo's access window); the row
   keeps the moment after which it can no longer execute. A lost answer is
   never retried blindly: the order is looked up by its client order id, and
   sent again (same id) only when the exchange does not have it *and* that
   moment has passed by the exchange's own clock.
4. Record the exchange's answer and its fills; the bot's position follows at
   once. The books (the last balances read plus the fills since) are then
   exact: the account is read again by the pass every 5 minutes, at once only
   when an order's fills could not be read.

Ages and freshness are judged by the database's clock
(:func:`oneclick.lib.clock.db_now`), never a worker's. ``orders_recover``
resolves rows a crash or a lost answer left ``pending`` or ``sent`` and warns
about orders still unresolved minutes after their signal.
"""

import hashlib
import logging
import time
from datetime import datetime, timedelta, timezone as dt_timezone
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q, Sum
from django.db.models.functions import Coalesce, Now

from exchanges import (
    AuthFailed, ExchangeError, ExchangeRejected, InsufficientFunds, PermissionDenied, RateLimited, Transient,
)
from exchanges.markets import market_min_notional, market_min_quantity, market_step
from keys.models import ExchangeKey
from keys.services import KeyNotActive, key_auth_failure_record, key_exchange
from oneclick.lib.clock import db_now
from oneclick.lib.money import to_decimal
from portfolios import alerting
from portfolios.ledger import balances_read, fills_store, free_balances, position_recompute
from portfolios.models import Bot, Fill, Order, Position, SignalDecision
from portfolios.queueing import reconcile_soon
from portfolios.valuation import fee_valuer
from strategies.models import Signal
from strategies import sizing
from strategies.services import signal_verify

log = logging.getLogger(__name__)

# A pending row younger than this belongs to the worker that wrote it (it sends within milliseconds).
PENDING_AGE = timedelta(seconds=15)
# A sent row is looked at again after this; it is sent again only past its request deadline.
SENT_AGE = timedelta(seconds=5)
# Kept for callers that ask for "old enough to recover" in one figure.
RECOVERY_AGE = PENDING_AGE
# How long a worker whose answer was lost waits, at most, for the request's deadline before it leaves
# the order to the recovery pass.
DEADLINE_WAIT_SECONDS = 15.0
MAX_SEND_ATTEMPTS = 3
# An order not resolved this long after it was written raises a warning.
STUCK_AFTER = timedelta(minutes=3)


class Deferred(Exception):
    """The signal waits: the bot's earlier order in the market is not resolved yet. The task tries again."""

    def __init__(self, reason, order):
        super().__init__(reason)
        self.reason = reason
        self.order = order


def _decide(bot, signal, outcome, reason):
    decision, _ = SignalDecision.objects.get_or_create(
        bot=bot, signal=signal, defaults={"outcome": outcome, "reason": reason[:300]}
    )
    return decision


def _ignore(bot, signal, reason):
    try:
        with transaction.atomic():
            return _decide(bot, signal, SignalDecision.Outcome.IGNORED, reason)
    except IntegrityError:
        return SignalDecision.objects.get(bot=bot, signal=signal)


def positions_cost(positions):
    """What the open positions cost (average entry, fees in)."""
    return sum((p.quantity * p.average_entry for p in positions), Decimal(0))


def bot_cash_left(bot, positions):
    """What the bot may still spend of its allocation: less what its positions cost, plus what it realized."""
    realized = sum((p.realized_pnl for p in positions), Decimal(0))
    return max(Decimal(0), bot.allocation + realized - positions_cost(positions))


def _free_balances(key, exchange, market, *, fresh=False):
    """Free quote and base by our books (the last read plus the fills since); read from the exchange when the
    books cannot tell (never read) or ``fresh`` is asked."""
    assets = [market["base"], market["quote"]]
    free = None if fresh else free_balances(key=key, assets=assets)
    if free is None:
        balances_read(key=key, exchange=exchange)
        free = free_balances(key=key, assets=assets)
    return free[market["quote"]], free[market["base"]]


def _size(bot, signal, market, price, free_quote, free_base):
    positions = list(Position.objects.filter(bot=bot))
    applied = next((p.last_fill_id for p in positions if p.market == signal.market), 0)
    if Fill.objects.filter(bot=bot, market=signal.market, foreign=False, pk__gt=applied).exists():
        position_recompute(bot=bot, market=signal.market)  # fills recorded since the last pass count now
        positions = list(Position.objects.filter(bot=bot))
    position_qty = next((p.quantity for p in positions if p.market == signal.market), Decimal(0))
    selling = signal.action == "sell"
    return sizing.order_size(
        side=signal.action,
        fraction=signal.fraction,
        allocation=bot.allocation,
        position_qty=position_qty,
        price=price,
        free_quote=min(free_quote, bot_cash_left(bot, positions)),
        # A sell sells the share of what the bot holds by its own fills. The account holds every bot's
        # position, so only the exchange can say otherwise: a refusal for funds reads the balance once and
        # sells what is there (:func:`_sell_trim`), while books racing other bots' sells would trim it wrongly.
        free_base=position_qty if selling else free_base,
        position_cap=bot.position_cap,
        market=market,
    ), position_qty


# An order's quantity its stored fills add up to, and the orders whose answer told more than is stored.
_RECORDED = Coalesce(Sum("fills__quantity"), Decimal(0))
_MISSING_FILLS = Q(filled_quantity__gt=0, recorded__lt=F("filled_quantity"))


def fills_missing(orders):
    """Those of ``orders`` whose fills are not all stored yet (an answer that did not tell them)."""
    return orders.annotate(recorded=_RECORDED).filter(_MISSING_FILLS)


def _fills_missing(bot, market):
    return fills_missing(Order.objects.filter(bot=bot, market=market))


def _order_fills_store(order, trades, exchange, stamp=None):
    """Store trades of this order: ones that name no order (or, on Binance, no time) are the order's."""
    trades = [{**t, "order": t.get("order") or order.exchange_order_id, "timestamp": t.get("timestamp") or stamp}
              for t in trades]
    if trades:
        fills_store(key=order.key, market=order.market, trades=trades, orders={order.exchange_order_id: order},
                    value_fee=fee_valuer(exchange, order.market))


def order_fills_fetch(*, order, exchange):
    """Read and store the fills of an answered order, then its bot's position."""
    since_ms = int(order.sent_at.timestamp() * 1000) if order.sent_at else 0
    _order_fills_store(order, exchange.order_fills(symbol=order.market, order_id=order.exchange_order_id,
                                                   since_ms=since_ms), exchange)
    position_recompute(bot=order.bot, market=order.market)


def _earlier_orders_wait(bot, signal):
    """The bot's earlier order in this market that is still unresolved, or None.

    An earlier order not sent yet is superseded by this signal: it is canceled
    here, before it could go out late. One already sent is looked up. An
    answered one whose fills are not stored yet (a lookup's answer does not
    tell them) has them read now, so the position sized from is true.
    """
    # One read answers both questions (most often with nothing): unresolved orders, and ones missing fills.
    earlier = list(
        Order.objects.filter(bot=bot, market=signal.market).exclude(signal=signal)
        .annotate(recorded=_RECORDED).filter(~Q(state__in=Order.TERMINAL) | _MISSING_FILLS)
        .order_by("pk"))
    for order in earlier:
        if order.state in Order.TERMINAL:
            continue
        if order.signal_id is not None and order.signal.candle_close >= signal.candle_close:
            continue  # a newer signal's order: this signal is the superseded one (the guard says so)
        if order.state == Order.State.PENDING and order.attempts == 0:
            if _cancel(order, Order.State.PENDING, "Not sent: a newer signal superseded it"):
                continue
        if order.state in Order.UNRESOLVED:
            # Waits (seconds) for the request's deadline when it is near: then the exchange can tell.
            order = order_resolve(order=order, lost_answer=True)
        if order.state not in Order.TERMINAL:
            return order
    if not earlier:
        return None
    for order in _fills_missing(bot, signal.market).select_related("key", "bot"):
        try:
            _key, exchange = key_exchange(key_id=order.key_id, read_only=True)
            order_fills_fetch(order=order, exchange=exchange)
        except (KeyNotActive, ExchangeError) as error:
            log.warning("order %s: fills not read yet: %s", order.pk, getattr(error, "reason", error))
        if _fills_missing(bot, signal.market).filter(pk=order.pk).exists():
            return order
    return None


def signal_execute(*, bot_id, signal_id, last_try=False):
    """The task body of the fan-out: guard, write ahead, send, record. Idempotent.

    Raises :class:`Deferred` while the bot's earlier order in the market is
    unresolved; on ``last_try`` the signal is ignored instead, saying why.
    """
    now = db_now()
    bot = Bot.objects.select_related("key", "strategy", "owner").get(pk=bot_id)
    signal = Signal.objects.get(pk=signal_id)

    # The order row and its decision are written together: no decision, no order.
    decided = SignalDecision.objects.filter(bot=bot, signal=signal).values_list("outcome", flat=True).first()
    if decided is not None:
        existing = Order.objects.filter(bot=bot, signal=signal).first() if decided == SignalDecision.Outcome.ORDERED else None
        if existing is not None and existing.state in Order.UNRESOLVED and old_enough(existing, now):
            # A second delivery: the row's owner (or the recovery pass) finishes it.
            order_resolve(order=existing)
        return existing

    # Cheap checks first, re-read now (not when the task was queued).
    if bot.state != Bot.State.RUNNING:
        return _ignore(bot, signal, f"Bot is {bot.get_state_display().lower()}")
    if bot.key.status != ExchangeKey.Status.ACTIVE:
        return _ignore(bot, signal, f"Exchange key is {bot.key.get_status_display().lower()}")
    if signal.market not in (bot.markets or []):
        return _ignore(bot, signal, f"{signal.market} is not one of the bot's markets")
    if signal.strategy_id != bot.strategy_id:
        return _ignore(bot, signal, "The signal comes from another strategy")
    signal.strategy = bot.strategy  # the same row, read with the bot
    if signal.action == "hold":
        verification = signal_verify(signal=signal, strategy=bot.strategy, now=now)
        if not verification:
            return _ignore(bot, signal, verification.reason)
        with transaction.atomic():
            return _decide(bot, signal, SignalDecision.Outcome.HOLD, signal.reason or "Hold")

    waiting = _earlier_orders_wait(bot, signal)
    if waiting is not None:
        reason = f"The bot's earlier {waiting.side} order in {signal.market} is not resolved yet"
        if not last_try:
            raise Deferred(reason, waiting)
        decision = _ignore(bot, signal, reason)
        if signal.action == "sell":
            alerting.sell_not_placed_alert(bot=bot, signal=signal, reason=reason)
        return decision

    try:
        key, exchange = key_exchange(key=bot.key)
        market = exchange.market(signal.market)
        if market["quote"] != bot.quote_asset:
            return _ignore(bot, signal, f"{signal.market} is not quoted in {bot.quote_asset}")
        price = exchange.ticker_price(signal.market)
        free_quote, free_base = _free_balances(key, exchange, market)
        size, position_qty = _size(bot, signal, market, price, free_quote, free_base)
        if size.refusal == "over_free_balance" or (signal.action == "sell" and position_qty > 0 and not size.ok):
            # Our books may be behind the account: one fresh read decides.
            free_quote, free_base = _free_balances(key, exchange, market, fresh=True)
            size, position_qty = _size(bot, signal, market, price, free_quote, free_base)
    except KeyNotActive as error:
        return _ignore(bot, signal, str(error))
    except ExchangeError as error:
        if error.retryable:
            raise  # the task is retried by the queue; nothing was written
        return _ignore(bot, signal, f"Exchange refused the market data: {error.reason}")

    try:
        with transaction.atomic():
            # The receipt (replay protection) commits with the order intent, or not at all.
            verification = signal_verify(signal=signal, strategy=bot.strategy, consumer=f"bot:{bot.pk}", now=now)
            if not verification:
                _decide(bot, signal, SignalDecision.Outcome.IGNORED, verification.reason)
                return None
            if not size.ok:
                oversize = size.refusal in ("over_position_cap", "over_market_max", "over_free_balance")
                reason = f"{size.reason}; ignored, not trimmed" if oversize else size.reason
                _decide(bot, signal, SignalDecision.Outcome.IGNORED, reason)
                if signal.action == "sell" and not _dust(position_qty, price, market):
                    # The bot stays in a position its strategy wants out of: say so now.
                    alerting.sell_not_placed_alert(bot=bot, signal=signal, reason=reason)
                return None
            order = Order.objects.create(
                bot=bot, key=key, signal=signal, market=signal.market, side=signal.action,
                quantity=size.quantity, reference_price=price, signal_price=signal.price,
                client_order_id=exchange.client_order_id(bot_id=bot.pk, tag=f"s{signal.pk}", salt=signal.signature),
            )
            SignalDecision.objects.create(bot=bot, signal=signal, outcome=SignalDecision.Outcome.ORDERED,
                                          reason=f"{signal.action} {size.quantity} at ~{price}")
    except IntegrityError:
        # Another delivery of this task wrote the row (or its decision) first: that one is the answer.
        return Order.objects.filter(bot=bot, signal=signal).first()
    # Just checked in the transaction that wrote it (signal fresh and newest); the claim checks key and bot.
    order_send(order=order, exchange=exchange, now=now, checked=True)
    return order


def _dust(quantity, price, market):
    """Too little to sell at all on this market (what rounding leaves behind)."""
    min_qty, min_notional = market_min_quantity(market), market_min_notional(market)
    return (quantity <= 0 or (min_qty is not None and quantity < min_qty)
            or (min_notional is not None and quantity * price < min_notional))


def old_enough(order, now):
    """Whether the worker that wrote or sent the order has had its time: then anyone may resolve it."""
    if order.state == Order.State.PENDING:
        return order.created < now - PENDING_AGE
    return (order.sent_at or order.created) < now - SENT_AGE


def _unwanted(order, now):
    """Why the order must not go out now (its signal superseded or expired, its bot or key stopped), or ""."""
    key = ExchangeKey.objects.only("status").get(pk=order.key_id)
    if key.status != ExchangeKey.Status.ACTIVE:
        return f"Not sent: the exchange key is {key.get_status_display().lower()}"
    bot = Bot.objects.only("state").get(pk=order.bot_id)
    if order.purpose != "stop" and bot.state != Bot.State.RUNNING:
        return f"Not sent: the bot is {bot.get_state_display().lower()}"
    if order.signal_id:
        signal = Signal.objects.only("strategy_id", "market", "candle_close", "expires").get(pk=order.signal_id)
        if now >= signal.expires:
            return "Not sent: its signal expired"
        if Signal.objects.filter(strategy_id=signal.strategy_id, market=signal.market,
                                 candle_close__gt=signal.candle_close).exists():
            return "Not sent: a newer signal superseded it"
    return ""


def _cancel(order, from_state, reason):
    """Cancel an order the exchange does not have (never sent, or provably not executed). True if this won."""
    with transaction.atomic():
        changed = Order.objects.filter(pk=order.pk, state=from_state, attempts=order.attempts).update(
            state=Order.State.CANCELED, error=reason[:300])
        if changed:
            order.state, order.error = Order.State.CANCELED, reason[:300]
            alerting.order_state_alert(order=order)
    return bool(changed)


def _claim(order, from_state, deadline_ms):
    """Win the right to send: only one worker's conditional update succeeds, and only while the key is active
    and the bot running (a pause committed a moment before is seen here, not after the order went out)."""
    rows = Order.objects.filter(pk=order.pk, state=from_state, attempts=order.attempts,
                                key__status=ExchangeKey.Status.ACTIVE)
    if order.purpose != "stop":
        rows = rows.filter(bot__state=Bot.State.RUNNING)
    claimed = rows.update(
        state=Order.State.SENT, attempts=order.attempts + 1, sent_at=Now(), request_deadline_ms=deadline_ms
    )
    if claimed:
        order.state, order.attempts, order.request_deadline_ms = Order.State.SENT, order.attempts + 1, deadline_ms
    return bool(claimed)


def _fail(order, state, reason):
    """Record a final failure of the attempt this worker sent (a later attempt's outcome is never overwritten)."""
    # The alert commits with the outcome: a crash between the two never loses it.
    with transaction.atomic():
        changed = Order.objects.filter(pk=order.pk, state__in=Order.UNRESOLVED, attempts=order.attempts).update(
            state=state, error=reason[:300])
        if changed:
            order.state, order.error = state, reason[:300]
            alerting.order_state_alert(order=order)
    return bool(changed)


def order_send(*, order, exchange=None, from_state=Order.State.PENDING, now=None, checked=False):
    """Send a written order (never inside a transaction), then record the answer.

    An order no longer wanted is canceled with the reason instead. ``checked``: the caller wrote the row a
    moment ago, in the transaction that verified its signal (fresh, newest); the claim still checks that the
    key is active and the bot running.
    """
    reason = "" if checked else _unwanted(order, now or db_now())
    if reason:
        _cancel(order, from_state, reason)
        return order
    try:
        if exchange is None:
            _key, exchange = key_exchange(key_id=order.key_id)
        stamp_ms = exchange.exchange_clock_ms()
    except KeyNotActive as error:
        _cancel(order, from_state, f"Not sent: {error}")
        return order
    except ExchangeError as error:
        log.warning("order %s not sent yet: %s", order.pk, error.reason)
        return order  # still pending: the recovery pass sends it
    if not _claim(order, from_state, exchange.request_deadline_ms(stamp_ms)):
        reason = _unwanted(order, db_now())  # stopped in the meantime, or another worker has it
        if reason:
            _cancel(order, from_state, reason)
        return order
    try:
        answer = exchange.order_create(symbol=order.market, side=order.side, quantity=order.quantity,
                                       client_order_id=order.client_order_id, bot_id=order.bot_id,
                                       stamp_ms=stamp_ms)
    except RateLimited as error:
        # Refused before execution: back to pending; the recovery pass sends it later.
        Order.objects.filter(pk=order.pk, state=Order.State.SENT, attempts=order.attempts).update(
            state=Order.State.PENDING, error=error.reason[:300])
        order.state = Order.State.PENDING
        return order
    except Transient:
        return order_resolve(order=order, exchange=exchange, lost_answer=True)
    except (AuthFailed, PermissionDenied) as error:
        _fail(order, Order.State.FAILED, error.reason)
        key_auth_failure_record(key=order.key, detail=error.reason)
        return order
    except InsufficientFunds as error:
        if order.side == "sell" and _sell_trim(order, exchange):
            return order_send(order=order, exchange=exchange)
        _fail(order, Order.State.REJECTED, error.reason)
        return order
    except ExchangeRejected as error:
        _fail(order, Order.State.REJECTED, error.reason)
        return order
    return order_record(order=order, answer=answer, exchange=exchange)


def _sell_trim(order, exchange):
    """A sell refused for funds (nothing executed): read the balance once and sell what the account has.

    True when the order is trimmed and pending again; False when there is nothing smaller worth selling.
    """
    try:
        balances = balances_read(key=order.key, exchange=exchange)
        market = exchange.market(order.market)
    except ExchangeError as error:
        log.warning("order %s: balance not read after a refusal for funds: %s", order.pk, error.reason)
        return False
    free = to_decimal(balances.get(market["base"], {}).get("free"), Decimal(0))
    quantity = sizing.round_down(min(free, order.quantity), market_step(market))
    if quantity <= 0 or quantity >= order.quantity or _dust(quantity, order.reference_price, market):
        return False
    trimmed = Order.objects.filter(pk=order.pk, state=Order.State.SENT, attempts=order.attempts).update(
        state=Order.State.PENDING, quantity=quantity, error=f"Trimmed from {order.quantity.normalize():f} to what "
                                                             "the account holds")
    if trimmed:
        order.state, order.quantity = Order.State.PENDING, quantity
    return bool(trimmed)


def _lookup(exchange, order):
    """The exchange's view of our order by client order id, or None when it has none."""
    return exchange.order_by_client_id(symbol=order.market, client_order_id=order.client_order_id)


def _deadline_wait(exchange, deadline_ms):
    """Sleep until the request's deadline has passed by the exchange's clock, if that comes soon enough."""
    left = (deadline_ms - exchange.exchange_clock_floor_ms()) / 1000
    if 0 < left <= DEADLINE_WAIT_SECONDS:
        time.sleep(left + 0.05)


def order_resolve(*, order, exchange=None, lost_answer=False):
    """Find out what happened to a pending/sent order and finish it, never sending twice.

    A pending order was never sent (or was refused before execution): it is
    sent, unless no longer wanted. A sent one is looked up by its client order
    id; only when the exchange does not have it and its request can no longer
    execute (its deadline passed by the exchange's clock) is it sent again.
    A disabled key still answers the lookup.
    """
    order.refresh_from_db()
    if order.state == Order.State.PENDING:
        return order_send(order=order, exchange=exchange)
    if order.state != Order.State.SENT:
        return order
    try:
        if exchange is None:
            _key, exchange = key_exchange(key_id=order.key_id, read_only=True)
        deadline = order.request_deadline_ms
        if deadline is None:  # sent before deadlines were recorded: the venue's longest window from its send
            deadline = exchange.request_deadline_ms(int(order.sent_at.timestamp() * 1000) + 60_000)
        # Expired first, then looked up: what the lookup misses can no longer arrive.
        expired = exchange.request_expired(deadline)
        found = _lookup(exchange, order)
        if found is None and not expired and lost_answer:
            _deadline_wait(exchange, deadline)
            expired = exchange.request_expired(deadline)
            if expired:
                found = _lookup(exchange, order)  # what arrived before the deadline is there now
    except KeyNotActive as error:
        # The key was deleted: its orders can no longer be looked up.
        _fail(order, Order.State.FAILED, f"Outcome unknown: {error}; check the order on the exchange")
        return order
    except ExchangeError as error:
        log.warning("order %s still unresolved: %s", order.pk, error.reason)
        return order
    if found is not None:
        return order_record(order=order, answer=found, exchange=exchange)
    if not expired:
        return order  # the request may still execute: looked up again later, never sent twice
    # The exchange does not have it and never will: send again (same client order id), if still wanted.
    if order.attempts >= MAX_SEND_ATTEMPTS:
        _fail(order, Order.State.FAILED, f"Not accepted after {order.attempts} attempts")
        return order
    if not Order.objects.filter(pk=order.pk, state=Order.State.SENT, attempts=order.attempts).update(
            state=Order.State.PENDING):
        return order  # another worker got here first
    order.state = Order.State.PENDING
    return order_send(order=order, exchange=exchange)  # cancels it instead when no longer wanted


_STATES = {
    "closed": Order.State.FILLED,
    "open": Order.State.OPEN,
    "canceled": Order.State.CANCELED,
    "expired": Order.State.CANCELED,
    "rejected": Order.State.REJECTED,
}


def order_record(*, order, answer, exchange):
    """Store the exchange's answer (ids, state, fills) on the order; the position follows.

    Fills the answer does not tell are read now; when they cannot be, a reconciliation of the account is queued.
    """
    filled = to_decimal(answer.get("filled"), Decimal(0))
    state = _STATES.get(answer.get("status"), Order.State.OPEN)
    if state == Order.State.OPEN and filled > 0:
        state = Order.State.PARTIAL
    if state == Order.State.CANCELED and filled > 0:
        state = Order.State.PARTIAL
    changes = {
        "exchange_order_id": str(answer.get("id") or ""),
        "state": state,
        "filled_quantity": filled,
        "average_price": to_decimal(answer.get("average")),
        "cost": to_decimal(answer.get("cost"), Decimal(0)),
        "error": "",
    }
    stamp = answer.get("lastTradeTimestamp") or answer.get("timestamp")
    trades = exchange.order_trades(answer)
    # An answer that tells every fill (with its time) says when the order filled: recorded with it.
    told = filled > 0 and sum((to_decimal(t.get("amount"), Decimal(0)) for t in trades), Decimal(0)) >= filled
    if told and all(t.get("timestamp") or stamp for t in trades):
        last = max(t.get("timestamp") or stamp for t in trades)
        changes["filled_at"] = datetime.fromtimestamp(last / 1000, tz=dt_timezone.utc)
    rows = Order.objects.filter(pk=order.pk)
    if state not in Order.TERMINAL:
        rows = rows.exclude(state__in=Order.TERMINAL)  # an older, less final answer never undoes a final one
    # The answer, its fills and the alert commit together: a crash between them never loses the alert.
    with transaction.atomic():
        recorded = rows.update(**changes)
        if recorded:
            for name, value in changes.items():
                setattr(order, name, value)
            _order_fills_store(order, trades, exchange, stamp=stamp)
            alerting.order_state_alert(order=order)
        complete = recorded and (filled == 0 or "filled_at" in changes)
        if complete:
            position_recompute(bot=order.bot, market=order.market)
    if not complete:
        missing = _fills_missing(order.bot, order.market).filter(pk=order.pk)
        if filled > 0 and missing.exists():
            # The answer did not tell its fills (a lookup's, Kraken's): read them, the position must be true now.
            try:
                order_fills_fetch(order=order, exchange=exchange)
            except ExchangeError as error:
                log.warning("order %s: fills not read yet (the reconciliation reads them): %s", order.pk,
                            error.reason)
            if missing.exists():
                reconcile_soon(order.key_id)  # the account's trades tell them
        if filled > 0:
            _filled_at_record(order, answer)
        position_recompute(bot=order.bot, market=order.market)
    return order


def _filled_at_record(order, answer):
    """When the order filled, by the exchange: its last fill's time, else the time its answer gives."""
    last = Fill.objects.filter(order=order).aggregate(last=Max("traded_at"))["last"]
    stamp = answer.get("lastTradeTimestamp") or answer.get("timestamp")
    if last is None and stamp:
        last = datetime.fromtimestamp(stamp / 1000, tz=dt_timezone.utc)
    if last is not None and last != order.filled_at:
        Order.objects.filter(pk=order.pk).update(filled_at=last)
        order.filled_at = last


def orders_recover(*, older_than=None, now=None):
    """Resolve every order a crash or a lost answer left pending or sent; warn about the ones stuck for minutes."""
    now = now or db_now()
    if older_than is None:
        stale = (Q(state=Order.State.PENDING, created__lt=now - PENDING_AGE)
                 | Q(state=Order.State.SENT, sent_at__lt=now - SENT_AGE))
    else:
        stale = Q(state__in=Order.UNRESOLVED, created__lt=now - older_than)
    resolved = 0
    for order in Order.objects.filter(stale).select_related("key"):
        order_resolve(order=order)
        resolved += 1
    orders_stuck_alert(now=now)
    return resolved


def waits_for(order):
    """What an unresolved order waits for, in the user's words."""
    if order.state == Order.State.PENDING and order.attempts == 0:
        return "It is written and waits for a worker to send it."
    if order.state == Order.State.PENDING:
        return f"The exchange refused it for now and it waits to be sent again ({order.error or 'rate limit'})."
    if order.state == Order.State.SENT:
        return ("It was sent and the exchange's answer was lost: it is looked up by its client order id until the "
                "exchange can tell, and never sent twice.")
    return "It rests on the exchange's order book, not filled yet."


def orders_stuck(*, now):
    """Orders written more than ``STUCK_AFTER`` ago and still not resolved (a partial fill counts as resolved)."""
    return Order.objects.filter(created__lt=now - STUCK_AFTER).exclude(state__in=[*Order.TERMINAL, Order.State.PARTIAL])


def orders_stuck_alert(*, now):
    """One warning per order not resolved ``STUCK_AFTER`` after it was written, saying what it waits for."""
    stuck = orders_stuck(now=now).exclude(alerts__kind="order_stuck").select_related("bot__owner", "bot__key")
    raised = 0
    for order in stuck:
        minutes = int((now - order.created).total_seconds() // 60)
        alerting.order_stuck_alert(order=order, minutes=minutes, waits_for=waits_for(order))
        raised += 1
    return raised


def signals_redeliver(*, older_than=PENDING_AGE, queue_size=None):
    """Queue again the bot tasks that a crash lost: pairs of a live signal and a running bot with no decision.

    With the Redis broker a task taken by a cluster that then dies (SIGKILL, a
    lost machine) is gone, and so is a signal's fan-out when its run's worker
    dies before queuing it. The task is idempotent, so queuing it again is
    harmless. Waits while tasks are still queued (``queue_size``: the broker's
    count, read when not given), and leaves signals younger than ``older_than``
    to their first delivery. Returns the (bot_id, signal_id) pairs queued.
    """
    from django_q.brokers import get_broker
    from django_q.tasks import async_task

    if (get_broker(settings.ORDERS_QUEUE).queue_size() if queue_size is None else queue_size) > 0:
        return []
    now = db_now()
    latest = {}
    for signal in Signal.objects.filter(expires__gt=now, created__lt=now - older_than).order_by("candle_close"):
        latest[(signal.strategy_id, signal.market)] = signal  # an older one is superseded
    queued = []
    for signal in latest.values():
        # Bots that were there for the fan-out (a signal's time is to the second); a later bot waits for the next.
        started_before = signal.created + timedelta(seconds=1)
        bots = (Bot.objects.filter(strategy_id=signal.strategy_id, state=Bot.State.RUNNING, created__lt=started_before)
                .exclude(decisions__signal=signal).values_list("pk", "markets"))
        for bot_id, markets in bots:
            if signal.market in (markets or []):
                async_task("portfolios.tasks.bot_signal_execute", bot_id, signal.pk,
                           task_name=f"bot-{bot_id}-signal-{signal.pk}", group="signals", cluster=settings.ORDERS_QUEUE)
                queued.append((bot_id, signal.pk))
    if queued:
        log.warning("queued %s bot tasks again that no worker finished", len(queued))
    return queued


def positions_sell(*, bot):
    """Sell every position of a (stopping) bot back to its quote asset: one order per market."""
    orders = []
    try:
        key, exchange = key_exchange(key_id=bot.key_id)
    except KeyNotActive:
        return orders
    stamp = bot.state_changed_at.isoformat()
    for position in Position.objects.filter(bot=bot, quantity__gt=0):
        market = exchange.market(position.market)
        price = exchange.ticker_price(position.market)
        _free_quote, free_base = _free_balances(key, exchange, market)
        held = min(free_base, position.quantity)
        size = sizing.order_size(
            side="sell", fraction=Decimal(1), allocation=bot.allocation, position_qty=held,
            price=price, free_quote=Decimal(0), free_base=held,
            position_cap=None, market=market,
        )
        if not size.ok:
            log.info("bot %s: %s not sold: %s", bot.pk, position.market, size.reason)
            continue
        tag = "x" + hashlib.sha256(position.market.encode()).hexdigest()[:6]
        try:
            with transaction.atomic():
                order = Order.objects.create(
                    bot=bot, key=key, signal=None, purpose="stop", market=position.market, side="sell",
                    quantity=size.quantity, reference_price=price,
                    client_order_id=exchange.client_order_id(bot_id=bot.pk, tag=tag, salt=stamp),
                )
        except IntegrityError:
            continue  # already written by an earlier attempt
        orders.append(order_send(order=order, exchange=exchange))
    return orders


def orders_cancel_open(*, user):
    """Cancel every resting order of the user's bots. Returns how many were canceled."""
    canceled = 0
    for order in Order.objects.filter(bot__owner=user, state__in=[Order.State.OPEN, Order.State.PARTIAL]):
        try:
            _key, exchange = key_exchange(key_id=order.key_id)
            answer = exchange.order_cancel(symbol=order.market, order_id=order.exchange_order_id, bot_id=order.bot_id)
        except (KeyNotActive, ExchangeError) as error:
            log.warning("order %s not canceled: %s", order.pk, getattr(error, "reason", error))
            continue
        order_record(order=order, answer=answer, exchange=exchange)
        canceled += 1
    return canceled
