"""One handler for Telegram updates, whether they come by webhook or by long polling.

A chat that is not linked gets only a "link from the portal" reply (and
``/start <token>`` to link it). Linked chats' commands go through the same
services as the portal; ``/resume`` and ``/stop`` ask to confirm with a button.
"""

import logging
from decimal import Decimal

from allauth.core import ratelimit
from django.db.models import Q
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from alerts import selectors, telegram
from alerts.channels import absolute_url
from alerts.errors import ChannelError
from alerts.models import Alert, TelegramLink
from alerts.services import LinkError, channel_switch_off, telegram_link_complete, telegram_unlink
from portfolios.models import Bot
from portfolios.services import BotError, bot_pause, bot_resume, kill_switch

log = logging.getLogger(__name__)


def _link_attempt_allowed(chat_id, *, dry_run=False):
    """The "telegram_link_failed" rate (shared cache, like every limit): refused tokens per chat."""
    update = HttpRequest()  # an update is no HTTP request; the rate is keyed by chat, not by address
    update.method = "POST"
    return ratelimit.consume(update, action="telegram_link_failed", key=f"chat:{chat_id}", dry_run=dry_run)

HELP = (
    "OneClick commands:\n"
    "/status: your bots, equity and today's PnL\n"
    "/balance: balances on your exchange accounts\n"
    "/positions: your bots' open positions\n"
    "/pause [bot]: pause one bot (or every running bot)\n"
    "/resume [bot]: resume one bot (or every paused bot), after you confirm\n"
    "/stop: the kill switch: pause every bot, after you confirm\n"
    "/alerts: your last alerts\n"
    "/unlink: stop receiving alerts in this chat\n"
    "/help: this list"
)


def _not_linked_text():
    return ("This chat is not linked to a OneClick account. Link it from the portal: open "
            f"{absolute_url(reverse('alerts:settings'))} and press \"Link Telegram\".")


def _reply(chat_id, text, keyboard=None, link=None):
    try:
        telegram.send_message(chat_id, text, keyboard=keyboard)
    except ChannelError as error:
        if error.switch_off and link is not None:
            channel_switch_off(user=link.user, channel="telegram", reason=error.reason)
        log.warning("telegram reply to a chat failed: %s", error.reason)


def _answer(callback_id, text=""):
    try:
        telegram.answer_callback(callback_id, text)
    except ChannelError as error:
        log.warning("telegram callback answer failed: %s", error.reason)


def _chat_name(chat):
    return chat.get("title") or chat.get("username") or " ".join(
        filter(None, [chat.get("first_name"), chat.get("last_name")])
    )


def _dict(value):
    return value if isinstance(value, dict) else {}


def _chat_id(value):
    """A chat id as the Bot API sends it (an integer), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def update_handle(update):
    """Handle one update (a dict as the Bot API sends it). Returns a short label of what was done.

    Anything not shaped like an update (a field of the wrong type) is ignored, never an error.
    """
    if "callback_query" in update:
        return _callback(_dict(update["callback_query"]))
    message = _dict(update.get("message"))
    chat = _dict(message.get("chat"))
    chat_id = _chat_id(chat.get("id"))
    text = message.get("text")
    text = text.strip() if isinstance(text, str) else ""
    if chat_id is None:
        return "ignored"
    command, _, argument = text.partition(" ")
    command = command.split("@", 1)[0].lower()
    argument = argument.strip()
    link = TelegramLink.objects.filter(chat_id=chat_id).select_related("user").first()
    if command == "/start" and argument:
        if not _link_attempt_allowed(chat_id, dry_run=True):
            _reply(chat_id, "Too many link attempts from this chat. Wait a few minutes and try again.")
            return "link_limited"
        try:
            user = telegram_link_complete(token=argument, chat_id=chat_id, chat_name=_chat_name(chat))
        except LinkError as error:
            _link_attempt_allowed(chat_id)
            _reply(chat_id, str(error))
            return "link_refused"
        _reply(chat_id, f"Linked to your OneClick account ({user.email}). Alerts arrive here.\n\n{HELP}")
        return "linked"
    if link is None:
        _reply(chat_id, _not_linked_text())
        return "not_linked"
    if not link.active:
        # The user wrote again: the chat works, so alerts may use it again.
        TelegramLink.objects.filter(pk=link.pk).update(active=True, off_reason="")
    handler = COMMANDS.get(command, _help)
    return handler(link, argument)


def _status(link, argument):
    rows = selectors.bots_status(user=link.user, now=timezone.now())
    if not rows:
        return _send(link, "You have no bots yet.", "status")
    lines = []
    for row in rows:
        bot = row["bot"]
        equity = f"{row['equity'].quantize(Decimal('0.01'))} {bot.quote_asset}" if row["equity"] is not None else "n/a"
        lines.append(f"{bot.name}: {bot.get_state_display().lower()}, equity {equity}, "
                     f"today {row['pnl_today'].quantize(Decimal('0.01')):+}")
    return _send(link, "\n".join(lines), "status")


def _balance(link, argument):
    rows = selectors.balances(user=link.user)
    if not rows:
        return _send(link, "No balances recorded yet.", "balance")
    lines = [f"{b.key.label}: {b.asset} {b.total.normalize():f} (free {b.free.normalize():f})" for b in rows]
    return _send(link, "\n".join(lines), "balance")


def _positions(link, argument):
    rows = selectors.positions(user=link.user)
    if not rows:
        return _send(link, "No open positions.", "positions")
    lines = [f"{p.bot.name}: {p.market} {p.quantity.normalize():f} at {p.average_entry.quantize(Decimal('0.01'))}, "
             f"unrealized {p.unrealized_pnl.quantize(Decimal('0.01')):+}" for p in rows]
    return _send(link, "\n".join(lines), "positions")


def _bots(link, argument, state):
    bots = Bot.objects.filter(owner=link.user, state=state).select_related("key")
    if argument:
        query = Q(name__iexact=argument)
        if argument.isdecimal():  # not isdigit(): "²" is a digit that int() refuses
            query |= Q(pk=int(argument))
        bots = bots.filter(query)
    return list(bots.order_by("name"))


def _pause(link, argument):
    bots = _bots(link, argument, "running")
    if not bots:
        return _send(link, f"No running bot{' named ' + argument if argument else ''}.", "pause")
    for bot in bots:
        bot_pause(bot=bot, by=link.user, reason="Paused from Telegram")
    return _send(link, "Paused: " + ", ".join(bot.name for bot in bots), "pause")


def _resume(link, argument):
    bots = _bots(link, argument, "paused")
    if not bots:
        return _send(link, f"No paused bot{' named ' + argument if argument else ''}.", "resume")
    target = str(bots[0].pk) if len(bots) == 1 else "all"
    names = ", ".join(bot.name for bot in bots)
    keyboard = telegram.buttons([[(f"Resume {names}"[:60], f"resume:{target}"), ("Cancel", "cancel")]])
    return _send(link, f"Resume {names}? Confirm with the button.", "resume_asked", keyboard)


def _stop(link, argument):
    keyboard = telegram.buttons([[("Stop everything", "stop:all"), ("Cancel", "cancel")]])
    return _send(link, "Kill switch: pause every bot now? Confirm with the button.", "stop_asked", keyboard)


def _alerts(link, argument):
    alerts = list(Alert.objects.filter(user=link.user).order_by("-created", "-id")[:5])
    if not alerts:
        return _send(link, "No alerts.", "alerts")
    lines = [f"{a.created:%Y-%m-%d %H:%M} [{a.severity}] {a.title}" + (f" (x{a.count})" if a.count > 1 else "")
             for a in alerts]
    return _send(link, "\n".join(lines) + f"\n\nAll alerts: {absolute_url(reverse('alerts:list'))}", "alerts")


def _unlink(link, argument):
    telegram_unlink(user=link.user)
    _reply(link.chat_id, "Unlinked. This chat no longer receives OneClick alerts.")
    return "unlinked"


def _help(link, argument):
    return _send(link, HELP, "help")


def _send(link, text, label, keyboard=None):
    _reply(link.chat_id, text, keyboard, link)
    return label


COMMANDS = {
    "/status": _status,
    "/balance": _balance,
    "/positions": _positions,
    "/pause": _pause,
    "/resume": _resume,
    "/stop": _stop,
    "/alerts": _alerts,
    "/unlink": _unlink,
    "/help": _help,
    "/start": _help,
}


def _callback(query):
    callback_id = query.get("id")
    chat_id = _chat_id(_dict(_dict(query.get("message")).get("chat")).get("id"))
    data = query.get("data") if isinstance(query.get("data"), str) else ""
    link = TelegramLink.objects.filter(chat_id=chat_id).select_related("user").first() if chat_id else None
    if link is None:
        _answer(callback_id, "Not linked")
        if chat_id:
            _reply(chat_id, _not_linked_text())
        return "not_linked"
    action, _, target = data.partition(":")
    if action == "resume":
        bots = _bots(link, "" if target == "all" else target, "paused")
        resumed, refused = [], []
        for bot in bots:
            try:
                if bot_resume(bot=bot, by=link.user, reason="Resumed from Telegram"):
                    resumed.append(bot.name)
            except BotError as error:
                refused.append(f"{bot.name}: {error}")
        _answer(callback_id, "Done" if resumed else "Nothing resumed")
        text = ("Resumed: " + ", ".join(resumed)) if resumed else "Nothing was resumed."
        if refused:
            text += "\n" + "\n".join(refused)
        return _send(link, text, "resumed")
    if action == "stop":
        result = kill_switch(user=link.user, by=link.user, reason="Stop everything (Telegram)")
        _answer(callback_id, "Stopped")
        return _send(link, f"Kill switch: {result['paused']} bot(s) paused.", "stopped")
    _answer(callback_id, "Cancelled")
    return _send(link, "Cancelled: nothing changed.", "cancelled")
