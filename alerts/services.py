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
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import F
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from alerts.channels import CHANNELS, ChannelError
from alerts.models import (
    SEVERITY_RANK, Alert, AlertPreference, Delivery, Kind, Severity, TelegramLink, TelegramLinkToken,
)

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
        if not channel.linked(user):
            continue
        minimum = getattr(pref, f"{name}_min_severity", Severity.CRITICAL)
        if severity == Severity.CRITICAL or SEVERITY_RANK[severity] >= SEVERITY_RANK[minimum]:
            chosen.append(name)
    return chosen


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
    preference_for(user=user)
    with transaction.atomic():
        # One raiser per user at a time, so two identical alerts never both get created.
        pref = AlertPreference.objects.select_for_update().get(user=user)
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
            names = [name for name in channels if name in CHANNELS and CHANNELS[name].linked(user)]
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

    async_task("alerts.tasks.alert_deliver", alert_id, group="alerts", task_name=f"alert-deliver-{alert_id}")


def alert_acknowledge(*, alert, by):
    return Alert.objects.filter(pk=alert.pk, acknowledged_at__isnull=True).update(acknowledged_at=timezone.now())


def alerts_acknowledge_all(*, user):
    return Alert.objects.filter(user=user, acknowledged_at__isnull=True).update(acknowledged_at=timezone.now())


def alert_resend(*, alert):
    """Send an alert again on every channel the user has now (staff's "re-send")."""
    now = timezone.now()
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
    now = now or timezone.now()
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
    now = now or timezone.now()
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
    now = timezone.now()
    TelegramLinkToken.objects.create(user=user, token_hash=_token_hash(token), created=now,
                                     expires=now + LINK_TOKEN_LIFETIME)
    return token


def telegram_deep_link(token):
    """Raises ChannelError when the bot's username is not set and Telegram cannot be asked."""
    from alerts.telegram import bot_username

    return f"https://t.me/{bot_username()}?start={token}"


def telegram_link_complete(*, token, chat_id, chat_name=""):
    """Link the chat to the token's user. The token works once, within its lifetime."""
    now = timezone.now()
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


def key_event_alert(event):
    """Turn a key audit event (keys.services.event_record) into an alert, when it is one."""
    from keys.models import KeyEvent

    key = event.key
    kind_of = KeyEvent.Kind
    name = str(key) if key else "an exchange key"
    link = page_link("keys:detail", key.pk, fallback="keys:list") if key else reverse("keys:list")
    detail = event.detail
    common = {"user": event.owner, "key": key, "link": link}
    key_tag = key.pk if key else "none"
    if event.kind == kind_of.LINKED:
        return alert_raise(kind=Kind.KEY_LINKED, severity=Severity.INFO, title=f"Key linked: {name}",
                           text="The key was checked and stored encrypted.", dedupe_key=f"key_linked:{key_tag}",
                           **common)
    if event.kind == kind_of.PROBED and event.actor_id:
        return alert_raise(kind=Kind.KEY_PROBED, severity=Severity.INFO, title=f"Key checked: {name}",
                           text=f"Permissions: {detail}", dedupe_key=f"key_probed:{key_tag}:{event.pk}", **common)
    if event.kind == kind_of.PROBE_FAILED:
        return alert_raise(kind=Kind.KEY_PROBE_FAILED, severity=Severity.WARNING, title=f"Key check failed: {name}",
                           text=detail, dedupe_key=f"key_probe_failed:{key_tag}", **common)
    if event.kind == kind_of.DISABLED:
        return alert_raise(kind=Kind.KEY_DISABLED, severity=Severity.CRITICAL, title=f"Key disabled: {name}",
                           text=f"{detail}. Its bots are paused; nothing is sent with this key until you re-enable it.",
                           dedupe_key=f"key_disabled:{key_tag}", **common)
    if event.kind == kind_of.ENABLED:
        return alert_raise(kind=Kind.KEY_ENABLED, severity=Severity.INFO, title=f"Key re-enabled: {name}",
                           text=f"Permissions: {detail}", dedupe_key=f"key_enabled:{key_tag}:{event.pk}", **common)
    if event.kind == kind_of.DELETED:
        return alert_raise(kind=Kind.KEY_DELETED, severity=Severity.INFO, title=f"Key deleted: {name}",
                           dedupe_key=f"key_deleted:{key_tag}", **common)
    if event.kind == kind_of.LINK_REFUSED:
        return alert_raise(kind=Kind.KEY_LINK_REFUSED, severity=Severity.INFO, title="A key was refused",
                           text=detail, dedupe_key=f"key_link_refused:{event.pk}", **common)
    if event.kind == kind_of.WITHDRAW_DETECTED:
        return alert_raise(
            kind=Kind.KEY_WITHDRAW, severity=Severity.CRITICAL, title=f"Key can withdraw: {name}",
            text=("The exchange reports that this key can now withdraw funds. OneClick disabled it and paused its "
                  "bots. Turn withdrawals off for the key at your exchange (or delete it) and check your account."),
            dedupe_key=f"key_withdraw:{key_tag}", **common)
    if event.kind == kind_of.AUTH_FAILURE:
        repeated = key is not None and key.auth_failures >= 2
        return alert_raise(
            kind=Kind.KEY_AUTH_FAILURE, severity=Severity.CRITICAL if repeated else Severity.WARNING,
            title=f"{'Repeated authentication failures' if repeated else 'Authentication failure'}: {name}",
            text=f"The exchange did not accept the key: {detail}.",
            dedupe_key=f"key_auth_failure:{key_tag}:{'repeated' if repeated else 'first'}", **common)
    return None


def bot_state_alert(*, change):
    """A bot was paused, resumed or stopped (portfolios.services.bot_state_set)."""
    bot = change.bot
    by_platform = change.by_id is None
    link = page_link("portfolios:bot_detail", bot.pk, fallback="portfolios:bot_list")
    who = "OneClick" if by_platform else "you"
    if change.to_state == "paused":
        kind, severity, title = Kind.BOT_PAUSED, Severity.WARNING if by_platform else Severity.INFO, "Bot paused"
    elif change.to_state == "running":
        kind, severity, title = Kind.BOT_RESUMED, Severity.INFO, "Bot resumed"
    else:
        kind, severity, title = Kind.BOT_STOPPED, Severity.WARNING if by_platform else Severity.INFO, "Bot stopped"
    if not by_platform and change.by_id != bot.owner_id:
        who = "staff"
    return alert_raise(
        user=bot.owner, bot=bot, kind=kind, severity=severity, title=f"{title}: {bot.name}",
        text=f"Changed by {who}: {change.reason}", dedupe_key=f"bot_state:{change.pk}", link=link,
    )


def order_state_alert(*, order):
    """An order was filled, or failed / was rejected: one alert per order and outcome."""
    states = {"filled": (Kind.ORDER_FILLED, Severity.INFO), "failed": (Kind.ORDER_FAILED, Severity.WARNING),
              "rejected": (Kind.ORDER_FAILED, Severity.WARNING)}
    if order.state not in states:
        return None
    kind, severity = states[order.state]
    if Alert.objects.filter(order=order, kind=kind).exists():
        return None
    bot = order.bot
    if kind == Kind.ORDER_FILLED:
        price = f" at {order.average_price.normalize():f}" if order.average_price else ""
        title = f"Order filled: {order.side} {order.filled_quantity.normalize():f} {order.market}{price}"
        text = f"Bot {bot.name} · cost {order.cost.normalize():f} {order.market.split('/')[-1]}"
    else:
        title = f"Order {order.state}: {order.side} {order.quantity.normalize():f} {order.market}"
        text = f"Bot {bot.name}: {order.error or 'no reason given'}"
    return alert_raise(
        user=bot.owner, bot=bot, key=bot.key, order=order, kind=kind, severity=severity, title=title, text=text,
        dedupe_key=f"order:{order.pk}:{order.state}",
        link=page_link("portfolios:bot_detail", bot.pk, fallback="portfolios:bot_list"),
    )


def strategy_run_failed_alert(*, run):
    """Tell every active staff member that a strategy run failed."""
    strategy = run.strategy
    link = page_link("admin:strategies_strategyrun_change", run.pk, fallback="alerts:list")
    alerts = []
    for user in get_user_model().objects.filter(is_staff=True, is_active=True):
        alerts.append(alert_raise(
            user=user, kind=Kind.STRATEGY_RUN_FAILED, severity=Severity.WARNING,
            title=f"Strategy run failed: {strategy.name}", text=run.error or "No error recorded.",
            dedupe_key=f"strategy_run_failed:{strategy.pk}", link=link,
        ))
    return alerts
