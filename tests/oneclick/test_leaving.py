"""Leaving: a user downloads everything held about them, and deletes their account.

The export is a zip of JSON and CSV files with the caller's rows only and no secret. Deleting asks for the
password, a fresh one-time code when 2FA is on and a typed confirmation; anything wrong changes nothing.
A deletion stops the bots, erases the keys, removes every personal row, signs the user out everywhere and
frees the email address; the trade history is deleted or kept without a trace of the person, as
``ONECLICK_RETENTION`` says.
"""

import csv
import io
import json
import re
import socket
import zipfile
from datetime import timedelta
from decimal import Decimal

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice

from alerts.models import Alert, AlertPreference, Delivery, TelegramLink
from alerts.services import alert_raise
from keys.models import ExchangeKey, KeyEvent
from oneclick.models import AccountClosure, LoginEvent, TOTPDevice
from oneclick.services import totp_text_secret
from portfolios.models import Balance, Bot, BotStateChange, EquitySnapshot, Fill, Order, Position
from strategies.models import Backtest
from strategies.services import strategy_create
from tests.conftest import PASSWORD, login_verified, totp_code
from tests.oneclick.test_settings import PRODUCTION, _manage
from tests.portfolios.conftest import issue_signal, make_bot

pytestmark = pytest.mark.django_db

TABLES = ("account", "email_addresses", "alert_preferences", "telegram", "exchange_keys", "key_events", "bots",
          "bot_history", "signal_decisions", "orders", "fills", "positions", "balances", "equity_snapshots", "alerts",
          "alert_deliveries", "login_events", "backtests")


@pytest.fixture
def strategy(db):
    return strategy_create(name="Trend", kind="trend", markets=["BTC/USDT", "ETH/USDT"])


def _history(user, strategy, ip):
    """A user with a bit of everything: a key, a running bot, an order and its fill, a position, snapshots,
    a balance, an alert, a sign-in, a Telegram link, a backtest."""
    name = user.username
    key = ExchangeKey.objects.create(
        owner=user, exchange="paper", label=f"{name} main key", api_key=f"{name}-API-KEY-4f1c9e",
        api_secret=f"{name}-API-SECRET-77aa01", passphrase=f"{name}-PASSPHRASE-0b2", api_key_hint=f"{name[:2]}k…9e",
        permissions={"can_read": True, "can_trade": True, "can_withdraw": False}, permissions_verified=True,
    )
    KeyEvent.objects.create(owner=user, key=key, kind=KeyEvent.Kind.LINKED, actor=user, ip_address=ip)
    bot = make_bot(user, key, strategy, name=f"{name} bot")
    BotStateChange.objects.create(bot=bot, from_state="running", to_state="running", by=user,
                                  reason=f"Created: {name} bot")
    signal = issue_signal(strategy, "BTC/USDT", "buy", "0.1")
    order = Order.objects.create(
        bot=bot, key=key, signal=signal, market="BTC/USDT", side="buy", quantity=Decimal("0.001"),
        reference_price=Decimal("100"), client_order_id=f"oc-{name}-order", state="filled",
        exchange_order_id=f"EX-{name}-order", filled_quantity=Decimal("0.001"), average_price=Decimal("100"),
        cost=Decimal("0.1"),
    )
    Fill.objects.create(key=key, bot=bot, order=order, market="BTC/USDT", side="buy", price=Decimal("100"),
                        quantity=Decimal("0.001"), cost=Decimal("0.1"), exchange_trade_id=f"T-{name}-trade",
                        exchange_order_id=f"EX-{name}-order", traded_at=timezone.now())
    Position.objects.create(bot=bot, market="BTC/USDT", quantity=Decimal("0.001"), average_entry=Decimal("100"),
                            cost_basis=Decimal("0.1"), last_price=Decimal("101"))
    for snapshot_bot in (bot, None):
        EquitySnapshot.objects.create(key=key, bot=snapshot_bot, quote_asset="USDT", equity=Decimal("500.1"),
                                      taken=timezone.now())
    Balance.objects.create(key=key, asset="USDT", free=Decimal("499.9"), total=Decimal("499.9"))
    alert_raise(user=user, kind="order_filled", severity="info", title=f"Order filled for {name}", bot=bot, key=key,
                order=order)
    LoginEvent.objects.create(user=user, kind=LoginEvent.Kind.PASSWORD, ip_address=ip, user_agent=f"{name}-browser")
    TelegramLink.objects.create(user=user, chat_id=abs(hash(name)) % 10**9, chat_name=f"{name} on Telegram")
    Backtest.objects.create(user=user, strategy=strategy, market="BTC/USDT", start=timezone.now() - timedelta(days=30),
                            end=timezone.now(), status=Backtest.Status.DONE, metrics={"trades": 1})
    return {"key": key, "bot": bot, "order": order}


@pytest.fixture
def world(alice_2fa, bob, strategy):
    return {"alice": _history(alice_2fa, strategy, "203.0.113.7"), "bob": _history(bob, strategy, "198.51.100.9")}


def _export(client):
    response = client.post(reverse("account_export"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="oneclick-data-')
    raw = b"".join(response.streaming_content)
    archive = zipfile.ZipFile(io.BytesIO(raw))
    return raw, {name: archive.read(name).decode() for name in archive.namelist()}


def _secrets_of(user, key):
    device = TOTPDevice.objects.filter(user=user).first()
    found = [key.api_key, key.api_secret, key.passphrase, user.password]
    if device is not None:
        found += [device.key, totp_text_secret(device=device)]
    found += getattr(user, "backup_codes", [])
    return found


# --- export -------------------------------------------------------------------------------------


def test_export_holds_every_table_of_hers_as_json_and_csv(client, alice_2fa, world):
    login_verified(client, alice_2fa, alice_2fa.totp_device)
    raw, files = _export(client)
    for table in TABLES:
        assert f"{table}.json" in files and f"{table}.csv" in files, table
    assert "README.txt" in files

    orders = json.loads(files["orders.json"])
    assert [o["client_order_id"] for o in orders] == ["oc-alice-order"]
    assert orders[0]["quantity"] == "0.001000000000" and orders[0]["state"] == "filled"
    fills = list(csv.DictReader(io.StringIO(files["fills.csv"])))
    assert [f["exchange_trade_id"] for f in fills] == ["T-alice-trade"]
    [bot] = json.loads(files["bots.json"])
    assert (bot["name"], bot["state"], bot["markets"], bot["strategy_name"]) == ("alice bot", "running",
                                                                                  ["BTC/USDT"], "Trend")
    [key] = json.loads(files["exchange_keys.json"])
    assert (key["label"], key["api_key_masked"], key["exchange"]) == ("alice main key", "alk…9e", "paper")
    assert key["permissions"] == {"can_read": True, "can_trade": True, "can_withdraw": False}
    assert len(json.loads(files["equity_snapshots.json"])) == 2
    [account] = json.loads(files["account.json"])
    assert account["email"] == "alice@example.com" and account["two_factor"] is True
    assert account["backup_codes_left"] == 10
    [telegram] = json.loads(files["telegram.json"])
    assert telegram["linked"] is True and telegram["chat_name"] == "alice on Telegram"
    assert "203.0.113.7" in files["login_events.csv"]
    assert [b["strategy_name"] for b in json.loads(files["backtests.json"])] == ["Trend"]

    # Nothing of bob's, and no secret, in the zip as sent nor in any file once unpacked.
    everything = raw.decode("latin-1") + "".join(files.values())
    for value in ("bob", "198.51.100.9", "oc-bob-order", "T-bob-trade"):
        assert value not in everything, value
    alice_2fa.refresh_from_db()
    for secret in _secrets_of(alice_2fa, world["alice"]["key"]) + _secrets_of(world["bob"]["bot"].owner,
                                                                              world["bob"]["key"]):
        assert secret and secret not in everything and secret.lower() not in everything.lower()


def test_bob_exports_his_own_data_only(client, bob, world):
    login_verified(client, bob)
    _raw, files = _export(client)
    assert [o["client_order_id"] for o in json.loads(files["orders.json"])] == ["oc-bob-order"]
    assert json.loads(files["account.json"])[0]["two_factor"] is False
    assert "alice" not in "".join(files.values())


def test_export_is_a_post_from_a_signed_in_verified_session(client, alice_2fa, world):
    url = reverse("account_export")
    assert client.post(url).url.startswith(reverse("account_login"))
    client.force_login(alice_2fa)  # password given, second factor not yet
    response = client.post(url)
    assert response.status_code == 302 and response.url.startswith(reverse("two_factor_verify"))
    login_verified(client, alice_2fa, alice_2fa.totp_device)
    assert client.get(url).status_code == 405
    security = client.get(reverse("security")).content.decode()
    assert f'action="{url}"' in security and reverse("account_delete") in security


def test_an_empty_account_exports_empty_tables(client, alice):
    login_verified(client, alice)
    _raw, files = _export(client)
    assert json.loads(files["orders.json"]) == [] and files["orders.csv"] == ""
    assert json.loads(files["telegram.json"]) == [{"active": False, "chat_name": "", "linked": False,
                                                   "linked_at": None, "off_reason": ""}]


# --- deletion refused: nothing changes ----------------------------------------------------------------


def _delete(client, password=PASSWORD, code=None, confirmation="delete my account"):
    data = {"password": password, "confirmation": confirmation}
    if code is not None:
        data["otp_code"] = code
    return client.post(reverse("account_delete"), data)


def _unchanged(user, world_part, mailoutbox):
    user.refresh_from_db()
    assert user.is_active and user.email and user.has_usable_password()
    assert EmailAddress.objects.filter(user=user).exists() and LoginEvent.objects.filter(user=user).exists()
    assert ExchangeKey.objects.get(pk=world_part["key"].pk).status == ExchangeKey.Status.ACTIVE
    assert Order.objects.filter(pk=world_part["order"].pk).exists()
    assert TelegramLink.objects.filter(user=user).exists() and Alert.objects.filter(user=user).exists()
    assert not AccountClosure.objects.exists()
    assert not [m for m in mailoutbox if "deleted" in m.subject]


def test_a_wrong_password_code_or_confirmation_changes_nothing(client, alice_2fa, world, mailoutbox):
    login_verified(client, alice_2fa, alice_2fa.totp_device)
    page = client.get(reverse("account_delete")).content.decode()
    assert 'name="password"' in page and 'name="otp_code"' in page and 'name="confirmation"' in page
    assert "1 bot stops" in page and "1 exchange key is erased" in page

    code = alice_2fa.backup_codes[0]
    wrong_password = _delete(client, password="not-my-password", code=code)
    assert wrong_password.status_code == 200 and "Incorrect password" in wrong_password.content.decode()
    wrong_confirmation = _delete(client, code=code, confirmation="delete")
    assert wrong_confirmation.status_code == 200 and "exactly" in wrong_confirmation.content.decode()
    wrong_code = _delete(client, code="000000")
    assert wrong_code.status_code == 200 and "not valid" in wrong_code.content.decode()
    no_code = _delete(client)
    assert no_code.status_code == 200 and "This field is required" in no_code.content.decode()

    _unchanged(alice_2fa, world["alice"], mailoutbox)
    assert Bot.objects.get(pk=world["alice"]["bot"].pk).state == Bot.State.RUNNING
    # The backup code was never spent: the wrong password and confirmation failed before the code was checked.
    assert _delete(client, code=code).status_code == 302


def test_bob_cannot_delete_alice_even_with_her_password(client, alice_2fa, bob, world, mailoutbox):
    login_verified(client, bob)
    response = _delete(client, password="someone-elses-password")
    assert response.status_code == 200 and "Incorrect password" in response.content.decode()
    _unchanged(alice_2fa, world["alice"], mailoutbox)
    _unchanged(bob, world["bob"], mailoutbox)


def test_an_order_still_on_its_way_holds_the_deletion_back(client, alice_2fa, world, mailoutbox):
    Order.objects.filter(pk=world["alice"]["order"].pk).update(state=Order.State.SENT)
    login_verified(client, alice_2fa, alice_2fa.totp_device)
    response = _delete(client, code=totp_code(alice_2fa.totp_device))
    assert response.status_code == 200 and "still on the way" in response.content.decode()
    # The bots are stopped (she asked to leave), the rest is as it was.
    assert Bot.objects.get(pk=world["alice"]["bot"].pk).state == Bot.State.STOPPED
    _unchanged(alice_2fa, world["alice"], mailoutbox)


def test_when_the_notice_cannot_be_sent_nothing_is_deleted(client, alice_2fa, world, mailoutbox, settings):
    with socket.socket() as closed:  # a port nothing listens on: the SMTP connection is refused
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 2
    login_verified(client, alice_2fa, alice_2fa.totp_device)
    response = _delete(client, code=totp_code(alice_2fa.totp_device))
    assert response.status_code == 200 and "could not be sent" in response.content.decode()
    _unchanged(alice_2fa, world["alice"], mailoutbox)


def test_staff_must_be_demoted_first(client, staff, mailoutbox):
    login_verified(client, staff)
    page = client.get(reverse("account_delete")).content.decode()
    assert "remove your staff status" in page and 'name="password"' not in page
    response = _delete(client)
    assert response.status_code == 200 and "remove your staff status" in response.content.decode()
    staff.refresh_from_db()
    assert staff.is_active and staff.is_staff and EmailAddress.objects.filter(user=staff).exists()
    assert not mailoutbox


# --- deletion ---------------------------------------------------------------------------------------


def _database_dump():
    out = io.StringIO()
    call_command("dumpdata", stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("retention", ["delete", "anonymous"])
def test_deleting_the_account_leaves_nothing_that_names_her(client, alice_2fa, bob, world, mailoutbox, settings,
                                                            retention):
    settings.ONECLICK_RETENTION = retention
    alice_id = alice_2fa.pk
    bob_before = {"fills": Fill.objects.filter(key__owner=bob).count(), "alerts": bob.alerts.count(),
                  "events": LoginEvent.objects.filter(user=bob).count()}
    login_verified(client, alice_2fa, alice_2fa.totp_device)
    elsewhere = login_verified(Client(), alice_2fa, alice_2fa.totp_device)  # her phone

    response = _delete(client, code=totp_code(alice_2fa.totp_device))
    assert response.status_code == 302 and response.url == reverse("account_login")

    # She was told, at her address, before it went.
    [notice] = [m for m in mailoutbox if "deleted" in m.subject]
    assert notice.to == ["alice@example.com"] and "Delete them at your exchange too" in notice.body
    # Signed out here and everywhere else.
    for session in (client, elsewhere):
        assert session.get(reverse("dashboard")).url.startswith(reverse("account_login"))
    assert "Your account was deleted" in client.get(reverse("account_login")).content.decode()

    # Nothing in the database names or reaches her: no email, IP, key, label, browser, bot name or exchange id.
    dump = _database_dump()
    for trace in ("alice@example.com", "203.0.113.7", "alice-API-KEY", "alice-API-SECRET", "alice main key",
                  "alk…9e", "alice-browser", "alice bot", "EX-alice-order", "T-alice-trade", "oc-alice-order",
                  "alice on Telegram", '"username": "alice"'):
        assert trace not in dump, trace
    for model in (LoginEvent, TOTPDevice, StaticDevice, EmailAddress, TelegramLink, AlertPreference, Alert,
                  Backtest):
        assert not model.objects.filter(user_id=alice_id).exists(), model.__name__
    assert not KeyEvent.objects.filter(owner_id=alice_id).exists()
    assert not Balance.objects.filter(key__owner_id=alice_id).exists()
    assert not BotStateChange.objects.filter(bot__owner_id=alice_id).exists()

    order, bot, key = world["alice"]["order"], world["alice"]["bot"], world["alice"]["key"]
    closure = AccountClosure.objects.get()
    assert (closure.retention, closure.bots_stopped, closure.keys_deleted, closure.orders, closure.fills) == (
        retention, 1, 1, 1, 1)
    if retention == "delete":
        assert not get_user_model().objects.filter(pk=alice_id).exists()
        for model, pk in ((Order, order.pk), (Bot, bot.pk), (ExchangeKey, key.pk)):
            assert not model.objects.filter(pk=pk).exists(), model.__name__
        assert not Fill.objects.filter(order_id=order.pk).exists()
        assert not EquitySnapshot.objects.filter(key_id=key.pk).exists()
    else:
        ghost = get_user_model().objects.get(pk=alice_id)
        assert ghost.username.startswith("deleted-") and ghost.email == ""
        assert not ghost.is_active and not ghost.has_usable_password()
        bot.refresh_from_db(), key.refresh_from_db(), order.refresh_from_db()
        assert bot.state == Bot.State.STOPPED and bot.name == f"Bot {bot.pk}"
        assert (key.status, key.label, key.api_key_hint, key.api_key, key.api_secret, key.passphrase) == (
            ExchangeKey.Status.REVOKED, "Deleted key", "", "", "", "")
        assert (order.state, order.client_order_id, order.exchange_order_id) == (
            "filled", f"deleted-{order.pk}", "")
        [fill] = Fill.objects.filter(order=order)
        assert (fill.exchange_trade_id, fill.exchange_order_id) == (f"deleted-{fill.pk}", "")
        assert fill.quantity == Decimal("0.001") and Position.objects.filter(bot=bot).count() == 1
        assert EquitySnapshot.objects.filter(key=key).count() == 2

    # Her old credentials open nothing; her address signs up again, as a new, empty account.
    login = Client().post(reverse("account_login"), {"login": "alice@example.com", "password": PASSWORD})
    assert login.status_code == 200 and "_auth_user_id" not in login.wsgi_request.session
    signup = Client().post(reverse("account_signup"), {"email": "alice@example.com", "password1": PASSWORD,
                                                       "password2": PASSWORD})
    assert signup.status_code == 302
    reborn = get_user_model().objects.get(email="alice@example.com")
    assert reborn.pk != alice_id and not reborn.bots.exists() and not reborn.exchange_keys.exists()
    assert re.search(r"/accounts/confirm-email/", mailoutbox[-1].body) and mailoutbox[-1].to == ["alice@example.com"]

    # Bob's account is as it was.
    bob_bot, bob_key = world["bob"]["bot"], world["bob"]["key"]
    bob_bot.refresh_from_db(), bob_key.refresh_from_db()
    assert bob_bot.state == Bot.State.RUNNING and bob_bot.name == "bob bot"
    assert bob_key.status == ExchangeKey.Status.ACTIVE and bob_key.api_secret == "bob-API-SECRET-77aa01"
    assert Order.objects.get(pk=world["bob"]["order"].pk).client_order_id == "oc-bob-order"
    assert {"fills": Fill.objects.filter(key__owner=bob).count(), "alerts": bob.alerts.count(),
            "events": LoginEvent.objects.filter(user=bob).count()} == bob_before
    assert EmailAddress.objects.filter(user=bob).exists() and TelegramLink.objects.filter(user=bob).exists()
    assert Delivery.objects.filter(alert__user=bob).count() == Delivery.objects.count()


def test_without_two_factor_the_password_and_confirmation_are_enough(client, alice, strategy, mailoutbox):
    _history(alice, strategy, "203.0.113.7")
    login_verified(client, alice)
    page = client.get(reverse("account_delete")).content.decode()
    assert 'name="password"' in page and 'name="otp_code"' not in page
    assert _delete(client).status_code == 302
    assert not get_user_model().objects.filter(email="alice@example.com").exists()
    assert "someone knew your password:" in mailoutbox[-1].body


def test_an_unverified_session_cannot_reach_the_deletion(client, alice_2fa, world):
    client.force_login(alice_2fa)
    for response in (client.get(reverse("account_delete")), _delete(client, code="123456")):
        assert response.status_code == 302 and response.url.startswith(reverse("two_factor_verify"))
    assert get_user_model().objects.filter(pk=alice_2fa.pk, is_active=True).exists()



def test_an_unknown_retention_stops_startup_naming_it():
    result = _manage("check", **{**PRODUCTION, "ONECLICK_RETENTION": "keep"})
    assert result.returncode != 0 and "ONECLICK_RETENTION must be delete or anonymous" in result.stderr
