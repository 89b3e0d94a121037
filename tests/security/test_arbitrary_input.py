"""Every form of the portal, and the Telegram command parser, fed arbitrary input (hypothesis).

Bad input gets a clear error and changes nothing; nothing ever answers 500. Each field is either a
plausible value or arbitrary text, so the forms' own checks and the services behind them are reached.
"""

import json
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from alerts.models import Alert, AlertPreference, TelegramLink
from alerts.updates import update_handle
from keys.models import ExchangeKey
from oneclick.models import TOTPDevice
from portfolios.models import Bot, BotStateChange, Order
from strategies.models import Backtest
from tests.alerts.test_telegram import CHAT, bots, linked  # noqa: F401  (fixtures)
from tests.conftest import login_verified
from tests.plugins.telegram import WEBHOOK_SECRET
from tests.portfolios.conftest import make_bot, strategy  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db

FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
                derandomize=True)
text = st.text(max_size=40)
ERROR_MARKS = ('class="errorlist', 'role="alert"', "status-bad", "Too many")
# What an attacker types into any field or query parameter: numbers beyond every bound, the non-numbers
# Decimal and float accept, dates at the calendar's ends, very long and NUL-bearing strings.
HOSTILE = ("1e40", "-1e40", "-1", "0", "1e-40", "NaN", "-Infinity", "inf", "sNaN", "9999-12-31", "0001-01-01",
           "2026-02-30", "99999999999999999999999999999999", "1" * 5000, "x" * 5000, "a\x00b", "../../etc/passwd",
           "' OR 1=1 --", "<script>alert(1)</script>")


def either(*plausible):
    """A plausible value, a hostile one, or arbitrary text."""
    return st.one_of(st.sampled_from(plausible), st.sampled_from(HOSTILE), text)


def snapshot():
    """What a bad form must not change."""
    return (
        list(Bot.objects.order_by("pk").values_list("pk", "name", "state", "allocation", "position_cap", "markets")),
        list(ExchangeKey.objects.order_by("pk").values_list("pk", "status", "label")),
        list(TOTPDevice.objects.order_by("pk").values_list("pk", "confirmed", "last_t")),
        list(AlertPreference.objects.order_by("pk").values_list(
            "email_min_severity", "telegram_min_severity", "daily_summary", "drawdown_threshold")),
        list(TelegramLink.objects.order_by("pk").values_list("pk", "active")),
        Backtest.objects.count(), Order.objects.count(), BotStateChange.objects.count(), Alert.objects.count(),
        ExchangeKey.objects.count(),
    )


def shown_error(response):
    page = response.content.decode()
    return response.status_code == 200 and any(mark in page for mark in ERROR_MARKS)


def check(response, before, *, success_status=302):
    """No 500; either the request succeeded (and may change rows) or the page says what is wrong and nothing changed."""
    assert response.status_code < 500
    if response.status_code != success_status:
        assert shown_error(response), response.content.decode()[:2000]
        assert snapshot() == before


@pytest.fixture
def alice_client(alice_2fa):
    return login_verified(Client(), alice_2fa, alice_2fa.totp_device)


# --- accounts and the second factor ------------------------------------------------------------


@FUZZ
@given(email=either("new@example.com", "alice@example.com", "not-an-email"),
       password1=either("correct-horse-battery-9", "short"), password2=either("correct-horse-battery-9", ""))
def test_signup(alice, email, password1, password2):
    cache.clear()
    before = snapshot(), list(type(alice).objects.values_list("pk", flat=True))
    response = Client().post(reverse("account_signup"), {"email": email, "password1": password1,
                                                         "password2": password2})
    assert response.status_code < 500
    if response.status_code != 302:
        assert shown_error(response)
        assert (snapshot(), list(type(alice).objects.values_list("pk", flat=True))) == before


@FUZZ
@given(login=either("alice@example.com", ""), password=text)
def test_login(alice, login, password):
    cache.clear()
    response = Client().post(reverse("account_login"), {"login": login, "password": password})
    assert response.status_code == 200 and shown_error(response)


@FUZZ
@given(code=text)
def test_two_factor_setup_code(alice, code):
    cache.clear()
    client = login_verified(Client(), alice)
    client.get(reverse("two_factor_setup"))
    before = list(TOTPDevice.objects.filter(confirmed=True).values_list("pk"))
    response = client.post(reverse("two_factor_setup"), {"code": code})
    assert response.status_code == 200
    assert shown_error(response) or "Your backup codes" in response.content.decode()
    if "Your backup codes" not in response.content.decode():
        assert list(TOTPDevice.objects.filter(confirmed=True).values_list("pk")) == before


@FUZZ
@given(code=text, next_url=either("/bots/", "https://evil.example/", "//evil.example"))
def test_second_factor_at_login(alice_2fa, code, next_url):
    cache.clear()
    client = login_verified(Client(), alice_2fa)  # password only: the code is still due
    before = snapshot()
    response = client.post(reverse("two_factor_verify"), {"code": code, "next": next_url})
    if response.status_code == 302:  # a right code by chance: never to another site
        assert response.url.startswith("/") and not response.url.startswith("//")
    else:
        check(response, before)


@FUZZ
@given(view=st.sampled_from(["backup_codes_new", "two_factor_off"]), code=text)
def test_step_up_forms(alice_client, alice_2fa, view, code):
    cache.clear()
    before = snapshot(), list(alice_2fa.staticdevice_set.get().token_set.values_list("token", flat=True))
    response = alice_client.post(reverse(view), {"otp_code": code, "code": code}, follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    assert "not changed" in page or "still on" in page or "Too many" in page
    assert (snapshot(), list(alice_2fa.staticdevice_set.get().token_set.values_list("token", flat=True))) == before


@FUZZ
@given(password=either("correct-horse-battery-9", ""), code=text,
       confirmation=either("delete my account", " Delete  my ACCOUNT ", "delete"))
def test_account_delete(alice_client, alice_2fa, password, code, confirmation):
    """Without a right one-time code the account stays, whatever else is typed."""
    cache.clear()
    before = snapshot()
    response = alice_client.post(reverse("account_delete"),
                                 {"password": password, "otp_code": code, "confirmation": confirmation})
    assert shown_error(response), response.content.decode()[:2000]
    assert snapshot() == before
    alice_2fa.refresh_from_db()
    assert alice_2fa.is_active and alice_2fa.email == "alice@example.com"


# --- keys ---------------------------------------------------------------------------------------


@FUZZ
@given(data=st.fixed_dictionaries({
    "exchange": either("paper", "binance", "kraken"), "label": either("Main"), "api_key": either("A" * 64),
    "api_secret": either("b" * 64, ""), "passphrase": either(""), "private_key": either("", "-----BEGIN"),
    "confirm_no_withdrawals": either("on", ""), "otp_code": text,
}))
def test_key_link(alice_client, data):
    cache.clear()
    before = snapshot()
    check(alice_client.post(reverse("keys:link"), data), before)


@FUZZ
@given(code=text)
def test_key_re_enable(alice_client, alice_2fa, code):
    cache.clear()
    key = ExchangeKey.objects.create(owner=alice_2fa, exchange="paper", label="Off", api_key="k" * 20,
                                     api_secret="s" * 20, status=ExchangeKey.Status.DISABLED)
    before = snapshot()
    response = alice_client.post(reverse("keys:enable", args=[key.pk]), {"otp_code": code}, follow=True)
    assert response.status_code == 200 and "Key not re-enabled" in response.content.decode()
    assert snapshot() == before


# --- bots, backtests, reports, alerts, the kill switch ---------------------------------------------


@pytest.fixture
def bot_world(alice_2fa, alice_client, paper, paper_account, strategy):  # noqa: F811
    from tests.portfolios.conftest import alice_paper_key

    key = alice_paper_key.__wrapped__(alice_2fa, paper, paper_account)
    return make_bot(alice_2fa, key, strategy, markets=("BTC/USDT",)), key, strategy


def bot_form(key, strategy):
    return st.fixed_dictionaries({
        "name": either("My bot", ""), "key": either(str(key.pk), "0"), "strategy": either(str(strategy.pk), "0"),
        "quote_asset": either("USDT", "USDC"), "markets": st.lists(either("BTC/USDT", "ETH/USDT", "PUMP/USDT"),
                                                                   max_size=3),
        "allocation": either("500", "0", "-1", "1e9", "NaN"), "position_cap": either("200", "0", "900", "Infinity"),
    })


@FUZZ
@given(data=st.data())
def test_bot_create_and_edit(alice_client, bot_world, data):
    bot, key, strategy = bot_world
    form = data.draw(bot_form(key, strategy))
    url = data.draw(st.sampled_from([reverse("portfolios:bot_create"), reverse("portfolios:bot_edit", args=[bot.pk])]))
    before = snapshot()
    response = alice_client.post(url, form)
    check(response, before)
    if response.status_code == 302:  # accepted: then it is within the rules
        changed = Bot.objects.get(pk=int(response.url.rstrip("/").rsplit("/", 1)[1]))
        assert Decimal(0) < changed.position_cap and Decimal(0) < changed.allocation
        assert set(changed.markets) <= set(strategy.markets) and changed.markets


@FUZZ
@given(form=st.fixed_dictionaries({
    "market": either("BTC/USDT", "DOGE/USDT"), "start": either("2025-01-01", "2025-02-30", "0001-01-01"),
    "end": either("2025-03-01", "9999-12-31", "2024-01-01"), "fee": either("0.001", "-1", "0.5", "nan"),
    "allocation": either("1000", "0", "1e30", "-5", "1e40", "1000000000000"),
}))
@example(form={"market": "BTC/USDT", "start": "2025-01-01", "end": "2025-03-01", "fee": "0.001",
               "allocation": "1e40"})  # it was stored, and then broke every page that listed it
def test_backtest(alice_client, strategy, form):  # noqa: F811
    before = snapshot()
    response = alice_client.post(reverse("strategy_pages:backtest_new", args=[strategy.pk]), form)
    check(response, before)
    for backtest in Backtest.objects.all():  # accepted: then within the bounds, and its pages show
        assert Decimal("0.01") <= backtest.allocation <= Decimal("1e12") and 0 <= backtest.fee <= Decimal("0.1")
        assert alice_client.get(reverse("strategy_pages:backtest_detail", args=[backtest.pk])).status_code == 200
    Backtest.objects.all().delete()  # one at a time per user: the next example starts afresh


@FUZZ
@given(kind=either("orders", "fills", "daily", ""), start=either("2026-01-01", "2026-13-01", "0000-00-00", ""),
       end=either("2026-02-01", "1900-01-01", "99999-01-01", "9999-12-31"), per_bot=st.booleans())
@example(kind="daily", start="2026-01-01", end="9999-12-31", per_bot=True)  # it overflowed: a 500
def test_report_period(alice_client, bot_world, kind, start, end, per_bot):
    bot = bot_world[0]
    url = reverse("portfolios:bot_report", args=[bot.pk]) if per_bot else reverse("portfolios:account_report")
    before = snapshot()
    response = alice_client.get(url, {"kind": kind, "start": start, "end": end})
    assert response.status_code == 200
    if response["Content-Type"].startswith("text/csv"):
        assert b"".join(response.streaming_content).decode().splitlines()[0].startswith(("created", "traded_at", "day"))
    else:
        assert shown_error(response)
    assert snapshot() == before


@FUZZ
@given(data=st.fixed_dictionaries({
    "email_min_severity": either("info", "warning", "critical"), "telegram_min_severity": either("warning", "x"),
    "daily_summary": either("on", ""), "drawdown_threshold": either("10", "", "0", "100", "-3", "1e5", "12.345"),
}))
def test_notification_settings(alice_client, data):
    before = snapshot()
    response = alice_client.post(reverse("alerts:settings"), data)
    check(response, before)
    if response.status_code == 302:
        threshold = AlertPreference.objects.get().drawdown_threshold
        assert threshold is None or Decimal(0) < threshold < Decimal(100)


@FUZZ
@given(cancel=text, disable=text, extra=st.dictionaries(st.text(min_size=1, max_size=10), text, max_size=3))
def test_kill_switch_acts_on_any_input_and_only_as_its_boxes_say(alice_client, bot_world, cancel, disable, extra):
    from django import forms

    bot, key, _ = bot_world
    Bot.objects.filter(pk=bot.pk).update(state=Bot.State.RUNNING)
    ExchangeKey.objects.filter(pk=key.pk).update(status=ExchangeKey.Status.ACTIVE)
    response = alice_client.post(reverse("portfolios:kill_switch"),
                                 {**extra, "cancel_orders": cancel, "disable_keys": disable})
    assert response.status_code == 302 and response.url == reverse("portfolios:kill_switch_resume")
    assert Bot.objects.get(pk=bot.pk).state == Bot.State.PAUSED
    disabled = ExchangeKey.objects.get(pk=key.pk).status == ExchangeKey.Status.DISABLED
    assert disabled == forms.BooleanField(required=False).clean(disable)


@FUZZ
@given(data=st.dictionaries(st.text(min_size=1, max_size=10), text, max_size=4))
def test_resume_after_stop_everything_ignores_whatever_is_posted(alice_client, bot_world, data):
    from portfolios.services import kill_switch

    bot, key, _ = bot_world
    Bot.objects.filter(pk=bot.pk).update(state=Bot.State.RUNNING)
    ExchangeKey.objects.filter(pk=key.pk).update(status=ExchangeKey.Status.ACTIVE)
    kill_switch(user=bot.owner, by=bot.owner)
    response = alice_client.post(reverse("portfolios:kill_switch_resume"), data)
    assert response.status_code == 302 and response.url == reverse("dashboard")
    assert Bot.objects.get(pk=bot.pk).state == Bot.State.RUNNING


@FUZZ
@given(sell=text)
def test_bot_stop(alice_client, bot_world, sell):
    bot, _, _ = bot_world
    response = alice_client.post(reverse("portfolios:bot_stop", args=[bot.pk]), {"sell_positions": sell})
    assert response.status_code == 302
    Bot.objects.filter(pk=bot.pk).update(state=Bot.State.RUNNING)


@FUZZ
@given(url=st.sampled_from(["strategies:signal_list", "alerts:list", "portfolios:bot_list", "dashboard",
                            "strategy_pages:strategy_list", "keys:list", "strategy_pages:backtest_list"]),
       params=st.dictionaries(st.sampled_from(["strategy", "market", "page", "kind", "period", "orders", "fills",
                                               "signals", "history"]), text, max_size=4))
def test_list_pages_with_any_query(alice_client, strategy, url, params):  # noqa: F811
    before = snapshot()
    response = alice_client.get(reverse(url), params)
    assert response.status_code in (200, 404)
    assert snapshot() == before


@FUZZ
@given(params=st.dictionaries(st.sampled_from(["period", "orders", "fills", "signals", "history", "market"]), text,
                              max_size=4))
def test_bot_and_strategy_pages_with_any_query(alice_client, bot_world, params):
    bot, _, strategy = bot_world
    assert alice_client.get(reverse("portfolios:bot_detail", args=[bot.pk]), params).status_code == 200
    # A market filter names one of the strategy's markets, or it is a 404.
    known = params.get("market", "").strip() in ("", *strategy.markets)
    response = alice_client.get(reverse("strategy_pages:strategy_detail", args=[strategy.pk]), params)
    assert response.status_code == (200 if known else 404)


# --- every page and every form, walked from the URL configuration --------------------------------------------

# Every query parameter a page reads, and every field name a form of the portal has.
QUERY_NAMES = ("strategy", "market", "page", "kind", "period", "orders", "fills", "signals", "history", "start",
               "end", "next", "channel")
FIELD_NAMES = ("name", "key", "strategy", "quote_asset", "markets", "allocation", "position_cap", "market", "start",
               "end", "fee", "kind", "email_min_severity", "telegram_min_severity", "daily_summary",
               "drawdown_threshold", "cancel_orders", "disable_keys", "sell_positions", "otp_code", "code", "exchange",
               "label", "api_key", "api_secret", "passphrase", "private_key", "confirm_no_withdrawals", "next")
# /healthz answers 503 by design when a part is down; the webhook and the accounts' forms have their own tests.
NOT_SWEPT_GET = {"healthz"}
NOT_SWEPT_POST = {"healthz", "alerts:telegram_webhook"}


@pytest.fixture
def url_world(alice_2fa, alice_client):
    from strategies.services import strategy_create
    from tests.security.urlmap import NOT_IDS, OWNED, SHARED, objects_for, portal_routes

    key = ExchangeKey.objects.create(
        owner=alice_2fa, exchange="paper", label="Paper", api_key="alice-api-key", api_secret="alice-secret",
        api_key_hint="xxxx…xxxx", permissions={"can_read": True, "can_trade": True, "can_withdraw": False},
        permissions_verified=True,
    )
    world = objects_for(alice_2fa, key, strategy_create(name="Trend", kind="trend", markets=["BTC/USDT"]))
    urls = {}
    for route in portal_routes():
        if route.name in OWNED:
            kwargs = {"pk": world[OWNED[route.name]].pk}
        elif route.name in SHARED:
            kwargs = {"pk": world[SHARED[route.name]].pk}
        elif route.name in NOT_IDS:
            kwargs = NOT_IDS[route.name][0]
        else:
            kwargs = {}
        urls[route.name] = reverse(route.name, kwargs=kwargs)
    return urls


@pytest.mark.parametrize("value", HOSTILE)
def test_every_page_with_a_hostile_value_in_every_query_parameter(alice_client, url_world, value):
    failed = []
    for name, url in url_world.items():
        if name in NOT_SWEPT_GET:
            continue
        response = alice_client.get(url, {parameter: value for parameter in QUERY_NAMES})
        if response.streaming:
            b"".join(response.streaming_content)
        if response.status_code >= 500:
            failed.append(f"GET {url}: {response.status_code}")
    assert not failed, failed


@pytest.mark.parametrize("value", HOSTILE)
def test_every_form_with_a_hostile_value_in_every_field(alice_client, url_world, value):
    failed = []
    for name, url in url_world.items():
        if name in NOT_SWEPT_POST or name.startswith("account_"):
            continue
        response = alice_client.post(url, {field: value for field in FIELD_NAMES})
        if response.streaming:
            b"".join(response.streaming_content)
        if response.status_code >= 500:
            failed.append(f"POST {url}: {response.status_code}")
    assert not failed, failed


@FUZZ
@given(data=st.data())
def test_any_page_with_any_query(alice_client, url_world, data):
    name = data.draw(st.sampled_from(sorted(set(url_world) - NOT_SWEPT_GET)))
    params = data.draw(st.dictionaries(st.sampled_from(QUERY_NAMES), st.one_of(st.sampled_from(HOSTILE), text),
                                       max_size=5))
    response = alice_client.get(url_world[name], params)
    assert response.status_code < 500, (url_world[name], params)


# --- Telegram ---------------------------------------------------------------------------------------


def _state():
    return (list(Bot.objects.order_by("pk").values_list("pk", "state")),
            list(TelegramLink.objects.values_list("chat_id", "active")), BotStateChange.objects.count())


@FUZZ
@given(message=st.one_of(text, st.tuples(st.sampled_from(["/pause", "/resume", "/stop", "/status", "/alerts",
                                                          "/balance", "/positions", "/help", "/Pause@OneClickBot"]),
                                         text).map(" ".join)))
@example(message="/pause ²")  # a digit that int() refuses: it crashed the handler
@example(message="/resume 99999999999999999999999")
def test_telegram_commands_with_any_text(bots, telegram, message):  # noqa: F811
    command, _, argument = message.strip().partition(" ")
    command, argument = command.split("@", 1)[0].lower(), argument.strip()
    changes = command == "/unlink" or (command == "/pause" and (
        not argument or argument.lower() in {"alpha", "beta"} or argument in {str(b.pk) for b in bots}))
    assume(not changes)
    before, sent = _state(), len(telegram.messages(CHAT))
    label = update_handle(telegram.message_update(CHAT, message))
    assert isinstance(label, str)
    assert len(telegram.messages(CHAT)) == sent + 1  # a reply, always
    assert _state() == before


@FUZZ
@given(data=st.one_of(text, st.tuples(st.sampled_from(["resume", "cancel", "stop"]), text).map(":".join)))
def test_telegram_buttons_with_any_data(bots, telegram, data):  # noqa: F811
    assume(not data.startswith("stop") and not (data.startswith("resume:") and data.split(":", 1)[1] in (
        "all", "", *(str(b.pk) for b in bots))))
    before = _state()
    assert isinstance(update_handle(telegram.callback_update(CHAT, data)), str)
    assert _state() == before


json_value = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["message", "chat", "id", "text", "callback_query", "data", "from", "title"]) | text,
        inner, max_size=4),
    max_leaves=12,
)


@FUZZ
@given(update=st.dictionaries(st.sampled_from(["update_id", "message", "callback_query", "edited_message"]),
                              json_value, max_size=3) | json_value)
@example(update={"message": "text"})  # each of these crashed the handler
@example(update={"message": {"chat": {"id": [1]}, "text": "/help"}})
@example(update={"message": {"chat": {"id": CHAT}, "text": 5}})
@example(update={"callback_query": "x"})
def test_telegram_webhook_with_any_json(client, bots, telegram, update):  # noqa: F811
    before = _state()
    response = client.post(reverse("alerts:telegram_webhook"), json.dumps(update), content_type="application/json",
                           HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=WEBHOOK_SECRET)
    assert response.status_code in (200, 400)
    assert _state() == before
