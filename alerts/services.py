"""The alert outbox: raise (with dedupe), claim, send, retry, switch a broken channel off.

``alert_raise`` is the only writer of :class:`Alert` rows. Deliveries are
claimed by one worker at a time (``SELECT ... FOR UPDATE SKIP LOCKED`` where
the database has it, a conditional update elsewhere), sent outside any
transaction, and their outcome recorded on the row.
"""

import hashlib
import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from alerts.channels import CHANNELS
from alerts.errors import ChannelError
from alerts.models import (
    SEVERITY_RANK, Alert, AlertPreference, Delivery, Kind, Severity, TelegramLink, TelegramLinkToken,
)
from oneclick.lib.clock import db_now

log = logging.getLogger(__name__)

# A claimed delivery belongs to its worker for this long; a crashed worker's rows are due again after it.
CLAIM_LEASE = timedelta(minutes=5)
CLAIM_BATCH = 50
LINK_TOKEN_LIFETIME = timedelta(minutes=15)


def preference_for(*, user):
    pref, _ = AlertPreference.objects.get_or_create(user=user)
    return pref


def channels_for(*, user, severity, pref):
    """Channels an alert of this severity goes to: per the preferences; critical to every linked one."""
    chosen = []
    for name, channel in CHANNELS.items():
        minimum = getattr(pref, f"{name}_min_severity", Severity.CRITICAL)
        wanted = severity == Severity.CRITICAL or SEVERITY_RANK[severity] >= SEVERITY_RANK[minimum]
        if wanted and channel.linked(user, pref=pref):
            chosen.append(name)
    return chosen


def _raisers_serialize(user, dedupe_key):
    """One raiser of the same alert at a time, so two identical alerts never both get created.

    On PostgreSQL a lock held until the transaction ends, on (user, dedupe key) only: a user's bots raising
    different alerts at once (a fan-out's order fills) never wait for each other. SQLite takes its write lock
    at the start of every transaction (IMMEDIATE), which serializes raisers already.
    """
    if connection.vendor != "postgresql":
        return
    digest = hashlib.blake2b(f"alert:{user.pk}:{dedupe_key}".encode(), digest_size=8).digest()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest, "big", signed=True)])


def alert_raise(*, user, kind, severity, title, text="", dedupe_key="", bot=None, key=None, order=None,
                link="", channels=None, window=None):
    """Record an alert and its deliveries; an identical one within the window is merged instead.

    ``dedupe_key`` names what makes two alerts identical (default: kind and
    title). ``channels`` forces the channels (each still only if linked);
    otherwise the user's preferences decide. ``window`` overrides the dedupe
    window (``ALERTS_DEDUPE_WINDOW_SECONDS``). Returns the alert, with
    ``merged`` set when it was an existing one.
    """
    now = timezone.now()
    dedupe_key = (dedupe_key or f"{kind}:{title}")[:200]
    window = timedelta(seconds=settings.ALERTS_DEDUPE_WINDOW_SECONDS) if window is None else window
    pref = preference_for(user=user)
    with transaction.atomic(savepoint=False):  # inside a caller's transaction (an order's record), part of it
        _raisers_serialize(user, dedupe_key)
        existing = (Alert.objects.filter(user=user, dedupe_key=dedupe_key, created__gte=now - window)
                    .order_by("-created", "-id").first())
        if existing is not None:
            Alert.objects.filter(pk=existing.pk).update(count=F("count") + 1, last_seen=now)
            existing.refresh_from_db()
            existing.merged = True
            return existing
        alert = Alert.objects.create(
            user=user, kind=kind, severity=severity, title=title[:200], text=text, dedupe_key=dedupe_key,
            bot=bot, key=key, order=order, link=link[:200], created=now, last_seen=now,
        )
        if channels is None:
            names = channels_for(user=user, severity=severity, pref=pref)
        else:
            names = [name for name in channels if name in CHANNELS and CHANNELS[name].linked(user, pref=pref)]
        Delivery.objects.bulk_create([Delivery(alert=alert, channel=name, next_attempt_at=now) for name in names])
        if names and severity != Severity.INFO:
            # Warnings and criticals go out at once; info alerts (an order filled, a key
            # linked) wait for the delivery pass that runs every minute, which keeps
            # the order path free of a queue write per order.
            transaction.on_commit(lambda: _enqueue_delivery(alert.pk))
    alert.merged = False
    return alert


def _enqueue_delivery(alert_id):
    from django_q.tasks import async_task

    async_task("alerts.tasks.alert_deliver", alert_id, group="alerts", task_name=f"alert-deliver-{alert_id}",
               cluster=settings.TASKS_QUEUE)


def alerts_resolve(*, user, kinds, why, key=None, bot=None):
    """The condition behind these open alerts cleared (a key re-enabled, a bot resumed): they resolve themselves,
    saying why, and leave the count of alerts that need attention. Returns how many."""
    rows = Alert.objects.filter(user=user, kind__in=kinds, acknowledged_at__isnull=True)
    if key is not None:
        rows = rows.filter(key=key)
    if bot is not None:
        rows = rows.filter(bot=bot)
    return rows.update(acknowledged_at=timezone.now(), resolved=why[:200])


def alert_acknowledge(*, alert, by):
    return Alert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(acknowledged_at=timezone.now())


def alerts_acknowledge_all(*, user):
    return Alert.objects.filter(user=user, acknowledged_at__isnull=True).update(acknowledged_at=timezone.now())


def alert_resend(*, alert):
    """Send an alert again on every channel the user has now (staff's "re-send")."""
    now = db_now()
    names = [name for name, channel in CHANNELS.items() if channel.linked(alert.user)]
    for name in names:
        Delivery.objects.update_or_create(
            alert=alert, channel=name,
            defaults={"state": Delivery.State.PENDING, "attempts": 0, "next_attempt_at": now, "last_error": ""},
        )
    transaction.on_commit(lambda: _enqueue_delivery(alert.pk))
    return names


# Delivery ------------------------------------------------------------------------------------------


def backoff(attempts):
    """Seconds to wait after the n-th failed attempt: exponential, capped."""
    return min(settings.ALERTS_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), settings.ALERTS_RETRY_MAX_SECONDS)


def deliveries_claim(*, now=None, limit=CLAIM_BATCH, alert_id=None):
    """Take due deliveries for this worker: no other worker gets the same row until the lease ends."""
    now = now or db_now()
    lease_until = now + CLAIM_LEASE
    due = Delivery.objects.filter(state=Delivery.State.PENDING, next_attempt_at__lte=now)
    if alert_id is not None:
        due = due.filter(alert_id=alert_id)
    due = due.order_by("next_attempt_at", "id")
    claimed = []
    if connection.features.has_select_for_update_skip_locked:
        with transaction.atomic():
            rows = list(due.select_for_update(skip_locked=True)[:limit])
            Delivery.objects.filter(pk__in=[row.pk for row in rows]).update(
                attempts=F("attempts") + 1, next_attempt_at=lease_until
            )
        claimed = rows
    else:
        for row in due[:limit]:
            won = Delivery.objects.filter(
                pk=row.pk, state=Delivery.State.PENDING, attempts=row.attempts, next_attempt_at=row.next_attempt_at
            ).update(attempts=row.attempts + 1, next_attempt_at=lease_until)
            if won:
                claimed.append(row)
    for row in claimed:
        row.attempts += 1
        row.next_attempt_at = lease_until
    return claimed


def _finish(delivery, **fields):
    """Record an outcome, only if the row is still ours (claimed with this attempt count)."""
    return Delivery.objects.filter(pk=delivery.pk, state=Delivery.State.PENDING, attempts=delivery.attempts).update(
        **fields
    )


def delivery_send(*, delivery, now=None):
    """Send one claimed delivery (never inside a transaction) and record what happened."""
    now = now or db_now()
    alert = Alert.objects.select_related("user", "bot", "key").get(pk=delivery.alert_id)
    channel = CHANNELS.get(delivery.channel)
    if channel is None or not channel.linked(alert.user):
        why = "not configured" if channel is None or not channel.configured() else "not linked or switched off"
        _finish(delivery, state=Delivery.State.DROPPED, last_error=f"{delivery.channel} {why}")
        return Delivery.State.DROPPED
    try:
        channel.send(alert)
    except ChannelError as error:
        if error.switch_off:
            channel_switch_off(user=alert.user, channel=channel.name, reason=error.reason)
        if error.permanent or delivery.attempts >= settings.ALERTS_MAX_ATTEMPTS:
            _finish(delivery, state=Delivery.State.FAILED, last_error=error.reason)
            return Delivery.State.FAILED
        _finish(delivery, last_error=error.reason, next_attempt_at=now + timedelta(seconds=backoff(delivery.attempts)))
        log.warning("alert delivery %s will be retried: %s", delivery.pk, error.reason)
        return Delivery.State.PENDING
    _finish(delivery, state=Delivery.State.SENT, sent_at=timezone.now(), last_error="")
    return Delivery.State.SENT


def deliveries_send_due(*, now=None, alert_id=None):
    """Claim and send what is due; returns {state: count}. The minute schedule and each new alert call it."""
    outcome = {}
    while True:
        batch = deliveries_claim(now=now, alert_id=alert_id)
        if not batch:
            return outcome
        for delivery in batch:
            state = delivery_send(delivery=delivery, now=now)
            outcome[state] = outcome.get(state, 0) + 1


def channel_switch_off(*, user, channel, reason):
    """A channel failed for good for this user: stop using it and say so through the others."""
    CHANNELS[channel].switch_off(user, reason)
    label = CHANNELS[channel].label
    others = [name for name in CHANNELS if name != channel]
    alert_raise(
        user=user, kind=Kind.CHANNEL_DISABLED, severity=Severity.WARNING,
        title=f"{label} alerts switched off",
        text=(f"Alerts could not be delivered through {label} ({reason}), so OneClick stopped using it. "
              f"Fix it and turn it back on in your alert settings."),
        dedupe_key=f"channel_disabled:{channel}", channels=others, link=reverse("alerts:settings"),
    )


def channel_switch_on(*, user, channel):
    if channel == "email":
        AlertPreference.objects.filter(user=user).update(email_off_reason="")
    elif channel == "telegram":
        TelegramLink.objects.filter(user=user).update(active=True, off_reason="")


def test_alert_send(*, user):
    """Raise a test alert on every linked channel and send it now; returns {channel: (state, error)}."""
    alert = alert_raise(
        user=user, kind=Kind.TEST, severity=Severity.INFO, title="Test alert",
        text="This is a test alert from OneClick. If you read this, alerts reach you here.",
        dedupe_key=f"test:{secrets.token_hex(8)}", channels=list(CHANNELS), link=reverse("alerts:settings"),
    )
    deliveries_send_due(alert_id=alert.pk)
    return {d.channel: (d.state, d.last_error) for d in alert.deliveries.all()}


# Telegram linking ------------------------------------------------------------------------------------


class LinkError(Exception):
    """The link token cannot be used; the message is safe to show in the chat."""


def _token_hash(token):
    return hashlib.sha256(token.encode()).hexdigest()


def telegram_link_token_create(*, user):
    """A one-time token for the deep link t.me/<bot>?start=<token>, valid 15 minutes."""
    token = secrets.token_urlsafe(24)
    now = db_now()
    TelegramLinkToken.objects.create(user=user, token_hash=_token_hash(token), created=now,
                                     expires=now + LINK_TOKEN_LIFETIME)
    return token


def telegram_deep_link(token):
    """Raises ChannelError when the bot's username is not set and Telegram cannot be asked."""
    from alerts.telegram import bot_username

    return f"https://t.me/{bot_username()}?start={token}"


def telegram_link_complete(*, token, chat_id, chat_name=""):
    """Link the chat to the token's user. The token works once, within its lifetime."""
    now = db_now()
    row = TelegramLinkToken.objects.filter(token_hash=_token_hash(token or "")).select_related("user").first()
    if row is None:
        raise LinkError("This link is not valid. Open the notification settings in the portal and link again.")
    if row.used_at is not None:
        raise LinkError("This link was already used. Open the notification settings in the portal for a new one.")
    if row.expires < now:
        raise LinkError("This link has expired (links are valid for 15 minutes). Get a new one from the portal.")
    other = TelegramLink.objects.filter(chat_id=chat_id).exclude(user=row.user).exists()
    if other:
        raise LinkError("This chat is already linked to another OneClick account. Send /unlink there first.")
    with transaction.atomic():
        if not TelegramLinkToken.objects.filter(pk=row.pk, used_at__isnull=True).update(used_at=now):
            raise LinkError("This link was already used. Open the notification settings in the portal for a new one.")
        TelegramLink.objects.update_or_create(
            user=row.user,
            defaults={"chat_id": chat_id, "chat_name": chat_name[:100], "active": True, "off_reason": "",
                      "linked_at": now},
        )
    return row.user


def telegram_unlink(*, user):
    return TelegramLink.objects.filter(user=user).delete()[0] > 0


# Alerts from other apps' events ------------------------------------------------------------------------


def page_link(name, *args, fallback="alerts:list"):
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return reverse(fallback)
