import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from alerts.models import Delivery, TelegramLink, TelegramLinkToken
from alerts.services import alert_raise, deliveries_send_due, telegram_link_token_create
from alerts.updates import update_handle
from portfolios.models import Bot, BotStateChange
from tests.plugins.telegram import WEBHOOK_SECRET
from tests.portfolios.conftest import strategy  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db

CHAT = 555001


def _say(telegram, text, chat=CHAT):
    before = len(telegram.messages(chat))
    update_handle(telegram.message_update(chat, text))
    return [m["text"] for m in telegram.messages(chat)[before:]]


def _press(telegram, data, chat=CHAT):
    before = len(telegram.messages(chat))
    update_handle(telegram.callback_update(chat, data))
    return [m["text"] for m in telegram.messages(chat)[before:]]


@pytest.fixture
def linked(alice, telegram):
    token = telegram_link_token_create(user=alice)
    _say(telegram, f"/start {token}")
    return TelegramLink.objects.get(user=alice)


@pytest.fixture
def bots(alice, linked, strategy, db):
    """Two bots of alice on a paper key (no exchange call is needed by these commands)."""
    from keys.models import ExchangeKey
    from tests.portfolios.conftest import make_bot

    key = ExchangeKey.objects.create(owner=alice, exchange="paper", label="Paper", api_key="k" * 20,
                                     api_secret="s" * 20, api_key_hint="kkkk…kkkk", permissions={"can_trade": True})
    return make_bot(alice, key, strategy, name="Alpha"), make_bot(alice, key, strategy, name="Beta")


def test_a_valid_token_links_the_chat(alice, telegram):
    token = telegram_link_token_create(user=alice)
    [reply] = _say(telegram, f"/start {token}")
    assert "Linked to your OneClick account" in reply
    link = TelegramLink.objects.get(user=alice)
    assert link.chat_id == CHAT and link.active and link.chat_name == "Alice"
    # Only a hash of the token is stored.
    assert not TelegramLinkToken.objects.filter(token_hash=token).exists()


def test_a_token_works_once(alice, bob, telegram):
    token = telegram_link_token_create(user=alice)
    _say(telegram, f"/start {token}")
    [reply] = _say(telegram, f"/start {token}", chat=CHAT + 1)
    assert "already used" in reply
    assert not TelegramLink.objects.filter(chat_id=CHAT + 1).exists()


def test_an_expired_token_is_refused(alice, telegram):
    token = telegram_link_token_create(user=alice)
    TelegramLinkToken.objects.update(expires=timezone.now() - timedelta(seconds=1))
    [reply] = _say(telegram, f"/start {token}")
    assert "expired" in reply
    assert not TelegramLink.objects.exists()


def test_an_unknown_token_is_refused(telegram, db):
    [reply] = _say(telegram, "/start not-a-token")
    assert "not valid" in reply and not TelegramLink.objects.exists()


def test_a_chat_that_sends_wrong_tokens_is_stopped_before_it_can_guess_one(alice, telegram):
    # "5 per 10 minutes" refused tokens per chat: then even a valid token is not tried from that chat.
    replies = [_say(telegram, f"/start guess-{n}")[0] for n in range(7)]
    assert ["not valid" in reply for reply in replies] == [True] * 5 + [False] * 2
    assert all("Too many link attempts" in reply for reply in replies[5:])
    token = telegram_link_token_create(user=alice)
    assert "Too many link attempts" in _say(telegram, f"/start {token}")[0]
    assert not TelegramLink.objects.exists()
    # Another chat is not held back by this one, and the token still works there.
    assert "Linked to your OneClick account" in _say(telegram, f"/start {token}", chat=CHAT + 1)[0]


@pytest.mark.parametrize("text", ["/status", "/pause", "/stop", "hello", "/start"])
def test_an_unlinked_chat_only_gets_a_link_from_the_portal_reply(text, alice, telegram):
    [reply] = _say(telegram, text)
    assert "not linked" in reply and "http://127.0.0.1:8000/alerts/settings/" in reply


def test_an_unlinked_chat_cannot_confirm_a_button(bots, telegram):
    [reply] = _press(telegram, "stop:all", chat=CHAT + 9)
    assert "not linked" in reply
    assert Bot.objects.filter(state="running").count() == 2


def test_pause_from_telegram_persists_and_is_recorded(bots, alice, telegram):
    alpha, beta = bots
    [reply] = _say(telegram, "/pause Alpha")
    assert reply == "Paused: Alpha"
    alpha.refresh_from_db(), beta.refresh_from_db()
    assert alpha.state == "paused" and beta.state == "running"
    change = BotStateChange.objects.filter(bot=alpha).latest("created")
    assert change.by == alice and change.reason == "Paused from Telegram"
    [reply] = _say(telegram, "/pause")
    assert reply == "Paused: Beta"


def test_resume_asks_to_confirm_with_a_button(bots, telegram):
    alpha, _beta = bots
    _say(telegram, "/pause Alpha")
    [question] = _say(telegram, "/resume Alpha")
    assert "Confirm" in question
    markup = telegram.messages(CHAT)[-1]["reply_markup"]
    buttons = [b["callback_data"] for row in markup["inline_keyboard"] for b in row]
    assert buttons == [f"resume:{alpha.pk}", "cancel"]
    alpha.refresh_from_db()
    assert alpha.state == "paused"  # nothing until confirmed
    [done] = _press(telegram, f"resume:{alpha.pk}")
    assert done == "Resumed: Alpha"
    alpha.refresh_from_db()
    assert alpha.state == "running"
    assert telegram.callback_answers


def test_stop_is_the_kill_switch_after_confirmation(bots, telegram):
    [question] = _say(telegram, "/stop")
    assert "Confirm" in question
    assert Bot.objects.filter(state="running").count() == 2
    [cancelled] = _press(telegram, "cancel")
    assert "nothing changed" in cancelled and Bot.objects.filter(state="running").count() == 2
    [done] = _press(telegram, "stop:all")
    assert done == "Kill switch: 2 bot(s) paused."
    assert Bot.objects.filter(state="paused").count() == 2


def test_a_button_cannot_touch_another_users_bot(bots, bob, telegram):
    alpha, _ = bots
    _say(telegram, "/pause Alpha")
    token = telegram_link_token_create(user=bob)
    _say(telegram, f"/start {token}", chat=CHAT + 2)
    [reply] = _press(telegram, f"resume:{alpha.pk}", chat=CHAT + 2)
    assert reply == "Nothing was resumed."
    alpha.refresh_from_db()
    assert alpha.state == "paused"


def test_status_balance_positions_alerts_and_help(bots, alice, telegram):
    from portfolios.models import Balance, EquitySnapshot, Position

    alpha, beta = bots
    now = timezone.now()
    EquitySnapshot.objects.create(key=alpha.key, bot=alpha, quote_asset="USDT", equity=Decimal("500"), taken=now)
    EquitySnapshot.objects.create(key=alpha.key, bot=alpha, quote_asset="USDT", equity=Decimal("512.5"),
                                  taken=now + timedelta(seconds=1))
    Balance.objects.create(key=alpha.key, asset="USDT", free=Decimal("900"), total=Decimal("1000"))
    Position.objects.create(bot=alpha, market="BTC/USDT", quantity=Decimal("0.01"), average_entry=Decimal("60000"),
                            last_price=Decimal("61000"))
    alert_raise(user=alice, kind="test", severity="warning", title="Something to know")

    [status] = _say(telegram, "/status")
    # As the portal shows them (portfolios.pnl): allocation 500 plus 0.01 BTC up 1,000 since bought; no
    # figure before today (UTC), so all of it is today's.
    assert "Alpha: running, equity 510.00 USDT, today +10.00" in status
    assert "Beta: running, equity 500.00 USDT, today +0.00" in status
    [balance] = _say(telegram, "/balance")
    assert "Paper: USDT 1000 (free 900)" in balance
    [positions] = _say(telegram, "/positions")
    assert "Alpha: BTC/USDT 0.01 at 60000.00, unrealized +10.00" in positions
    [alerts] = _say(telegram, "/alerts")
    assert "[warning] Something to know" in alerts
    [help_text] = _say(telegram, "/help")
    assert "/resume" in help_text and "/stop" in help_text
    # No secret ever goes into a message.
    for message in telegram.messages():
        assert "k" * 20 not in message["text"] and "s" * 20 not in message["text"]


def test_unlink_from_the_chat(linked, alice, telegram):
    [reply] = _say(telegram, "/unlink")
    assert "Unlinked" in reply
    assert not TelegramLink.objects.filter(user=alice).exists()
    [reply] = _say(telegram, "/status")
    assert "not linked" in reply


def test_alerts_are_delivered_to_the_linked_chat(linked, alice, telegram):
    alert = alert_raise(user=alice, kind="key_disabled", severity="critical", title="Key disabled: Paper",
                        text="3 authentication failures in a row", link="/keys/3/")
    deliveries_send_due()
    text = telegram.messages(CHAT)[-1]["text"]
    assert text.startswith("🚨 Key disabled: Paper")
    assert "http://127.0.0.1:8000/keys/3/" in text and "http://127.0.0.1:8000/alerts/settings/" in text
    assert Delivery.objects.get(alert=alert, channel="telegram").state == "sent"


def test_a_chat_that_blocked_the_bot_switches_telegram_off_and_the_user_is_emailed(linked, alice, telegram, smtp):
    telegram.block(CHAT)
    alert = alert_raise(user=alice, kind="key_disabled", severity="critical", title="Key disabled")
    deliveries_send_due()
    delivery = Delivery.objects.get(alert=alert, channel="telegram")
    assert delivery.state == "failed" and "blocked" in delivery.last_error and delivery.attempts == 1
    link = TelegramLink.objects.get(user=alice)
    assert not link.active and "blocked" in link.off_reason
    subjects = [m["Subject"] for m in smtp.to("alice@example.com")]
    assert "[OneClick] Warning: Telegram alerts switched off" in subjects
    assert "[OneClick] Critical: Key disabled" in subjects
    # Later alerts skip Telegram until it works again.
    later = alert_raise(user=alice, kind="test", severity="critical", title="Later")
    assert list(later.deliveries.values_list("channel", flat=True)) == ["email"]


def test_webhook_checks_the_secret_token_and_feeds_the_handler(client, linked, telegram):
    url = reverse("alerts:telegram_webhook")
    body = json.dumps(telegram.message_update(CHAT, "/help"))
    refused = client.post(url, body, content_type="application/json",
                          headers={"X-Telegram-Bot-Api-Secret-Token": "wrong"})
    assert refused.status_code == 403
    before = len(telegram.messages(CHAT))
    ok = client.post(url, body, content_type="application/json",
                     headers={"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET})
    assert ok.status_code == 200
    assert "/status" in telegram.messages(CHAT)[before]["text"]


def test_webhook_is_off_without_a_secret(client, telegram, settings):
    settings.TELEGRAM_WEBHOOK_SECRET = ""
    response = client.post(reverse("alerts:telegram_webhook"), "{}", content_type="application/json")
    assert response.status_code == 404


def test_webhook_command_sets_the_url_with_the_secret(telegram):
    call_command("telegram_webhook")
    assert telegram.webhook == {"url": "http://127.0.0.1:8000/alerts/telegram/webhook/",
                                "secret_token": WEBHOOK_SECRET}


def test_long_polling_feeds_the_same_handler(bots, telegram):
    telegram.webhook = {"url": "https://example.org/hook"}
    telegram.push_message(CHAT, "/pause Beta")
    telegram.push_message(CHAT + 5, "/status")
    call_command("telegram_poll", "--once", "--timeout", "0")
    assert Bot.objects.get(name="Beta").state == "paused"
    assert telegram.webhook == {}  # polling removes the webhook first
    assert "not linked" in telegram.messages(CHAT + 5)[0]["text"]
    # The batch was confirmed: a second poll handles nothing again.
    call_command("telegram_poll", "--once", "--timeout", "0")
    assert [m["text"] for m in telegram.messages(CHAT)].count("Paused: Beta") == 1


def test_the_bot_token_is_redacted_from_log_lines(linked, alice, telegram):
    from oneclick.lib.logscrub import scrub

    alert_raise(user=alice, kind="test", severity="critical", title="Hi")
    deliveries_send_due()
    line = f"HTTP Request: POST {telegram.base_url}{telegram.token}/sendMessage"
    assert telegram.token not in scrub(line)


def test_the_procfile_poller_polls_only_when_no_webhook_takes_the_updates(bots, telegram, settings):
    from io import StringIO

    telegram.push_message(CHAT, "/pause Beta")
    said = StringIO()
    call_command("telegram_poll", "--when-needed", "--once", "--timeout", "0", stdout=said)
    assert "Not polling Telegram: TELEGRAM_WEBHOOK_SECRET is set" in said.getvalue()
    assert Bot.objects.get(name="Beta").state == "running"  # the webhook's update, left to it

    settings.TELEGRAM_WEBHOOK_SECRET = ""
    call_command("telegram_poll", "--when-needed", "--once", "--timeout", "0", stdout=StringIO())
    assert Bot.objects.get(name="Beta").state == "paused"

    settings.TELEGRAM_BOT_TOKEN = ""
    said = StringIO()
    call_command("telegram_poll", "--when-needed", "--once", stdout=said)
    assert "Not polling Telegram: TELEGRAM_BOT_TOKEN is not set" in said.getvalue()
