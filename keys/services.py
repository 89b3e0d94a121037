"""Everything that changes an exchange key: link, probe, disable, enable, delete.

Network calls (probes) happen outside database transactions; the outcome is
written afterwards. Every change leaves a :class:`KeyEvent` row; the ones a
user must hear about become alerts (:func:`key_event_alert`). Disabling a key
sends :data:`key_disabled`, which the bots' layer answers by pausing the
key's bots: keys know nothing of bots.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.dispatch import Signal
from django.urls import reverse
from django.utils import timezone

from alerts.models import Kind, Severity
from alerts.services import alert_raise, alerts_resolve, page_link
from exchanges import AuthFailed, Credentials, ExchangeError, PermissionDenied, exchange_class
from keys.models import ExchangeKey, KeyEvent, mask_api_key

log = logging.getLogger(__name__)

# Consecutive authentication failures after which a key is disabled.
AUTH_FAILURE_LIMIT = 3
# "Last used" is precise to a minute: busy keys are not rewritten on every call.
LAST_USED_RESOLUTION = timedelta(minutes=1)


# Sent after a key was disabled or deleted (by its owner, staff or the
# platform), with ``key``, ``reason`` and ``by``: whatever uses keys stops
# using this one.
key_disabled = Signal()


class KeyRefused(Exception):
    """The key cannot be linked or used; the message is safe to show the user."""


class KeyNotActive(Exception):
    """The key was disabled or deleted: nothing may be sent with it."""


WITHDRAW_REFUSAL = (
    "This key can withdraw funds, so OneClick refuses it. On your exchange, edit the key and turn "
    "withdrawals (and internal/universal transfers) off, or create a new key with only reading and "
    "spot trading enabled, then link it again."
)
NO_TRADE_REFUSAL = (
    "This key cannot trade spot, so a bot could not place orders with it. Enable spot trading on the "
    "key at your exchange (keep withdrawals off) and link it again."
)
UNVERIFIED_CONFIRMATION = (
    "{exchange} does not tell us a key's permissions. Confirm that withdrawals are turned off for this key."
)


def event_record(*, kind, owner, key=None, actor=None, ip=None, detail=""):
    event = KeyEvent.objects.create(kind=kind, owner=owner, key=key, actor=actor, ip_address=ip, detail=detail[:500])
    key_event_alert(event)
    return event


def _probe(exchange_name, credentials):
    """Authenticate and read permissions. Raises KeyRefused with a clear reason."""
    exchange = exchange_class(exchange_name)(credentials)
    try:
        return exchange.probe()
    except AuthFailed as error:
        raise KeyRefused(
            f"{exchange.label} did not accept this key and secret. Check that you copied both completely, "
            f"and that the key is not restricted to other IP addresses than OneClick's. ({error.reason})"
        ) from None
    except PermissionDenied as error:
        raise KeyRefused(
            f"{exchange.label} refused the key: it lacks reading permission or is restricted to other IP "
            f"addresses. ({error.reason})"
        ) from None
    except ExchangeError as error:
        if error.retryable:
            raise KeyRefused(
                f"Could not reach {exchange.label} to check the key ({error.reason}). Nothing was saved; try again."
            ) from None
        raise KeyRefused(f"{exchange.label} refused the check: {error.reason}") from None


def _judge(exchange_name, permissions, confirmed_no_withdrawals):
    """Refuse what must be refused; return the stored permission dict."""
    if permissions.can_withdraw:
        raise KeyRefused(WITHDRAW_REFUSAL)
    if permissions.verified and not permissions.can_trade:
        raise KeyRefused(NO_TRADE_REFUSAL)
    if not permissions.verified and not confirmed_no_withdrawals:
        raise KeyRefused(UNVERIFIED_CONFIRMATION.format(exchange=exchange_class(exchange_name).label))
    return permissions.as_dict()


def key_link(*, owner, exchange, label, credentials, confirmed_no_withdrawals=False, actor=None, ip=None):
    """Probe a new key and store it encrypted if it is safe to use.

    Raises :class:`KeyRefused` (and stores nothing but an audit row) otherwise.
    """
    try:
        probe = _probe(exchange, credentials)
        permissions = _judge(exchange, probe.permissions, confirmed_no_withdrawals)
    except KeyRefused as refusal:
        event_record(
            kind=KeyEvent.Kind.LINK_REFUSED, owner=owner, actor=actor or owner, ip=ip,
            detail=f"{exchange}: {refusal}",
        )
        raise
    now = timezone.now()
    with transaction.atomic():
        key = ExchangeKey.objects.create(
            owner=owner,
            exchange=exchange,
            label=label,
            api_key=credentials.api_key,
            api_secret=credentials.secret,
            passphrase=credentials.passphrase,
            private_key=credentials.private_key,
            api_key_hint=mask_api_key(credentials.api_key),
            permissions=permissions,
            permissions_verified=probe.permissions.verified,
            ip_restricted=probe.permissions.ip_restricted,
            probed_at=now,
            last_used_at=now,
        )
        event_record(kind=KeyEvent.Kind.LINKED, owner=owner, key=key, actor=actor or owner, ip=ip)
        event_record(kind=KeyEvent.Kind.PROBED, owner=owner, key=key, actor=actor or owner, ip=ip,
                     detail=_permission_summary(permissions))
    return key


def _permission_summary(permissions):
    flags = [name for name in ("can_read", "can_trade", "can_withdraw") if permissions.get(name)]
    restricted = permissions.get("ip_restricted")
    verified = "verified" if permissions.get("verified") else "unverified"
    return f"{', '.join(flags) or 'no permissions'}; IP-restricted: {restricted}; {verified}"


def key_credentials(key):
    """Decrypted credentials, for the process that is about to use them."""
    return Credentials(
        api_key=key.api_key, secret=key.api_secret, passphrase=key.passphrase, private_key=key.private_key
    )


def key_exchange(*, key_id=None, key=None, read_only=False):
    """A gateway exchange for a key, re-checking that the key is active now.

    Every task that talks to an exchange with a user's key calls this when it
    runs (not when it was queued), so disabling a key stops queued work too.
    ``key``: the row the task has just read (else it is read by ``key_id``).
    ``read_only``: a disabled key still serves reads (balances, trades, the
    outcome of an order sent before it was disabled) until it is deleted; the
    caller never sends anything with it.
    """
    if key is None:
        key = ExchangeKey.objects.get(pk=key_id)
    allowed = (ExchangeKey.Status.ACTIVE, ExchangeKey.Status.DISABLED) if read_only else (ExchangeKey.Status.ACTIVE,)
    if key.status not in allowed:
        raise KeyNotActive(f"Key {key.pk} is {key.get_status_display().lower()}")
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        ExchangeKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key, exchange_class(key.exchange)(key_credentials(key))


def key_disable(*, key, by=None, reason="Disabled by the owner", ip=None):
    """Stop every use of the key at once. Needs no second factor: stopping must be easy."""
    with transaction.atomic():
        changed = ExchangeKey.objects.filter(pk=key.pk, status=ExchangeKey.Status.ACTIVE).update(
            status=ExchangeKey.Status.DISABLED, status_reason=reason[:300]
        )
        if changed:
            event_record(kind=KeyEvent.Kind.DISABLED, owner=key.owner, key=key, actor=by, ip=ip, detail=reason)
    key.refresh_from_db()
    key_disabled.send(sender=ExchangeKey, key=key, reason=f"Key disabled: {reason}", by=by)
    return bool(changed)


def key_enable(*, key, by, ip=None, confirmed_no_withdrawals=False):
    """Re-enable a disabled key after a fresh probe (the view demands a fresh code)."""
    if key.status != ExchangeKey.Status.DISABLED:
        raise KeyRefused("Only a disabled key can be re-enabled.")
    try:
        probe = _probe(key.exchange, key_credentials(key))
        confirmed = confirmed_no_withdrawals or not key.permissions_verified
        permissions = _judge(key.exchange, probe.permissions, confirmed)
    except KeyRefused as refusal:
        event_record(kind=KeyEvent.Kind.PROBE_FAILED, owner=key.owner, key=key, actor=by, ip=ip, detail=str(refusal))
        raise
    with transaction.atomic():
        ExchangeKey.objects.filter(pk=key.pk).update(
            status=ExchangeKey.Status.ACTIVE,
            status_reason="",
            permissions=permissions,
            permissions_verified=probe.permissions.verified,
            ip_restricted=probe.permissions.ip_restricted,
            probed_at=timezone.now(),
            auth_failures=0,
        )
        event_record(kind=KeyEvent.Kind.ENABLED, owner=key.owner, key=key, actor=by, ip=ip,
                     detail=_permission_summary(permissions))
    key.refresh_from_db()
    return key


def key_delete(*, key, by, ip=None):
    """Overwrite the encrypted values and take the key out of use for good."""
    with transaction.atomic():
        ExchangeKey.objects.filter(pk=key.pk).update(
            api_key="", api_secret="", passphrase="", private_key="",
            status=ExchangeKey.Status.REVOKED, status_reason="Deleted",
        )
        event_record(kind=KeyEvent.Kind.DELETED, owner=key.owner, key=key, actor=by, ip=ip)
    key.refresh_from_db()
    key_disabled.send(sender=ExchangeKey, key=key, reason="Key deleted", by=by)


def key_auth_failure_record(*, key, detail):
    """Count an authentication failure; disable the key after repeated ones."""
    with transaction.atomic():
        locked = ExchangeKey.objects.select_for_update().get(pk=key.pk)
        locked.auth_failures += 1
        locked.save(update_fields=["auth_failures"])
        event_record(kind=KeyEvent.Kind.AUTH_FAILURE, owner=locked.owner, key=locked,
                     detail=f"{detail} ({locked.auth_failures} in a row)")
    if locked.auth_failures >= AUTH_FAILURE_LIMIT and locked.status == ExchangeKey.Status.ACTIVE:
        key_disable(key=locked, reason=f"{locked.auth_failures} authentication failures in a row")
    return locked.auth_failures


def key_reprobe(*, key, by=None, ip=None):
    """Probe an active key again; disable it if it can now withdraw or keeps failing."""
    if key.status != ExchangeKey.Status.ACTIVE:
        return key
    exchange = exchange_class(key.exchange)(key_credentials(key))
    try:
        probe = exchange.probe()
    except (AuthFailed, PermissionDenied) as error:
        key_auth_failure_record(key=key, detail=error.reason)
        key.refresh_from_db()
        return key
    except ExchangeError as error:
        event_record(kind=KeyEvent.Kind.PROBE_FAILED, owner=key.owner, key=key, actor=by, ip=ip, detail=error.reason)
        return key
    ExchangeKey.objects.filter(pk=key.pk).update(last_used_at=timezone.now())
    return key_permissions_apply(key=key, permissions=probe.permissions, by=by, ip=ip)


def key_permissions_apply(*, key, permissions, by=None, ip=None, record_probe=True):
    """Store what the exchange says the key may do; disable it if it can withdraw or no longer trade.

    Called after a full probe, and by every reconciliation with the
    permissions it reads (a cheap request), so a key that gains withdrawal
    rights is caught within minutes, not at the next daily probe.
    """
    stored = permissions.as_dict()
    changed = stored != key.permissions
    with transaction.atomic():
        ExchangeKey.objects.filter(pk=key.pk).update(
            permissions=stored,
            permissions_verified=permissions.verified,
            ip_restricted=permissions.ip_restricted,
            probed_at=timezone.now(),
            auth_failures=0,
        )
        if record_probe or changed:
            event_record(kind=KeyEvent.Kind.PROBED, owner=key.owner, key=key, actor=by, ip=ip,
                         detail=_permission_summary(stored))
    key.refresh_from_db()
    if permissions.can_withdraw:
        event_record(kind=KeyEvent.Kind.WITHDRAW_DETECTED, owner=key.owner, key=key,
                     detail="The exchange reports that this key can now withdraw funds.")
        key_disable(key=key, reason="The key can now withdraw funds")
    elif permissions.verified and not permissions.can_trade:
        key_disable(key=key, reason="The key can no longer trade")
    return key


def keys_reprobe_all():
    """Queue a re-probe of every active key (the daily schedule)."""
    from django_q.tasks import async_task

    ids = list(ExchangeKey.objects.filter(status=ExchangeKey.Status.ACTIVE).values_list("pk", flat=True))
    for key_id in ids:
        async_task("keys.tasks.key_reprobe_task", key_id, task_name=f"key-reprobe-{key_id}",
                   cluster=settings.TASKS_QUEUE)
    return len(ids)


def key_event_alert(event):
    """Turn a key audit event (keys.services.event_record) into an alert, when it is one."""
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
    if event.kind in (kind_of.PROBED, kind_of.ENABLED) and key is not None:
        # A check that passed, or the key back on: what said otherwise no longer needs attention.
        cleared = [Kind.KEY_PROBE_FAILED] + ([Kind.KEY_DISABLED, Kind.KEY_AUTH_FAILURE]
                                             if event.kind == kind_of.ENABLED else [])
        alerts_resolve(user=event.owner, kinds=cleared, key=key,
                       why="Key re-enabled" if event.kind == kind_of.ENABLED else "Key checked again: it works")
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
