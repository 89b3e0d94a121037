import pytest
from django.urls import reverse

from alerts.models import Alert, TelegramLink, TelegramLinkToken
from alerts.services import alert_raise, deliveries_send_due, preference_for
from tests.conftest import login_verified

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice_alerts(alice, smtp):
    critical = alert_raise(user=alice, kind="key_withdraw", severity="critical", title="Key can withdraw: Paper")
    info = alert_raise(user=alice, kind="order_filled", severity="info", title="Order filled: buy 0.01 BTC/USDT")
    deliveries_send_due()
    return critical, info


def test_the_alert_list_shows_severity_time_and_delivery_status(client, alice, alice_alerts):
    login_verified(client, alice)
    page = client.get(reverse("alerts:list")).content.decode()
    assert "Key can withdraw: Paper" in page and "Order filled: buy 0.01 BTC/USDT" in page
    assert "Critical" in page and "Info" in page
    assert "email: sent" in page
    assert "<time datetime=" in page


def test_the_alert_list_filters_by_kind(client, alice, alice_alerts):
    login_verified(client, alice)
    page = client.get(reverse("alerts:list"), {"kind": "order_filled"}).content.decode()
    assert "Order filled: buy" in page and "Key can withdraw: Paper" not in page


def test_the_nav_badge_counts_unacknowledged_warnings_and_criticals(client, alice, alice_alerts):
    critical, _info = alice_alerts
    login_verified(client, alice)
    page = client.get(reverse("alerts:list")).content.decode()
    assert '<mark class="badge">1</mark>' in page
    response = client.post(reverse("alerts:acknowledge", args=[critical.pk]))
    assert response.status_code == 302
    critical.refresh_from_db()
    assert critical.acknowledged_at is not None
    assert 'class="badge"' not in client.get(reverse("alerts:list")).content.decode()


def test_bob_cannot_see_or_acknowledge_alices_alerts(client, alice, bob, alice_alerts):
    critical, _ = alice_alerts
    login_verified(client, bob)
    assert client.get(reverse("alerts:detail", args=[critical.pk])).status_code == 404
    assert client.post(reverse("alerts:acknowledge", args=[critical.pk])).status_code == 404
    critical.refresh_from_db()
    assert critical.acknowledged_at is None
    assert "Key can withdraw" not in client.get(reverse("alerts:list")).content.decode()
    client.post(reverse("alerts:acknowledge_all"))
    critical.refresh_from_db()
    assert critical.acknowledged_at is None


def test_alice_sees_her_alert_with_its_deliveries(client, alice, alice_alerts):
    critical, _ = alice_alerts
    login_verified(client, alice)
    page = client.get(reverse("alerts:detail", args=[critical.pk])).content.decode()
    assert "Key can withdraw: Paper" in page and "email: sent after 1 attempt(s)" in page


def test_alert_pages_need_a_login(client, alice_alerts):
    critical, _ = alice_alerts
    for url in (reverse("alerts:list"), reverse("alerts:detail", args=[critical.pk]), reverse("alerts:settings")):
        assert client.get(url).status_code == 302


def test_without_a_token_telegram_shows_not_configured(client, alice, settings):
    settings.TELEGRAM_BOT_TOKEN = ""
    login_verified(client, alice)
    page = client.get(reverse("alerts:settings")).content.decode()
    assert "not configured" in page and "Link Telegram" not in page
    assert client.post(reverse("alerts:telegram_link")).status_code == 302
    assert not TelegramLinkToken.objects.exists()


def test_settings_save_preferences_and_refuse_bad_input(client, alice):
    login_verified(client, alice)
    url = reverse("alerts:settings")
    data = {"email_min_severity": "warning", "telegram_min_severity": "critical", "daily_summary": "on",
            "drawdown_threshold": "15"}
    assert client.post(url, data).status_code == 302
    pref = preference_for(user=alice)
    assert (pref.email_min_severity, pref.telegram_min_severity, pref.daily_summary) == ("warning", "critical", True)
    assert pref.drawdown_threshold == 15
    bad = client.post(url, {**data, "drawdown_threshold": "150", "email_min_severity": "warning"})
    assert bad.status_code == 200 and "between 0 and 100" in bad.content.decode()
    pref.refresh_from_db()
    assert pref.drawdown_threshold == 15


def test_link_and_unlink_telegram_from_the_portal(client, alice, bob, telegram):
    from alerts.updates import update_handle

    login_verified(client, alice)
    page = client.post(reverse("alerts:telegram_link")).content.decode()
    start = page.index("https://t.me/oneclick_test_bot?start=")
    token = page[start:].split("start=", 1)[1].split('"', 1)[0]
    update_handle(telegram.message_update(777, f"/start {token}"))
    assert TelegramLink.objects.get(user=alice).chat_id == 777
    assert "linked (Alice)" in client.get(reverse("alerts:settings")).content.decode()
    # bob's unlink touches only his own (absent) link.
    login_verified(client, bob)
    client.post(reverse("alerts:telegram_unlink"))
    assert TelegramLink.objects.filter(user=alice).exists()
    login_verified(client, alice)
    client.post(reverse("alerts:telegram_unlink"))
    assert not TelegramLink.objects.filter(user=alice).exists()


def test_link_tokens_a_user_asks_for_are_limited(client, alice, bob, telegram):
    login_verified(client, alice)
    pages = [client.post(reverse("alerts:telegram_link"), follow=True).content.decode() for _ in range(11)]
    assert ["start=" in page for page in pages] == [True] * 10 + [False]
    assert "Too many Telegram links asked for" in pages[-1]
    assert TelegramLinkToken.objects.filter(user=alice).count() == 10
    # bob's own limit is untouched.
    login_verified(client, bob)
    assert "start=" in client.post(reverse("alerts:telegram_link")).content.decode()


def test_send_a_test_alert_shows_the_delivery_result(client, alice, smtp, telegram):
    TelegramLink.objects.create(user=alice, chat_id=888)
    telegram.block(888)
    login_verified(client, alice)
    page = client.post(reverse("alerts:test")).content.decode()
    assert "Email: sent" in page
    assert "Telegram: failed (Telegram refused: Forbidden: bot was blocked by the user)" in page
    assert [m["Subject"] for m in smtp.to("alice@example.com")].count("[OneClick] Info: Test alert") == 1
    assert Alert.objects.filter(user=alice, kind="test").count() == 1


def test_the_deep_link_asks_telegram_for_the_bot_username_when_not_set(client, alice, telegram, settings):
    settings.TELEGRAM_BOT_USERNAME = ""
    login_verified(client, alice)
    page = client.post(reverse("alerts:telegram_link")).content.decode()
    assert "https://t.me/oneclick_test_bot?start=" in page
