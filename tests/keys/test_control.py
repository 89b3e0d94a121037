from decimal import Decimal

import pytest
from django.urls import reverse

from keys.models import ExchangeKey, KeyEvent
from keys.services import KeyNotActive, key_exchange, key_link
from keys.tasks import key_reprobe_task, keys_reprobe_daily
from exchanges import Credentials
from portfolios.models import Bot
from strategies.models import Strategy
from tests.conftest import enable_two_factor, login_verified, totp_code

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_key(alice_2fa, paper, paper_account):
    credentials = Credentials(api_key=paper_account.api_key, secret=paper_account.secret)
    return key_link(owner=alice_2fa, exchange="paper", label="Main", credentials=credentials)


@pytest.fixture
def alice_bot(alice_key):
    strategy = Strategy.objects.create(name="Trend", kind="trend", markets=["BTC/USDT"])
    return Bot.objects.create(
        owner=alice_key.owner, name="BTC bot", key=alice_key, strategy=strategy, markets=["BTC/USDT"],
        allocation=Decimal("500"), position_cap=Decimal("300"),
    )


def test_disable_is_one_click_and_pauses_bots(client, alice_2fa, alice_key, alice_bot):
    login_verified(client, alice_2fa, alice_2fa.totp_device)
    response = client.post(reverse("keys:disable", args=[alice_key.pk]), follow=True)
    assert "No bot can place an order with it" in response.content.decode()
    alice_key.refresh_from_db()
    alice_bot.refresh_from_db()
    assert alice_key.status == "disabled"
    assert alice_bot.state == "paused"
    assert alice_bot.state_changes.get().by == alice_2fa
    assert KeyEvent.objects.filter(key=alice_key, kind="disabled", actor=alice_2fa).exists()
    # Work queued before the click re-checks the key when it runs, and stops.
    with pytest.raises(KeyNotActive):
        key_exchange(key_id=alice_key.pk)


def test_re_enable_needs_a_fresh_code_and_a_new_probe(client, alice_2fa, alice_key, paper):
    login_verified(client, alice_2fa, alice_2fa.totp_device)
    client.post(reverse("keys:disable", args=[alice_key.pk]))
    refused = client.post(reverse("keys:enable", args=[alice_key.pk]), {"otp_code": "000000"}, follow=True)
    assert "Key not re-enabled" in refused.content.decode()
    alice_key.refresh_from_db()
    assert alice_key.status == "disabled"

    probes_before = paper.counters()["requests"]
    ok = client.post(reverse("keys:enable", args=[alice_key.pk]), {"otp_code": totp_code(alice_2fa.totp_device)},
                     follow=True)
    assert "re-enabled after a fresh check" in ok.content.decode()
    alice_key.refresh_from_db()
    assert alice_key.status == "active"
    assert paper.counters()["requests"] > probes_before


def test_re_enable_refuses_a_key_that_can_now_withdraw(client, alice_2fa, alice_key, paper, paper_account):
    login_verified(client, alice_2fa, alice_2fa.totp_device)
    client.post(reverse("keys:disable", args=[alice_key.pk]))
    paper.set_withdraw(paper_account.api_key, on=True)
    response = client.post(reverse("keys:enable", args=[alice_key.pk]),
                           {"otp_code": totp_code(alice_2fa.totp_device)}, follow=True)
    assert "can withdraw funds" in response.content.decode()
    alice_key.refresh_from_db()
    assert alice_key.status == "disabled"


def test_delete_erases_the_values_and_keeps_the_history(client, alice_2fa, alice_key, alice_bot):
    login_verified(client, alice_2fa, alice_2fa.totp_device)
    confirm = client.get(reverse("keys:delete", args=[alice_key.pk]))
    assert "BTC bot" in confirm.content.decode()
    client.post(reverse("keys:delete", args=[alice_key.pk]))
    key = ExchangeKey.objects.get(pk=alice_key.pk)
    assert key.status == "revoked"
    assert (key.api_key, key.api_secret, key.passphrase, key.private_key) == ("", "", "", "")
    assert KeyEvent.objects.filter(key=key, kind="deleted").exists()
    assert KeyEvent.objects.filter(key=key, kind="linked").exists()
    alice_bot.refresh_from_db()
    assert alice_bot.state == "paused"
    assert client.get(reverse("keys:detail", args=[key.pk])).status_code == 404
    assert "Main" not in client.get(reverse("keys:list")).content.decode()


def test_bob_gets_404_for_every_action_on_alices_key(client, bob, alice_key):
    device, _ = enable_two_factor(bob)
    login_verified(client, bob, device)
    pk = alice_key.pk
    assert client.get(reverse("keys:detail", args=[pk])).status_code == 404
    assert client.post(reverse("keys:disable", args=[pk])).status_code == 404
    assert client.post(reverse("keys:reprobe", args=[pk])).status_code == 404
    assert client.get(reverse("keys:delete", args=[pk])).status_code == 404
    assert client.post(reverse("keys:delete", args=[pk])).status_code == 404
    assert client.post(reverse("keys:enable", args=[pk]), {"otp_code": totp_code(device)}).status_code == 404
    alice_key.refresh_from_db()
    assert alice_key.status == "active"
    assert "Main" not in client.get(reverse("keys:list")).content.decode()


def test_daily_reprobe_catches_a_withdraw_permission_switched_on(alice_key, alice_bot, paper, paper_account, q_sync):
    paper.set_withdraw(paper_account.api_key, on=True)
    assert keys_reprobe_daily() == 1
    alice_key.refresh_from_db()
    alice_bot.refresh_from_db()
    assert alice_key.status == "disabled"
    assert "withdraw" in alice_key.status_reason
    assert alice_bot.state == "paused"
    kinds = list(KeyEvent.objects.filter(key=alice_key).values_list("kind", flat=True))
    assert "withdraw_detected" in kinds and "disabled" in kinds


def test_repeated_authentication_failures_disable_the_key(alice_key, paper, paper_account):
    paper.control("DELETE", f"/_paper/keys/{paper_account.api_key}")
    for _ in range(2):
        key_reprobe_task(alice_key.pk)
        alice_key.refresh_from_db()
        assert alice_key.status == "active"
    key_reprobe_task(alice_key.pk)
    alice_key.refresh_from_db()
    assert alice_key.status == "disabled"
    assert alice_key.auth_failures == 3
    assert KeyEvent.objects.filter(key=alice_key, kind="auth_failure").count() == 3


def test_a_healthy_reprobe_records_the_probe(alice_key):
    key_reprobe_task(alice_key.pk)
    alice_key.refresh_from_db()
    assert alice_key.status == "active"
    assert KeyEvent.objects.filter(key=alice_key, kind="probed").count() == 2


def test_staff_disable_and_reprobe_from_admin(client, staff, alice_key, paper, paper_account):
    device, _ = enable_two_factor(staff)
    login_verified(client, staff, device)
    paper.set_withdraw(paper_account.api_key, on=True)
    client.post("/admin/keys/exchangekey/", {"action": "reprobe_keys", "_selected_action": [alice_key.pk]})
    alice_key.refresh_from_db()
    assert alice_key.status == "disabled"
    assert KeyEvent.objects.filter(key=alice_key, kind="withdraw_detected").exists()


def test_staff_disable_action(client, staff, alice_key, alice_bot):
    device, _ = enable_two_factor(staff)
    login_verified(client, staff, device)
    client.post("/admin/keys/exchangekey/", {"action": "disable_keys", "_selected_action": [alice_key.pk]})
    alice_key.refresh_from_db()
    alice_bot.refresh_from_db()
    assert alice_key.status == "disabled" and alice_bot.state == "paused"
    assert KeyEvent.objects.get(key=alice_key, kind="disabled").actor == staff


def test_the_daily_reprobe_is_scheduled(db):
    from django_q.models import Schedule

    schedule = Schedule.objects.get(func="keys.tasks.keys_reprobe_daily")
    assert schedule.schedule_type == Schedule.DAILY


def test_alerts_resolve_themselves_when_the_key_is_re_enabled_and_the_bot_resumed(client, alice_2fa, alice_key,
                                                                                  alice_bot, bob):
    from alerts.models import Alert
    from portfolios.services import bot_resume

    login_verified(client, alice_2fa, alice_2fa.totp_device)
    client.post(reverse("keys:disable", args=[alice_key.pk]))
    disabled = Alert.objects.get(user=alice_2fa, kind="key_disabled")
    assert disabled.acknowledged_at is None
    client.post(reverse("keys:enable", args=[alice_key.pk]), {"otp_code": totp_code(alice_2fa.totp_device)})
    alice_bot.refresh_from_db()
    assert bot_resume(bot=alice_bot, by=alice_2fa)

    disabled.refresh_from_db()
    assert disabled.acknowledged_at is not None and disabled.resolved == "Key re-enabled"
    alice_bot.refresh_from_db()
    assert alice_bot.state == "running"
    paused = list(Alert.objects.filter(user=alice_2fa, kind="bot_paused"))
    assert paused and all(alert.resolved == "Bot resumed" for alert in paused)
    page = client.get(reverse("alerts:list")).content.decode()
    assert "resolved: Key re-enabled" in page
    # Another user trying alice's alert gets 404.
    client.force_login(bob)
    assert client.get(reverse("alerts:detail", args=[disabled.pk])).status_code == 404


def test_the_key_page_says_when_its_last_check_failed_until_one_passes(client, alice_2fa, alice_key, paper, bob):
    from keys.services import key_reprobe

    login_verified(client, alice_2fa, alice_2fa.totp_device)
    page = client.get(reverse("keys:detail", args=[alice_key.pk])).content.decode()
    assert "last check failed" not in page
    paper.fault(error={"rate": 1.0, "status": 503})
    key_reprobe(key=alice_key)
    paper.clear_faults()
    page = client.get(reverse("keys:detail", args=[alice_key.pk])).content.decode()
    assert "Active · <strong class=\"status-bad\">last check failed</strong>" in page
    assert "The last check with the exchange failed" in page

    key_reprobe(key=ExchangeKey.objects.get(pk=alice_key.pk))  # the exchange answers again
    page = client.get(reverse("keys:detail", args=[alice_key.pk])).content.decode()
    assert "last check failed" not in page
    client.force_login(bob)
    assert client.get(reverse("keys:detail", args=[alice_key.pk])).status_code == 404
