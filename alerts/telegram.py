"""The Telegram Bot API through python-telegram-bot's ``Bot``, called from synchronous code.

``base_url`` comes from ``TELEGRAM_API_BASE_URL``, so tests and the demo can
point it at a local server. Errors are mapped once to :class:`ChannelError`.
"""

import asyncio

from django.conf import settings
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram import error as tg_error
from telegram.request import HTTPXRequest

from alerts.errors import ChannelError
from oneclick.lib.logscrub import register_secret

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 15.0


def _requests(read_timeout):
    return [HTTPXRequest(connect_timeout=CONNECT_TIMEOUT, read_timeout=read_timeout) for _ in range(2)]


def _call(method, *, read_timeout=READ_TIMEOUT, **kwargs):
    if not settings.TELEGRAM_BOT_TOKEN:
        raise ChannelError("Telegram is not configured (no TELEGRAM_BOT_TOKEN)")
    # The token is part of every request URL (and so of HTTP client log lines).
    register_secret(settings.TELEGRAM_BOT_TOKEN)

    async def run():
        requests = _requests(read_timeout)
        bot = Bot(settings.TELEGRAM_BOT_TOKEN, base_url=settings.TELEGRAM_API_BASE_URL,
                  request=requests[0], get_updates_request=requests[1])
        try:
            return await getattr(bot, method)(**kwargs)
        finally:
            for request in requests:
                await request.shutdown()

    try:
        return asyncio.run(run())
    except tg_error.Forbidden as error:
        # The user blocked the bot or left the chat: only they can undo it.
        raise ChannelError(f"Telegram refused: {error.message}", switch_off=True) from None
    except tg_error.BadRequest as error:
        gone = "chat not found" in error.message.lower() or "user is deactivated" in error.message.lower()
        raise ChannelError(f"Telegram refused: {error.message}", permanent=True, switch_off=gone) from None
    except tg_error.RetryAfter as error:
        raise ChannelError(f"Telegram asked to wait {error.retry_after}") from None
    except tg_error.InvalidToken:
        raise ChannelError("Telegram did not accept the bot token") from None
    except tg_error.TelegramError as error:
        raise ChannelError(f"Telegram unreachable ({type(error).__name__})") from None


def bot_username():
    """The bot's @username (without @): from ``TELEGRAM_BOT_USERNAME``, else asked from Telegram once."""
    from django.core.cache import cache

    if settings.TELEGRAM_BOT_USERNAME:
        return settings.TELEGRAM_BOT_USERNAME
    cache_key = "alerts:telegram:username"
    username = cache.get(cache_key)
    if username is None:
        username = _call("get_me").username
        cache.set(cache_key, username, 3600)
    return username


def buttons(rows):
    """An inline keyboard from rows of (label, callback data)."""
    return InlineKeyboardMarkup([[InlineKeyboardButton(label, callback_data=data) for label, data in row]
                                 for row in rows])


def send_message(chat_id, text, *, keyboard=None):
    return _call("send_message", chat_id=chat_id, text=text[:4096], reply_markup=keyboard,
                 link_preview_options=LinkPreviewOptions(is_disabled=True))


def answer_callback(callback_id, text=""):
    return _call("answer_callback_query", callback_query_id=callback_id, text=text[:200] or None)


def get_updates(*, offset=None, timeout=25):
    updates = _call("get_updates", offset=offset, timeout=timeout, read_timeout=timeout + 10,
                    allowed_updates=["message", "callback_query"])
    return [update.to_dict() for update in updates]


def set_webhook(url, secret_token):
    return _call("set_webhook", url=url, secret_token=secret_token or None,
                 allowed_updates=["message", "callback_query"])


def delete_webhook():
    return _call("delete_webhook")
