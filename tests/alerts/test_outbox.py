from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import Alert, Delivery, TelegramLink
from alerts.services import alert_raise, backoff, deliveries_claim, deliveries_send_due, preference_for

pytestmark = pytest.mark.django_db


def _raise(user, **extra):
    fields = {"kind": "foreign_trade", "severity": "warning", "title": "Trade placed by no bot", "dedupe_key": "k1"}
    return alert_raise(user=user, **{**fields, **extra})


def test_identical_alerts_within_the_window_are_merged_with_a_count_and_not_sent_again(alice, smtp):
    first = _raise(alice)
    second = _raise(alice)
    assert second.pk == first.pk and second.merged
    assert Alert.objects.get(pk=first.pk).count == 2
    assert Delivery.objects.filter(alert__user=alice).count() == 1
    deliveries_send_due()
    assert len(smtp.to("alice@example.com")) == 1


def test_the_same_alert_after_the_window_is_a_new_alert(alice, settings):
    settings.ALERTS_DEDUPE_WINDOW_SECONDS = 60
    first = _raise(alice)
    Alert.objects.filter(pk=first.pk).update(created=timezone.now() - timedelta(seconds=61))
    second = _raise(alice)
    assert second.pk != first.pk and not second.merged
    assert Alert.objects.filter(user=alice).count() == 2


def test_dedupe_is_per_user_and_per_key(alice, bob):
    assert _raise(alice).pk != _raise(bob).pk
    assert _raise(alice).pk != _raise(alice, dedupe_key="k2").pk


def test_severities_go_to_the_channels_the_user_chose_and_critical_to_every_linked_one(alice, telegram):
    TelegramLink.objects.create(user=alice, chat_id=1001)
    pref = preference_for(user=alice)
    pref.email_min_severity = "critical"
    pref.telegram_min_severity = "warning"
    pref.save()
    info = _raise(alice, severity="info", dedupe_key="i")
    warning = _raise(alice, severity="warning", dedupe_key="w")
    critical = _raise(alice, severity="critical", dedupe_key="c")
    assert list(info.deliveries.values_list("channel", flat=True)) == []
    assert list(warning.deliveries.values_list("channel", flat=True)) == ["telegram"]
    assert sorted(critical.deliveries.values_list("channel", flat=True)) == ["email", "telegram"]


def test_without_a_telegram_token_alerts_go_by_email_only(alice, settings):
    settings.TELEGRAM_BOT_TOKEN = ""
    TelegramLink.objects.create(user=alice, chat_id=1001)
    alert = _raise(alice, severity="critical")
    assert list(alert.deliveries.values_list("channel", flat=True)) == ["email"]


def test_a_claimed_delivery_is_not_claimed_again_until_its_lease_ends(alice):
    _raise(alice)
    now = timezone.now()
    first = deliveries_claim(now=now)
    assert len(first) == 1 and first[0].attempts == 1
    assert deliveries_claim(now=now) == []
    # A worker that died while sending: the row is due again after the lease.
    again = deliveries_claim(now=now + timedelta(minutes=6))
    assert [d.pk for d in again] == [first[0].pk] and again[0].attempts == 2


def test_back_off_doubles_and_is_capped(settings):
    settings.ALERTS_RETRY_BASE_SECONDS = 60
    settings.ALERTS_RETRY_MAX_SECONDS = 600
    assert [backoff(n) for n in range(1, 7)] == [60, 120, 240, 480, 600, 600]


def test_a_delivery_fails_for_good_after_the_last_attempt(alice, smtp_down, settings):
    settings.ALERTS_MAX_ATTEMPTS = 2
    alert = _raise(alice)
    now = timezone.now()
    deliveries_send_due(now=now)
    delivery = Delivery.objects.get(alert=alert)
    assert delivery.state == "pending" and delivery.attempts == 1
    deliveries_send_due(now=delivery.next_attempt_at)
    delivery.refresh_from_db()
    assert delivery.state == "failed" and delivery.attempts == 2
    assert "unreachable" in delivery.last_error
