"""Bots: state changes (and, with execution, orders and reconciliation)."""

from django.db import transaction
from django.utils import timezone

from portfolios.models import Bot, BotStateChange


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
    from alerts.services import bot_state_alert

    bot_state_alert(change=change)
    return True


def bot_pause(*, bot, by=None, reason):
    return bot_state_set(bot=bot, to_state=Bot.State.PAUSED, by=by, reason=reason)


def bots_pause_for_key(*, key, reason, by=None):
    """Pause every running bot that trades with this key."""
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
        from portfolios.execution import positions_sell

        orders = positions_sell(bot=bot)
    return changed, orders


def kill_switch(*, user, by=None, cancel_orders=False, disable_keys=False, reason="Stop everything"):
    """Pause every bot of the user; optionally cancel open orders and disable every key."""
    from keys.models import ExchangeKey
    from keys.services import key_disable

    paused = 0
    for bot in Bot.objects.filter(owner=user, state=Bot.State.RUNNING):
        paused += bot_pause(bot=bot, by=by, reason=reason)
    canceled = 0
    if cancel_orders:
        from portfolios.execution import orders_cancel_open

        canceled = orders_cancel_open(user=user)
    disabled = 0
    if disable_keys:
        for key in ExchangeKey.objects.filter(owner=user, status=ExchangeKey.Status.ACTIVE):
            disabled += key_disable(key=key, by=by, reason=reason)
    return {"paused": paused, "canceled": canceled, "disabled": disabled}


class BotError(Exception):
    """A bot cannot do what was asked; the message is safe to show."""
