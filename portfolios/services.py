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
        BotStateChange.objects.create(bot=locked, from_state=locked.state, to_state=to_state, by=by, reason=reason[:300])
        Bot.objects.filter(pk=locked.pk).update(state=to_state, state_reason=reason[:300], state_changed_at=timezone.now())
    bot.refresh_from_db()
    return True


def bot_pause(*, bot, by=None, reason):
    return bot_state_set(bot=bot, to_state=Bot.State.PAUSED, by=by, reason=reason)


def bots_pause_for_key(*, key, reason, by=None):
    """Pause every running bot that trades with this key."""
    paused = 0
    for bot in Bot.objects.filter(key=key, state=Bot.State.RUNNING):
        paused += bot_pause(bot=bot, by=by, reason=reason)
    return paused
