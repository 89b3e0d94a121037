import pytest
from django.utils import timezone

from alerts.models import Delivery, TelegramLink
from alerts.services import alert_raise, deliveries_send_due, preference_for
from tests.alerts.conftest import body_html, body_text

pytestmark = pytest.mark.django_db


def test_an_alert_arrives_over_smtp_with_text_html_and_links(alice, smtp):
    alert = alert_raise(user=alice, kind="key_withdraw", severity="critical", title="Key can withdraw: Paper",
                        text="The exchange reports that this key can now withdraw funds.", link="/keys/7/")
    assert deliveries_send_due() == {"sent": 1}
    [message] = smtp.to("alice@example.com")
    assert message["Subject"] == "[OneClick] Critical: Key can withdraw: Paper"
    text, html = body_text(message), body_html(message)
    for body in (text, html):
        assert "can now withdraw funds" in body
        assert "http://127.0.0.1:8000/keys/7/" in body
        assert "http://127.0.0.1:8000/alerts/settings/" in body
        # The kind's own template adds what to do.
        assert "Turn withdrawals off for this key" in body
    assert "<p" in html and "<p" not in text
    delivery = Delivery.objects.get(alert=alert)
    assert delivery.state == "sent" and delivery.sent_at is not None and delivery.attempts == 1


def test_smtp_down_is_retried_later_then_delivered(alice, smtp_down):
    alert_raise(user=alice, kind="test", severity="info", title="Hello")
    now = timezone.now()
    assert deliveries_send_due(now=now) == {"pending": 1}
    delivery = Delivery.objects.get(alert__user=alice)
    assert delivery.state == "pending" and delivery.attempts == 1
    assert delivery.next_attempt_at > now
    assert "unreachable" in delivery.last_error
    # Not due yet: nothing is tried.
    assert deliveries_send_due(now=now) == {}
    smtp_down.start()
    assert deliveries_send_due(now=delivery.next_attempt_at) == {"sent": 1}
    delivery.refresh_from_db()
    assert delivery.state == "sent" and delivery.attempts == 2 and delivery.last_error == ""
    assert len(smtp_down.to("alice@example.com")) == 1


def test_a_mailbox_that_refuses_mail_switches_email_off_and_the_user_is_told_on_telegram(alice, smtp, telegram):
    smtp.refused.add("alice@example.com")
    TelegramLink.objects.create(user=alice, chat_id=4242)
    alert_raise(user=alice, kind="test", severity="info", title="Hello")
    deliveries_send_due()
    failed = Delivery.objects.get(alert__title="Hello", channel="email")
    assert failed.state == "failed" and "550" in failed.last_error
    assert preference_for(user=alice).email_off_reason
    [told] = telegram.messages(4242)
    assert "Email alerts switched off" in told["text"]
    # Email stays off: the next alert is not even tried by email.
    later = alert_raise(user=alice, kind="test", severity="critical", title="Again")
    assert list(later.deliveries.values_list("channel", flat=True)) == ["telegram"]
