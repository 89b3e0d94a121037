"""Bots: state changes, the fan-out of signals to bots (with execution, orders and reconciliation)."""

import random
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from exchanges import ExchangeError, exchange_class, public_exchange
from exchanges.markets import market_min_notional
from keys.models import ExchangeKey
from keys.services import KeyNotActive, key_disable, key_exchange
from portfolios import bounds
from portfolios.alerting import bot_state_alert
from portfolios.execution import bot_cash_left, orders_cancel_open, positions_cost, positions_sell
from portfolios.models import Bot, BotStateChange, Position
from strategies.models import Signal

BOT_TASK = "portfolios.tasks.bot_signal_execute"
BATCH_TASK = "portfolios.tasks.signal_bots_execute"


def bot_state_set(*, bot, to_state, by=None, reason):
    """Move a bot to a new state and record who, why and when. Returns True if it changed."""
    with transaction.atomic():
        locked = Bot.objects.select_for_update().get(pk=bot.pk)
        if locked.state == to_state or locked.state == Bot.State.STOPPED:
            return False
        change = BotStateChange.objects.create(bot=locked, from_state=locked.state, to_state=to_state, by=by,
                                               reason=reason[:300])
        Bot.objects.filter(pk=locked.pk).update(state=to_state, state_reason=reason[:300], state_changed_at=timezone.now())
    bot.refresh_from_db()
    bot_state_alert(change=change)
    return True


def bot_pause(*, bot, by=None, reason):
    return bot_state_set(bot=bot, to_state=Bot.State.PAUSED, by=by, reason=reason)


def bots_pause_for_key(*, key, reason, by=None):
    """Pause every running bot that trades with this key (also when :data:`keys.services.key_disabled` is sent)."""
    paused = 0
    for bot in Bot.objects.filter(key=key, state=Bot.State.RUNNING):
        paused += bot_pause(bot=bot, by=by, reason=reason)
    return paused


def bot_resume(*, bot, by=None, reason="Resumed by the owner"):
    """Resume a paused bot, only when its key is active."""
    if bot.state != Bot.State.PAUSED:
        return False
    if not bot.key.is_active:
        raise BotError("The bot's exchange key is not active: re-enable the key first.")
    return bot_state_set(bot=bot, to_state=Bot.State.RUNNING, by=by, reason=reason)


def bot_stop(*, bot, by=None, reason="Stopped by the owner", sell_positions=False):
    """Stop a bot for good; optionally sell its positions back to the quote asset."""
    changed = bot_state_set(bot=bot, to_state=Bot.State.STOPPED, by=by, reason=reason)
    orders = []
    if changed and sell_positions:
        orders = positions_sell(bot=bot)
    return changed, orders


# Every way to stop everything (portal, Telegram, staff) gives a reason that starts with this: what it stopped can
# be found again and resumed in one go.
KILL_SWITCH_REASON = "Stop everything"


def kill_switch(*, user, by=None, cancel_orders=False, disable_keys=False, reason=KILL_SWITCH_REASON):
    """Pause every bot of the user; optionally cancel open orders and disable every key."""
    if not reason.startswith(KILL_SWITCH_REASON):
        raise ValueError(f"A kill switch's reason starts with {KILL_SWITCH_REASON!r}")
    paused = 0
    for bot in Bot.objects.filter(owner=user, state=Bot.State.RUNNING):
        paused += bot_pause(bot=bot, by=by, reason=reason)
    canceled = 0
    if cancel_orders:
        canceled = orders_cancel_open(user=user)
    disabled = 0
    if disable_keys:
        for key in ExchangeKey.objects.filter(owner=user, status=ExchangeKey.Status.ACTIVE):
            disabled += key_disable(key=key, by=by, reason=reason)
    return {"paused": paused, "canceled": canceled, "disabled": disabled}


def kill_switch_stopped(*, user):
    """What the user's last "Stop everything" stopped and is still stopped: (paused bots, disabled keys)."""
    bots = list(Bot.objects.filter(owner=user, state=Bot.State.PAUSED, state_reason__startswith=KILL_SWITCH_REASON)
                .select_related("key"))
    keys = list(ExchangeKey.objects.filter(owner=user, status=ExchangeKey.Status.DISABLED,
                                           status_reason__startswith=KILL_SWITCH_REASON))
    return bots, keys


def kill_switch_resume(*, user, by):
    """Resume every bot "Stop everything" paused whose key is active again. Returns (resumed, still waiting)."""
    bots, _keys = kill_switch_stopped(user=user)
    resumed, waiting = 0, 0
    for bot in bots:
        if not bot.key.is_active:
            waiting += 1
            continue
        resumed += bot_resume(bot=bot, by=by, reason="Resumed after Stop everything")
    return resumed, waiting


class BotError(Exception):
    """A bot cannot do what was asked; the message is safe to show."""


# --- creating and editing bots ------------------------------------------------------------------
#
# The rules a bot's settings must meet, checked here so the portal, the admin and any
# command share them. Rules that need no exchange run first; then, outside any
# transaction, the exchange is asked for its markets and the free balance. Bad input
# raises ValidationError ({field: [message]}) and changes nothing.


def _amount(value):
    return f"{value:,.2f}"


def _settings_text(*, markets, quote_asset, allocation, position_cap):
    return (
        f"markets {', '.join(markets)}; allocation {_amount(allocation)} {quote_asset}; "
        f"position cap {_amount(position_cap)} {quote_asset} per market"
    )


def _listing(items, verb=True):
    """"A, B and C are" (or "A is"); without ``verb``: "A, B or C"."""
    items = list(items)
    if not verb:
        return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]
    return ", ".join(items) + (" is" if len(items) == 1 else " are")


def _bot_rules(*, owner, key, strategy, markets, quote_asset, allocation, position_cap, check_key=True):
    """The rules that need no exchange, as {field: [message]}."""
    errors = {}

    def add(field, message):
        errors.setdefault(field, []).append(message)

    for field, what, value in (("allocation", "allocation", allocation), ("position_cap", "position cap", position_cap)):
        value = None if value is None else Decimal(value)
        if value is None or not value.is_finite() or value < bounds.AMOUNT_MIN:
            add(field, f"The {what} must be more than 0.")
        elif value > bounds.AMOUNT_MAX:
            add(field, f"The {what} must be at most {bounds.AMOUNT_MAX:,.0f}.")
    if quote_asset not in Bot.Quote.values:
        add("quote_asset", f"Choose one of {_listing(Bot.Quote.values, verb=False)}.")
    elif check_key and quote_asset not in exchange_class(key.exchange).quotes:
        venue = exchange_class(key.exchange)
        add("quote_asset", f"{venue.label} lists its markets in {_listing(venue.quotes, verb=False)}: "
                           "choose one of them.")
    if check_key:
        if key.owner_id != owner.pk:
            add("key", "Choose one of your own exchange keys.")
        elif not key.is_active:
            add("key", f"This key is {key.get_status_display().lower()}: re-enable it on the Keys page first.")
        elif key.can_withdraw:
            add("key", "This key can withdraw funds. A bot trades only with a trade-only key.")
        elif not key.can_trade:
            add("key", "This key cannot trade spot. Enable spot trading on it at the exchange (keep withdrawals off).")
    if not markets:
        add("markets", "Choose at least one market.")
    outside = [m for m in markets if m not in (strategy.markets or [])]
    if outside:
        add("markets", f"{_listing(outside)} not traded by the strategy {strategy.name}.")
    if quote_asset in Bot.Quote.values:
        other_quote = [m for m in markets if m.split("/")[-1] != quote_asset]
        if other_quote:
            add("markets", f"{_listing(other_quote)} not quoted in {quote_asset}.")
    return errors


def _held_markets(*, bot, markets, exchange_markets):
    """Markets the bot still holds more than dust in (by the exchange's min notional)."""
    held = []
    for position in Position.objects.filter(bot=bot, market__in=markets, quantity__gt=0):
        market = exchange_markets.get(position.market)
        min_notional = market_min_notional(market) if market else None
        if not min_notional or position.quantity * position.last_price >= min_notional:
            held.append(position.market)
    return held


def _exchange_rules(*, key, markets, quote_asset, allocation, bot=None):
    """The rules the exchange answers now: its markets and the free balance of the quote asset."""
    try:
        _key, exchange = key_exchange(key_id=key.pk)
        known = exchange.markets()
        balances = exchange.balances()
    except KeyNotActive:
        return {"key": ["This key is no longer active: re-enable it on the Keys page first."]}
    except ExchangeError as error:
        label = key.get_exchange_display()
        return {NON_FIELD_ERRORS: [f"Could not check the settings with {label}: {error.reason}. "
                                   "Nothing was saved; try again."]}
    errors = {}
    missing = [m for m in markets if m not in known]
    if missing:
        errors["markets"] = [f"{exchange.label} has no spot market {', '.join(missing)}."]
    free = balances.get(quote_asset, {}).get("free", Decimal(0))
    # Of its allocation, a bot already holds what its open positions cost: that part is not free any more.
    invested = Decimal(0)
    if bot is not None:
        invested = positions_cost(Position.objects.filter(bot=bot, quantity__gt=0))
    # The other bots on this key may still spend what is left of their allocations: that part is taken.
    others = (Bot.objects.filter(key=key, quote_asset=quote_asset).exclude(state=Bot.State.STOPPED)
              .exclude(pk=getattr(bot, "pk", None)).prefetch_related("positions").order_by("name"))
    kept = [(other.name, bot_cash_left(other, other.positions.all())) for other in others]
    kept = [(name, amount) for name, amount in kept if amount > 0]
    reserved = sum((amount for _, amount in kept), Decimal(0))
    if allocation > free + invested - reserved:
        message = f"More than the free {quote_asset} balance on {exchange.label}: {_amount(free)} {quote_asset} free now"
        if reserved:
            message += (f", of which {_amount(reserved)} {quote_asset} is kept for your other bots on this key "
                        f"({', '.join(name for name, _ in kept)})")
        if invested:
            message += f", plus {_amount(invested)} {quote_asset} this bot holds in positions"
        errors["allocation"] = [message + "."]
    return errors


def bot_create(*, owner, key, strategy, name, markets, quote_asset, allocation, position_cap, by=None):
    """Start a bot on the owner's key after checking its settings with the exchange. Raises ValidationError."""
    markets = list(dict.fromkeys(markets or []))
    name = (name or "").strip()
    errors = _bot_rules(owner=owner, key=key, strategy=strategy, markets=markets, quote_asset=quote_asset,
                        allocation=allocation, position_cap=position_cap)
    if not name:
        errors.setdefault("name", []).append("Give the bot a name.")
    if not strategy.active:
        errors.setdefault("strategy", []).append("This strategy no longer publishes signals.")
    if errors:
        raise ValidationError(errors)
    errors = _exchange_rules(key=key, markets=markets, quote_asset=quote_asset, allocation=allocation)
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        bot = Bot.objects.create(
            owner=owner, key=key, strategy=strategy, name=name[:60], markets=markets, quote_asset=quote_asset,
            allocation=allocation, position_cap=position_cap,
        )
        text = _settings_text(markets=markets, quote_asset=quote_asset, allocation=allocation,
                              position_cap=position_cap)
        BotStateChange.objects.create(bot=bot, from_state=bot.state, to_state=bot.state, by=by or owner,
                                      reason=f"Created: {text}"[:300])
    return bot


def bot_update(*, bot, by, name=None, markets=None, allocation=None, position_cap=None):
    """Change a bot's name, markets, allocation or position cap; None keeps a value. Raises ValidationError.

    The key, strategy and quote asset stay as created. Raising the allocation or
    adding a market is checked with the exchange (and needs an active key);
    lowering or removing is not, except that a market the bot still holds cannot be
    dropped. Every change leaves a row in the bot's history.
    """
    if bot.state == Bot.State.STOPPED:
        raise ValidationError({NON_FIELD_ERRORS: ["A stopped bot cannot be changed. Create a new bot instead."]})
    new = {
        "name": bot.name if name is None else name.strip(),
        "markets": list(bot.markets) if markets is None else list(dict.fromkeys(markets)),
        "allocation": bot.allocation if allocation is None else allocation,
        "position_cap": bot.position_cap if position_cap is None else position_cap,
    }
    added = [m for m in new["markets"] if m not in bot.markets]
    dropped = [m for m in bot.markets if m not in new["markets"]]
    needs_exchange = bool(added) or (new["allocation"] is not None and new["allocation"] > bot.allocation)
    errors = _bot_rules(owner=bot.owner, key=bot.key, strategy=bot.strategy, markets=new["markets"],
                        quote_asset=bot.quote_asset, allocation=new["allocation"],
                        position_cap=new["position_cap"], check_key=needs_exchange)
    if not new["name"]:
        errors.setdefault("name", []).append("Give the bot a name.")
    if errors:
        raise ValidationError(errors)
    if dropped and Position.objects.filter(bot=bot, market__in=dropped, quantity__gt=0).exists():
        try:
            exchange_markets = public_exchange(bot.key.exchange).markets()
        except ExchangeError as error:
            raise ValidationError({NON_FIELD_ERRORS: [f"Could not read the exchange's markets: {error.reason}. "
                                                      "Nothing was saved; try again."]}) from None
        held = _held_markets(bot=bot, markets=dropped, exchange_markets=exchange_markets)
        if held:
            raise ValidationError({"markets": [
                f"The bot still holds {', '.join(held)}: keep the market until the position is sold, "
                "or stop the bot and sell its positions."
            ]})
    if needs_exchange:
        errors = _exchange_rules(key=bot.key, markets=new["markets"], quote_asset=bot.quote_asset,
                                 allocation=new["allocation"], bot=bot)
        if errors:
            raise ValidationError(errors)

    changes = []
    if new["name"] != bot.name:
        changes.append(f"name “{bot.name}” → “{new['name']}”")
    if added:
        changes.append(f"markets added: {', '.join(added)}")
    if dropped:
        changes.append(f"markets removed: {', '.join(dropped)}")
    if new["allocation"] != bot.allocation:
        changes.append(f"allocation {_amount(bot.allocation)} → {_amount(new['allocation'])} {bot.quote_asset}")
    if new["position_cap"] != bot.position_cap:
        changes.append(f"position cap {_amount(bot.position_cap)} → {_amount(new['position_cap'])} {bot.quote_asset}")
    if not changes:
        return bot
    with transaction.atomic():
        locked = Bot.objects.select_for_update().get(pk=bot.pk)
        if locked.state == Bot.State.STOPPED:
            raise ValidationError({NON_FIELD_ERRORS: ["The bot was stopped meanwhile: nothing was changed."]})
        Bot.objects.filter(pk=locked.pk).update(name=new["name"][:60], markets=new["markets"],
                                                allocation=new["allocation"], position_cap=new["position_cap"])
        BotStateChange.objects.create(bot=locked, from_state=locked.state, to_state=locked.state, by=by,
                                      reason=("Settings changed: " + "; ".join(changes))[:300])
    bot.refresh_from_db()
    return bot


_shuffle = random.SystemRandom()


def signals_fan_out(*, signal_ids):
    """Queue ``portfolios.tasks.signal_bots_execute(signal_id, bot_ids)`` for every running bot of each signal.

    A bot gets a signal when it is running, follows the signal's strategy and
    lists the signal's market. A task takes the bots of ``ORDER_THREADS`` keys
    (the threads a worker runs them on, one per key). Tasks carry ids only; each
    bot's part is idempotent (one order at most per bot and signal), so a
    repeated fan-out is harmless. Hold signals go out too: the bot records that
    it held. Keys, and bots within a key, are served in a new random order for
    each signal. Returns the (bot_id, signal_id) pairs queued.
    """
    signals = list(Signal.objects.filter(pk__in=signal_ids).values_list("pk", "strategy_id", "market"))
    if not signals:
        return []
    strategy_ids = {strategy_id for _, strategy_id, _ in signals}
    bots = list(Bot.objects.filter(strategy_id__in=strategy_ids, state=Bot.State.RUNNING)
                .values_list("pk", "strategy_id", "markets", "key_id"))
    queued = []
    keys_per_task = max(1, settings.ORDER_THREADS)
    for signal_id, strategy_id, market in signals:
        # A new order per signal: the same users are not always served last.
        _shuffle.shuffle(bots)
        by_key = {}
        for bot_id, bot_strategy_id, bot_markets, key_id in bots:
            if bot_strategy_id == strategy_id and market in (bot_markets or []):
                by_key.setdefault(key_id, []).append(bot_id)
        groups = list(by_key.values())
        for first in range(0, len(groups), keys_per_task):
            bot_ids = [bot_id for group in groups[first:first + keys_per_task] for bot_id in group]
            async_task(BATCH_TASK, signal_id, bot_ids, task_name=f"signal-{signal_id}-bots-{bot_ids[0]}",
                       group="signals", cluster=settings.ORDERS_QUEUE)
            queued.extend((bot_id, signal_id) for bot_id in bot_ids)
    return queued


def signals_issued_received(sender, *, signal_ids, **kwargs):
    """A strategy run's signals committed: fan them out (connected in :class:`PortfoliosConfig`)."""
    signals_fan_out(signal_ids=signal_ids)


def key_disabled_received(sender, *, key, reason, by=None, **kwargs):
    """A key was disabled or deleted: its bots are paused, saying why (connected in :class:`PortfoliosConfig`)."""
    bots_pause_for_key(key=key, reason=reason, by=by)
