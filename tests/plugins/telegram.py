"""pytest plugin: a local server speaking enough of the Telegram Bot API for OneClick.

Methods: ``getMe``, ``sendMessage``, ``getUpdates`` (offset, long-poll
timeout), ``setWebhook``, ``deleteWebhook``, ``answerCallbackQuery``. Requests
come as form fields (python-telegram-bot JSON-encodes non-string values) or
JSON, on ``/bot<token>/<method>``; a wrong token answers 401 as Telegram does.

Fixtures:
- ``telegram_api`` (session): the running server (aiohttp on a free port, in a
  thread). ``.base_url`` for ``TELEGRAM_API_BASE_URL``.
- ``telegram`` (function): the server with fresh state and the settings
  pointed at it (token, base URL, bot username, webhook secret). Helpers:
  ``messages(chat_id=None)`` (what the bot sent), ``block(chat_id)`` (that chat
  blocked the bot: 403), ``push_message(chat_id, text)`` /
  ``push_callback(chat_id, data)`` (queue an update for ``getUpdates``), and
  ``message_update(...)`` / ``callback_update(...)`` (the update dicts, for
  the webhook). ``webhook`` (what ``setWebhook`` set), ``callback_answers``.

Load it from the root conftest: ``pytest_plugins = [..., "tests.plugins.telegram"]``.
"""

import asyncio
import itertools
import json
import threading
import time

import pytest
from aiohttp import web

from tests.plugins import free_port

TOKEN = "123456:TEST-token-for-the-local-bot-api"
BOT_USERNAME = "oneclick_test_bot"
WEBHOOK_SECRET = "webhook-secret-for-tests"



class FakeBotApi:
    def __init__(self, token=TOKEN):
        self.token = token
        self.lock = threading.Lock()
        self.reset()
        self.port = None
        self.loop = None
        self.thread = None
        self.runner = None
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1)

    # state ---------------------------------------------------------------------
    def reset(self):
        with self.lock:
            self.sent = []
            self.blocked = set()
            self.updates = []
            self.webhook = {}
            self.callback_answers = []
            self.requests = []

    def messages(self, chat_id=None):
        with self.lock:
            return [m for m in self.sent if chat_id is None or m["chat_id"] == chat_id]

    def block(self, chat_id):
        with self.lock:
            self.blocked.add(int(chat_id))

    def message_update(self, chat_id, text, first_name="Alice"):
        return {
            "update_id": next(self._update_ids),
            "message": {
                "message_id": next(self._message_ids), "date": int(time.time()), "text": text,
                "chat": {"id": chat_id, "type": "private", "first_name": first_name},
                "from": {"id": chat_id, "is_bot": False, "first_name": first_name},
            },
        }

    def callback_update(self, chat_id, data):
        return {
            "update_id": next(self._update_ids),
            "callback_query": {
                "id": f"cb{next(self._message_ids)}", "data": data, "chat_instance": "1",
                "from": {"id": chat_id, "is_bot": False, "first_name": "Alice"},
                "message": {"message_id": next(self._message_ids), "date": int(time.time()), "text": "?",
                            "chat": {"id": chat_id, "type": "private", "first_name": "Alice"}},
            },
        }

    def push_message(self, chat_id, text):
        update = self.message_update(chat_id, text)
        with self.lock:
            self.updates.append(update)
        return update

    def push_callback(self, chat_id, data):
        update = self.callback_update(chat_id, data)
        with self.lock:
            self.updates.append(update)
        return update

    # HTTP ------------------------------------------------------------------------
    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}/bot"

    async def _params(self, request):
        if request.content_type == "application/json":
            return await request.json()
        params = {}
        for name, value in (await request.post()).items():
            try:
                params[name] = json.loads(value)
            except (TypeError, ValueError):
                params[name] = value
        params.update(request.query)
        return params

    @staticmethod
    def _ok(result):
        return web.json_response({"ok": True, "result": result})

    @staticmethod
    def _error(code, description, **extra):
        return web.json_response({"ok": False, "error_code": code, "description": description, **extra}, status=code)

    async def handle(self, request):
        if request.match_info["token"] != self.token:
            return self._error(401, "Unauthorized")
        method = request.match_info["method"]
        params = await self._params(request)
        with self.lock:
            self.requests.append((method, params))
        if method == "getMe":
            return self._ok({"id": 123456, "is_bot": True, "first_name": "OneClick", "username": BOT_USERNAME,
                             "can_join_groups": False, "can_read_all_group_messages": False,
                             "supports_inline_queries": False})
        if method == "sendMessage":
            chat_id = int(params["chat_id"])
            if chat_id in self.blocked:
                return self._error(403, "Forbidden: bot was blocked by the user")
            message = {"chat_id": chat_id, "text": params.get("text", ""), "reply_markup": params.get("reply_markup")}
            with self.lock:
                self.sent.append(message)
            return self._ok({"message_id": next(self._message_ids), "date": int(time.time()), "text": message["text"],
                             "chat": {"id": chat_id, "type": "private"}})
        if method == "getUpdates":
            if self.webhook.get("url"):
                return self._error(409, "Conflict: can't use getUpdates method while webhook is active")
            offset = int(params.get("offset") or 0)
            deadline = time.monotonic() + min(float(params.get("timeout") or 0), 5.0)
            while True:
                with self.lock:
                    if offset:
                        self.updates = [u for u in self.updates if u["update_id"] >= offset]
                    ready = list(self.updates)
                if ready or time.monotonic() >= deadline:
                    return self._ok(ready)
                await asyncio.sleep(0.02)
        if method == "setWebhook":
            with self.lock:
                self.webhook = {"url": params.get("url", ""), "secret_token": params.get("secret_token")}
            return self._ok(True)
        if method == "deleteWebhook":
            with self.lock:
                self.webhook = {}
            return self._ok(True)
        if method == "answerCallbackQuery":
            with self.lock:
                self.callback_answers.append(params)
            return self._ok(True)
        return self._error(404, "Not Found")

    # process ---------------------------------------------------------------------
    def start(self):
        self.port = free_port()
        ready = threading.Event()

        async def serve():
            app = web.Application()
            app.router.add_route("*", "/bot{token}/{method}", self.handle)
            self.runner = web.AppRunner(app)
            await self.runner.setup()
            await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
            ready.set()

        def run():
            self.loop = asyncio.new_event_loop()
            self.loop.run_until_complete(serve())
            self.loop.run_forever()

        self.thread = threading.Thread(target=run, name="fake-telegram", daemon=True)
        self.thread.start()
        if not ready.wait(10):
            raise RuntimeError("the local Bot API server did not start")
        return self

    def stop(self):
        if self.loop is None:
            return
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="session")
def telegram_api():
    server = FakeBotApi().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def telegram(telegram_api, settings):
    """The local Bot API with fresh state; OneClick's Telegram settings point at it."""
    telegram_api.reset()
    settings.TELEGRAM_BOT_TOKEN = telegram_api.token
    settings.TELEGRAM_API_BASE_URL = telegram_api.base_url
    settings.TELEGRAM_BOT_USERNAME = BOT_USERNAME
    settings.TELEGRAM_WEBHOOK_SECRET = WEBHOOK_SECRET
    return telegram_api
