"""Alert channels: one small class per way of telling a user, kept in a plain dict.

A channel ``send``s one alert or raises :class:`ChannelError`, which says
whether a retry may help (``permanent``) and whether the user's channel
itself is broken and must be switched off (``switch_off``: the chat blocked
the bot, the mailbox refuses mail).
"""

import smtplib

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.template.loader import render_to_string
from django.urls import reverse

from alerts import telegram
from alerts.errors import ChannelError
from alerts.models import AlertPreference, TelegramLink

SEVERITY_MARK = {"info": "ℹ️", "warning": "⚠️", "critical": "🚨"}
EMAIL_TIMEOUT_SECONDS = 15


def absolute_url(path):
    return f"{settings.ONECLICK_SITE_URL}{path}" if path else ""


def alert_urls(alert):
    """The page the alert is about and the preferences page, as absolute URLs."""
    page = alert.link or reverse("alerts:detail", args=[alert.pk])
    return absolute_url(page), absolute_url(reverse("alerts:settings"))


class Channel:
    name = ""
    label = ""

    def configured(self):
        return True

    def linked(self, user, pref=None):
        """Whether this user can be reached here now (set up, and not switched off); ``pref``: the user's
        :class:`AlertPreference` when the caller holds it already."""
        raise NotImplementedError

    def status(self, user):
        """A short, human status for the settings page."""
        if not self.configured():
            return "not configured"
        return "on" if self.linked(user) else "off"

    def send(self, alert):
        raise NotImplementedError

    def switch_off(self, user, reason):
        raise NotImplementedError


class EmailChannel(Channel):
    """Django's email backend: a text and an HTML body from the alert kind's templates."""

    name = "email"
    label = "Email"

    def linked(self, user, pref=None):
        if not user.email:
            return False
        if pref is None:
            pref = AlertPreference.objects.filter(user=user).only("email_off_reason").first()
        return pref is None or not pref.email_off_reason

    def status(self, user):
        pref = AlertPreference.objects.filter(user=user).first()
        if pref and pref.email_off_reason:
            return f"switched off: {pref.email_off_reason}"
        return f"on ({user.email})" if user.email else "no email address"

    def render(self, alert):
        page_url, settings_url = alert_urls(alert)
        context = {"alert": alert, "page_url": page_url, "settings_url": settings_url,
                   "site_url": settings.ONECLICK_SITE_URL}
        text = render_to_string(f"alerts/email/{alert.kind}.txt", context)
        html = render_to_string(f"alerts/email/{alert.kind}.html", context)
        subject = f"[OneClick] {alert.get_severity_display()}: {alert.title}"[:200]
        return subject, text, html

    def send(self, alert):
        subject, text, html = self.render(alert)
        message = EmailMultiAlternatives(
            subject=subject, body=text, to=[alert.user.email],
            connection=get_connection(timeout=EMAIL_TIMEOUT_SECONDS),
        )
        message.attach_alternative(html, "text/html")
        try:
            message.send()
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _msg in error.recipients.values()]
            permanent = all(500 <= code < 600 for code in codes)
            raise ChannelError(f"The mail server refused the address ({', '.join(map(str, codes))})",
                               switch_off=permanent) from None
        except smtplib.SMTPResponseException as error:
            raise ChannelError(f"Mail server answered {error.smtp_code}",
                               permanent=500 <= error.smtp_code < 600) from None
        except (smtplib.SMTPException, OSError) as error:
            raise ChannelError(f"Mail server unreachable ({type(error).__name__})") from None

    def switch_off(self, user, reason):
        AlertPreference.objects.update_or_create(user=user, defaults={"email_off_reason": reason[:300]})


class TelegramChannel(Channel):
    """python-telegram-bot's ``Bot``, with ``base_url`` from ``TELEGRAM_API_BASE_URL``."""

    name = "telegram"
    label = "Telegram"

    def configured(self):
        return bool(settings.TELEGRAM_BOT_TOKEN)

    def linked(self, user, pref=None):
        return self.configured() and TelegramLink.objects.filter(user=user, active=True).exists()

    def status(self, user):
        if not self.configured():
            return "not configured"
        link = TelegramLink.objects.filter(user=user).first()
        if link is None:
            return "not linked"
        if not link.active:
            return f"switched off: {link.off_reason}"
        return f"linked ({link.chat_name or 'chat'})"

    def render(self, alert):
        page_url, settings_url = alert_urls(alert)
        parts = [f"{SEVERITY_MARK[alert.severity]} {alert.title}"]
        if alert.text:
            parts.append(alert.text)
        parts.append(f"Details: {page_url}\nAlert settings: {settings_url}")
        return "\n\n".join(parts)[:4000]

    def send(self, alert):
        link = TelegramLink.objects.filter(user=alert.user, active=True).first()
        if link is None:
            raise ChannelError("No linked Telegram chat", permanent=True)
        telegram.send_message(link.chat_id, self.render(alert))

    def switch_off(self, user, reason):
        TelegramLink.objects.filter(user=user).update(active=False, off_reason=reason[:300])


CHANNELS = {channel.name: channel for channel in (EmailChannel(), TelegramChannel())}
