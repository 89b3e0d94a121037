"""A whole user flow with logging at DEBUG through the platform's own logging configuration, then a search
of the logs, the emails, a dump of the database, every portal page, every admin page and the user's data
export (the zip as sent and every file in it) for the API key, the API secret and the TOTP seed (hex and
base32): none of them is anywhere. Nor is the password's hash in the export.
"""

import base64
import copy
import io
import logging.config
import re
import time
import zipfile
from datetime import timedelta

import pytest
from allauth.usersessions.models import UserSession
from django.conf import settings as django_settings
from django.contrib import admin
from django.core.management import call_command
from django.test import Client
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django_otp.oath import TOTP

from alerts.models import Alert
from keys.models import ExchangeKey
from portfolios.models import Bot, Order
from strategies.models import Backtest, Signal, Strategy
from portfolios.services import signals_fan_out
from strategies.services import strategy_create
from tests.conftest import PASSWORD, enable_two_factor, login_verified, reauthenticate
from tests.portfolios.conftest import issue_signal
from tests.security.urlmap import NOT_IDS, OWNED, SHARED, portal_routes

pytestmark = pytest.mark.django_db(transaction=True)

EMAIL = "erin@example.com"


@pytest.fixture
def debug_log(tmp_path):
    """The platform's LOGGING (scrub filter on every handler) at DEBUG, written to a file."""
    path = tmp_path / "platform.log"
    config = copy.deepcopy(django_settings.LOGGING)
    for handler in config["handlers"].values():
        assert "scrub" in handler.get("filters", [])
        handler.pop("stream", None)
        handler.update({"class": "logging.FileHandler", "filename": str(path)})
    config["root"]["level"] = "DEBUG"
    for logger in config["loggers"].values():
        logger["level"] = "DEBUG"
    logging.config.dictConfig(config)
    try:
        yield path
    finally:
        logging.config.dictConfig(django_settings.LOGGING)


def code(secret, offset=0):
    totp = TOTP(base64.b32decode(secret + "=" * (-len(secret) % 8)), step=30, t0=0, digits=6)
    totp.time = time.time() + offset * 30
    return f"{totp.token():06d}"


def _sign_up_with_two_factor(client, mailoutbox):
    client.post(reverse("account_signup"), {"email": EMAIL, "password1": PASSWORD, "password2": PASSWORD})
    link = re.search(r"https?://\S+(/accounts/confirm-email/\S+/)", mailoutbox[-1].body).group(1)
    client.post(link)
    client.post(reverse("account_login"), {"login": EMAIL, "password": PASSWORD})
    setup = client.get(reverse("two_factor_setup")).content.decode()
    secret = re.search(r'id="totp-secret">([A-Z2-7]+)<', setup).group(1)
    done = client.post(reverse("two_factor_setup"), {"code": code(secret, -1)})
    assert b"Your backup codes" in done.content
    return secret


def _portal_pages(client, objects):
    """Every portal page a signed-in user can open, with the user's own objects in the id-taking ones."""
    html = []
    for route in portal_routes():
        if route.name in ("account_logout", "two_factor_setup") or not route.name:
            continue  # log out ends the session; the setup page shows the seed to its owner, once, by design
        try:
            if route.name in OWNED or route.name in SHARED:
                url = reverse(route.name, kwargs={"pk": objects[(OWNED | SHARED)[route.name]].pk})
            elif route.name in NOT_IDS:
                url = reverse(route.name, kwargs=NOT_IDS[route.name][0])
            else:
                url = reverse(route.name)
        except NoReverseMatch:
            continue  # an include()d pattern with parameters of its own (allauth's)
        response = client.get(url)
        assert response.status_code < 500 or route.name == "healthz", url  # no cluster runs here: 503
        body = b"".join(response.streaming_content) if response.streaming else response.content
        html.append(body.decode("utf-8", "replace"))
    return "".join(html)


def _admin_pages(staff):
    device, _ = enable_two_factor(staff)
    client = login_verified(Client(), staff, device)
    html = []
    for model, model_admin in admin.site._registry.items():
        meta = model._meta
        changelist = client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist"))
        assert changelist.status_code == 200, meta.label
        html.append(changelist.content.decode())
        for obj in model_admin.get_queryset(changelist.wsgi_request)[:20]:
            page = client.get(reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk]))
            assert page.status_code == 200, f"{meta.label} {obj.pk}"
            html.append(page.content.decode())
    return "".join(html)


def _export(client):
    """The user's data export: the zip's bytes as sent, then the text of every file in it."""
    response = client.post(reverse("account_export"))
    assert response.status_code == 200
    raw = b"".join(response.streaming_content)
    archive = zipfile.ZipFile(io.BytesIO(raw))
    assert "orders.json" in archive.namelist() and "exchange_keys.csv" in archive.namelist()
    return raw.decode("latin-1") + "".join(archive.read(name).decode() for name in archive.namelist())


def test_no_secret_in_logs_emails_database_pages_or_admin(
    client, staff, paper, paper_account, q_sync, mailoutbox, debug_log, settings
):
    # Sign up, confirm, log in, turn on 2FA.
    secret = _sign_up_with_two_factor(client, mailoutbox)

    # Link the key with the password confirmed and a fresh code: a wrong secret first, then the right one.
    reauthenticate(client)
    form = {"exchange": "paper", "label": "Paper", "api_key": paper_account.api_key, "api_secret": "f" * 64}
    client.post(reverse("keys:link"), {**form, "otp_code": code(secret, 0)})
    linked = client.post(reverse("keys:link"), {**form, "api_secret": paper_account.secret, "otp_code": code(secret, 1)})
    key = ExchangeKey.objects.get(owner__email=EMAIL)
    assert linked.status_code == 302 and key.status == ExchangeKey.Status.ACTIVE
    client.post(reverse("keys:reprobe", args=[key.pk]))

    # A bot on a strategy; the strategy runs; signals go through the fan-out and the worker's task.
    strategy = strategy_create(name="Trend", kind="trend", markets=["BTC/USDT", "ETH/USDT"])
    client.post(reverse("portfolios:bot_create"), {
        "name": "Sweep bot", "key": key.pk, "strategy": strategy.pk, "quote_asset": "USDT",
        "markets": ["BTC/USDT", "ETH/USDT"], "allocation": "500", "position_cap": "400"})
    bot = Bot.objects.get(owner=key.owner)
    call_command("run_strategy", "Trend", stdout=io.StringIO())
    for action in ("buy", "sell"):
        signal = issue_signal(strategy, "BTC/USDT", action, "0.5")
        signals_fan_out(signal_ids=[signal.pk])
    assert Order.objects.filter(bot=bot, state="filled").exists()

    # Alerts: the ones the orders raised, a test alert, one acknowledged; a backtest; pause and resume.
    client.post(reverse("alerts:test"))
    client.post(reverse("alerts:acknowledge", args=[Alert.objects.filter(user=key.owner).first().pk]))
    client.post(reverse("portfolios:bot_pause", args=[bot.pk]))
    client.post(reverse("portfolios:bot_resume", args=[bot.pk]))
    backtest = Backtest.objects.create(user=key.owner, strategy=strategy, market="BTC/USDT",
                                       start=timezone.now() - timedelta(days=30), end=timezone.now(), status="done")

    objects = {"key": key, "bot": bot, "order": Order.objects.filter(bot=bot).first(), "backtest": backtest,
               "alert": Alert.objects.filter(user=key.owner).first(), "signal": Signal.objects.first(),
               "strategy": Strategy.objects.first(), "usersession": UserSession.objects.get(user=key.owner)}
    pages = _portal_pages(client, objects)
    export = _export(client)
    admin_html = _admin_pages(staff)
    dump = io.StringIO()
    call_command("dumpdata", stdout=dump)
    emails = "".join(f"{m.subject}\n{m.body}\n{m.alternatives}" for m in mailoutbox)
    log = debug_log.read_text()

    # The flow was logged at DEBUG, down to the signed requests that carried the key.
    assert "POST http://127.0.0.1" in log and "/api/v3/order" in log and "X-MBX-APIKEY" in log
    assert "Sweep bot" in pages and key.api_key_hint in pages and "Sweep bot" in admin_html
    assert "Sweep bot" in export and key.api_key_hint in export and "X-MBX-APIKEY" not in export
    seed = base64.b32decode(secret + "=" * (-len(secret) % 8))
    found = {}
    for label, value in {"API key": paper_account.api_key, "API secret": paper_account.secret,
                         "TOTP seed (base32)": secret, "TOTP seed (hex)": seed.hex()}.items():
        for where, text in {"log": log, "emails": emails, "database dump": dump.getvalue(),
                            "portal pages": pages, "admin pages": admin_html, "data export": export}.items():
            if value in text or value.lower() in text.lower():
                found.setdefault(label, []).append(where)
    assert not found, f"secrets found: {found}"
    password_hash = key.owner.password
    assert password_hash.startswith(("pbkdf2", "argon2", "bcrypt", "scrypt")) and password_hash not in export
    assert PASSWORD not in export
