"""From a signal to at most one order, whatever crashes and duplicates happen.

1. Guard: the signal is authentic, fresh, not replayed, for a running bot
   with an active key, in one of its markets, and its size passes the
   exchange's filters and the bot's limits. A refusal is a visible row
   (:class:`SignalDecision`), never a silent drop.
2. Write ahead: the :class:`Order` row (``pending``) with a client order id
   derived from (bot, signal) is committed before anything is sent; a unique
   constraint makes a second delivery of the same task find it.
3. Send outside any transaction, after winning a conditional update (so two
   workers never send the same row). A lost answer is never retried blindly:
   the order is looked up by its client order id first, and sent again (same
   id) only when the exchange provably does not have it.
4. Record the exchange's answer and its fills.

``orders_recover`` resolves rows a crash left ``pending`` or ``sent``.
"""

import hashlib
import logging
import time
from datetime import timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from keys.models import ExchangeKey
from keys.services import KeyNotActive, key_auth_failure_record, key_exchange
from portfolios import sizing
from portfolios.gateway import AuthFailed, ExchangeError, ExchangeRejected, PermissionDenied, RateLimited, Transient
from portfolios.models import Balance, Bot, Order, Position, SignalDecision

log = logging.getLogger(__name__)

# A row younger than this belongs to the worker that wrote it; older ones are recovered.
RECOVERY_AGE = timedelta(seconds=45)
# Wait between two look-ups before concluding the exchange does not have an order.
LOOKUP_WINDOW_SECONDS = 1.0
MAX_SEND_ATTEMPTS = 3
BALANCE_MAX_AGE = timedelta(minutes=10)


def client_order_id(*, bot_id, tag, salt):
    """Deterministic, Binance-valid (``^[a-zA-Z0-9-_]{1,36}$``) and unique across deployments."""
    digest = hashlib.sha256(f"{bot_id}:{tag}:{salt}".encode()).hexdigest()[:8]
    return f"oc-{bot_id}-{tag}-{digest}"[:36]


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


def _bot_free_quote(bot, positions, account_free_quote):
    """What the bot may still spend, within the account's free cash."""
    return min(account_free_quote, bot_cash_left(bot, positions))


def _free_balances(key, exchange, market):
    """Free quote and base, from the last reconciliation when recent enough, else from the exchange."""
    base, quote = market["base"], market["quote"]
    fresh_after = timezone.now() - BALANCE_MAX_AGE
    rows = {b.asset: b for b in Balance.objects.filter(key=key, asset__in=[base, quote], updated__gte=fresh_after)}
    if quote not in rows:
        from portfolios.reconcile import balances_store

        balances_store(key=key, balances=exchange.balances())
        rows = {b.asset: b for b in Balance.objects.filter(key=key, asset__in=[base, quote])}
    free = {asset: row.free for asset, row in rows.items()}
    return free.get(quote, Decimal(0)), free.get(base, Decimal(0))


def _price(exchange, symbol):
    from portfolios.reconcile import ticker_price

    return ticker_price(exchange, symbol)


def signal_execute(*, bot_id, signal_id):
    """The task body of the fan-out: guard, write ahead, send, record. Idempotent."""
    from strategies.models import Signal
    from strategies.services import signal_verify

    bot = Bot.objects.select_related("key", "strategy").get(pk=bot_id)
    signal = Signal.objects.select_related("strategy").get(pk=signal_id)

    existing = Order.objects.filter(bot=bot, signal=signal).first()
    if existing is not None:
        # A second delivery: the row's owner (or the recovery pass) finishes it.
        started = existing.sent_at or existing.created
        if existing.state in Order.UNRESOLVED and timezone.now() - started > RECOVERY_AGE:
            order_resolve(order=existing)
        return existing
    if SignalDecision.objects.filter(bot=bot, signal=signal).exists():
        return None

    # Cheap checks first, re-read now (not when the task was queued).
    if bot.state != Bot.State.RUNNING:
        return _ignore(bot, signal, f"Bot is {bot.get_state_display().lower()}")
    if bot.key.status != ExchangeKey.Status.ACTIVE:
        return _ignore(bot, signal, f"Exchange key is {bot.key.get_status_display().lower()}")
    if signal.market not in (bot.markets or []):
        return _ignore(bot, signal, f"{signal.market} is not one of the bot's markets")
    if signal.strategy_id != bot.strategy_id:
        return _ignore(bot, signal, "The signal comes from another strategy")
    if signal.action == "hold":
        verification = signal_verify(signal=signal, strategy=bot.strategy)
        if not verification:
            return _ignore(bot, signal, verification.reason)
        with transaction.atomic():
            return _decide(bot, signal, SignalDecision.Outcome.HOLD, signal.reason or "Hold")

    try:
        key, exchange = key_exchange(key_id=bot.key_id)
        market = exchange.market(signal.market)
        if market["quote"] != bot.quote_asset:
            return _ignore(bot, signal, f"{signal.market} is not quoted in {bot.quote_asset}")
        price = _price(exchange, signal.market)
        free_quote, free_base = _free_balances(key, exchange, market)
    except KeyNotActive as error:
        return _ignore(bot, signal, str(error))
    except ExchangeError as error:
        if error.retryable:
            raise  # the task is retried by the queue; nothing was written
        return _ignore(bot, signal, f"Exchange refused the market data: {error.reason}")

    positions = list(Position.objects.filter(bot=bot))
    position_qty = next((p.quantity for p in positions if p.market == signal.market), Decimal(0))
    size = sizing.order_size(
        side=signal.action,
        fraction=signal.fraction,
        allocation=bot.allocation,
        position_qty=position_qty,
        price=price,
        free_quote=_bot_free_quote(bot, positions, free_quote),
        free_base=min(free_base, position_qty) if signal.action == "sell" else free_base,
        position_cap=bot.position_cap,
        market=market,
    )

    with transaction.atomic():
        # The receipt (replay protection) commits with the order intent, or not at all.
        verification = signal_verify(signal=signal, strategy=bot.strategy, consumer=f"bot:{bot.pk}")
        if not verification:
            _decide(bot, signal, SignalDecision.Outcome.IGNORED, verification.reason)
            return None
        if not size.ok:
            oversize = size.refusal in ("over_position_cap", "over_market_max", "over_free_balance")
            reason = f"{size.reason}; ignored, not trimmed" if oversize else size.reason
            _decide(bot, signal, SignalDecision.Outcome.IGNORED, reason)
            return None
        try:
            with transaction.atomic():
                order = Order.objects.create(
                    bot=bot, key=key, signal=signal, market=signal.market, side=signal.action,
                    quantity=size.quantity, reference_price=price,
                    client_order_id=client_order_id(bot_id=bot.pk, tag=f"s{signal.pk}", salt=signal.signature),
                )
                SignalDecision.objects.create(bot=bot, signal=signal, outcome=SignalDecision.Outcome.ORDERED,
                                              reason=f"{signal.action} {size.quantity} at ~{price}")
        except IntegrityError:
            return Order.objects.get(bot=bot, signal=signal)
    order_send(order=order, exchange=exchange)
    return order


def _claim(order, from_state):
    """Win the right to send: only one worker's conditional update succeeds."""
    claimed = Order.objects.filter(pk=order.pk, state=from_state, attempts=order.attempts).update(
        state=Order.State.SENT, attempts=order.attempts + 1, sent_at=timezone.now()
    )
    if claimed:
        order.state, order.attempts = Order.State.SENT, order.attempts + 1
    return bool(claimed)


def _fail(order, state, reason):
    from alerts.services import order_state_alert

    # The alert commits with the outcome: a crash between the two never loses it.
    with transaction.atomic():
        Order.objects.filter(pk=order.pk).update(state=state, error=reason[:300])
        order.state, order.error = state, reason[:300]
        order_state_alert(order=order)


def order_send(*, order, exchange=None, from_state=Order.State.PENDING):
    """Send a written order (never inside a transaction), then record the answer."""
    if not _claim(order, from_state):
        return order
    try:
        if exchange is None:
            _key, exchange = key_exchange(key_id=order.key_id)
        params = {"newClientOrderId": order.client_order_id, "newOrderRespType": "FULL"}
        answer = exchange.call("create_order", order.market, "market", order.side, float(order.quantity), None, params)
    except KeyNotActive as error:
        _fail(order, Order.State.CANCELED, f"Not sent: {error}")
        return order
    except RateLimited as error:
        # Refused before execution: back to pending; the recovery pass sends it later.
        Order.objects.filter(pk=order.pk).update(state=Order.State.PENDING, error=error.reason[:300])
        order.state = Order.State.PENDING
        return order
    except Transient:
        return order_resolve(order=order, exchange=exchange, lost_answer=True)
    except (AuthFailed, PermissionDenied) as error:
        _fail(order, Order.State.FAILED, error.reason)
        key_auth_failure_record(key=order.key, detail=error.reason)
        return order
    except ExchangeRejected as error:
        _fail(order, Order.State.REJECTED, error.reason)
        return order
    return order_record(order=order, answer=answer, exchange=exchange)


def _lookup(exchange, order):
    """The exchange's view of our order by client order id, or None when it has none."""
    try:
        return exchange.call("fetch_order", None, order.market, {"clientOrderId": order.client_order_id})
    except ExchangeRejected:
        return None  # unknown order (-2013)


def order_resolve(*, order, exchange=None, lost_answer=False):
    """Find out what happened to a pending/sent order and finish it, never sending twice."""
    order.refresh_from_db()
    if order.state not in Order.UNRESOLVED:
        return order
    try:
        if exchange is None:
            _key, exchange = key_exchange(key_id=order.key_id)
        found = _lookup(exchange, order)
        if found is None and lost_answer:
            time.sleep(LOOKUP_WINDOW_SECONDS)
            found = _lookup(exchange, order)
    except KeyNotActive as error:
        if order.state == Order.State.PENDING or order.attempts == 0:
            _fail(order, Order.State.CANCELED, f"Not sent: {error}")
        return order
    except ExchangeError as error:
        log.warning("order %s still unresolved: %s", order.pk, error.reason)
        return order
    if found is not None:
        return order_record(order=order, answer=found, exchange=exchange)
    # The exchange provably does not have it: send again, same client order id.
    if order.attempts >= MAX_SEND_ATTEMPTS:
        _fail(order, Order.State.FAILED, f"Not accepted after {order.attempts} attempts")
        return order
    if lost_answer:
        Order.objects.filter(pk=order.pk, state=Order.State.SENT).update(state=Order.State.PENDING)
        order.state = Order.State.PENDING
    return order_send(order=order, exchange=exchange, from_state=order.state)


_STATES = {
    "closed": Order.State.FILLED,
    "open": Order.State.OPEN,
    "canceled": Order.State.CANCELED,
    "expired": Order.State.CANCELED,
    "rejected": Order.State.REJECTED,
}


def order_record(*, order, answer, exchange):
    """Store the exchange's answer (ids, state, fills) on the order."""
    from portfolios.reconcile import fills_store

    filled = sizing.to_decimal(answer.get("filled"), Decimal(0))
    state = _STATES.get(answer.get("status"), Order.State.OPEN)
    if state == Order.State.OPEN and filled > 0:
        state = Order.State.PARTIAL
    if state == Order.State.CANCELED and filled > 0:
        state = Order.State.PARTIAL
    changes = {
        "exchange_order_id": str(answer.get("id") or ""),
        "state": state,
        "filled_quantity": filled,
        "average_price": sizing.to_decimal(answer.get("average")),
        "cost": sizing.to_decimal(answer.get("cost"), Decimal(0)),
        "error": "",
    }
    from alerts.services import order_state_alert

    # The answer, its fills and the alert commit together: a crash between them never loses the alert.
    with transaction.atomic():
        Order.objects.filter(pk=order.pk).update(**changes)
        for name, value in changes.items():
            setattr(order, name, value)
        # Fills in an order's answer do not repeat the order id: they are this order's.
        trades = [{**trade, "order": trade.get("order") or order.exchange_order_id}
                  for trade in answer.get("trades") or []]
        if trades:
            fills_store(key=order.key, market=order.market, trades=trades, orders={order.exchange_order_id: order})
        order_state_alert(order=order)
    return order


def orders_recover(*, older_than=RECOVERY_AGE):
    """Resolve every order a crash or a lost answer left pending or sent."""
    cutoff = timezone.now() - older_than
    resolved = 0
    stale = Q(state=Order.State.PENDING, created__lt=cutoff) | Q(state=Order.State.SENT, sent_at__lt=cutoff)
    for order in Order.objects.filter(stale).select_related("key"):
        order_resolve(order=order)
        resolved += 1
    return resolved


def signals_redeliver(*, older_than=RECOVERY_AGE, queue_size=None):
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

    from strategies.models import Signal

    if (get_broker().queue_size() if queue_size is None else queue_size) > 0:
        return []
    now = timezone.now()
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
                           task_name=f"bot-{bot_id}-signal-{signal.pk}", group="signals")
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
        price = _price(exchange, position.market)
        _free_quote, free_base = _free_balances(key, exchange, market)
        size = sizing.order_size(
            side="sell", fraction=Decimal(1), allocation=bot.allocation, position_qty=position.quantity,
            price=price, free_quote=Decimal(0), free_base=min(free_base, position.quantity),
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
                    client_order_id=client_order_id(bot_id=bot.pk, tag=tag, salt=stamp),
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
            answer = exchange.call("cancel_order", order.exchange_order_id, order.market)
        except (KeyNotActive, ExchangeError) as error:
            log.warning("order %s not canceled: %s", order.pk, getattr(error, "reason", error))
            continue
        order_record(order=order, answer=answer, exchange=exchange)
        canceled += 1
    return canceled
