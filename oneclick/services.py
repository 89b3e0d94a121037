"""Account security: sign-in audit, second factor enrolment and checks; who may sign up.

The step-up check (:func:`stepup_verify`, :class:`oneclick.forms.StepUpFormMixin`)
demands a fresh one-time code for a sensitive action even inside a verified
session; other apps use it for linking and re-enabling exchange keys.

Sign-up by invitation (``ONECLICK_SIGNUP=invite``, and approved waitlist
entries): an :class:`Invitation` carries a one-time link, of which only a hash
is stored; :func:`invitation_use` lets exactly one sign-up consume it.
"""

import hashlib
import logging
import secrets
import smtplib
from base64 import b32encode
from datetime import timedelta
from functools import partial
from urllib.parse import quote, urlencode

import django_otp
from allauth.account.adapter import get_adapter
from allauth.account.models import EmailAddress
from allauth.core import context as allauth_context
from allauth.core import ratelimit
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

from oneclick.devices import device_is_known, device_remember
from oneclick.models import Invitation, LoginEvent, TOTPDevice, WaitlistEntry

logger = logging.getLogger(__name__)

BACKUP_CODE_COUNT = 10
TOTP_DEVICE_NAME = "Authenticator app"
BACKUP_DEVICE_NAME = "Backup codes"
BACKUP_CODE_SALT = "oneclick.backup-code"


class SecondFactorError(Exception):
    """A one-time code was refused; the message is safe to show the user."""


def client_ip(request):
    """The client's address: REMOTE_ADDR, or behind TRUSTED_PROXY_COUNT proxies the address they were asked
    from (allauth's reading of X-Forwarded-For, which every rate limit per IP uses too)."""
    if request is None:
        return None
    try:
        return get_adapter().get_client_ip(request)
    except PermissionDenied:
        return None


def login_event_record(*, user, request, kind):
    user_agent = request.META.get("HTTP_USER_AGENT", "")[:300] if request is not None else ""
    return LoginEvent.objects.create(user=user, kind=kind, ip_address=client_ip(request), user_agent=user_agent)


def security_notice_send(*, request, user, notice, context=None):
    """Tell the account's owner by email that ``notice`` happened, from which browser, IP and when.

    ``notice`` names the templates ``account/email/<notice>_subject.txt`` and ``..._message.txt``. Sent at once
    (allauth's notification mail): call it after the change is committed.
    """
    with allauth_context.request_context(request):  # also outside a request served by the middleware
        get_adapter(request).send_notification_mail(f"account/email/{notice}", user, context)


def sign_in_record(*, request, user):
    """A sign-in with the password: audited, and told to the owner when it comes from a new device.

    A new device is a browser without the account's known-device cookie (``oneclick.devices``). The first
    sign-in of an account (right after sign-up) sends no notice. Without 2FA the browser becomes known at once;
    with 2FA, once the code is entered (:func:`second_factor_verify`).
    """
    first = not LoginEvent.objects.filter(user=user, kind=LoginEvent.Kind.PASSWORD).exists()
    login_event_record(user=user, request=request, kind=LoginEvent.Kind.PASSWORD)
    if request is None or "SERVER_NAME" not in request.META:
        return  # not a browser's request (a login made in the process: no device, nobody to tell about)
    if not first and not device_is_known(request=request, user=user):
        security_notice_send(request=request, user=user, notice="new_sign_in")
    if not user_has_two_factor(user=user):
        device_remember(request=request, user=user)


def totp_device_start(*, user):
    """Return the user's pending (unconfirmed) authenticator, creating it once."""
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name=TOTP_DEVICE_NAME, confirmed=False)
    return device


def totp_provisioning_uri(*, device):
    """The otpauth:// URI an authenticator app reads from the QR code."""
    issuer = settings.OTP_TOTP_ISSUER
    label = quote(f"{issuer}:{device.user.email}")
    params = urlencode(
        {"secret": totp_text_secret(device=device), "issuer": issuer, "algorithm": "SHA1",
         "digits": device.digits, "period": device.step}
    )
    return f"otpauth://totp/{label}?{params}"


def totp_text_secret(*, device):
    return b32encode(device.bin_key).decode("ascii").rstrip("=")


def _normalise(code):
    return "".join((code or "").split()).lower()


def _check_rate(request, user):
    if not ratelimit.consume(request, action="otp_failed", user=user, dry_run=True):
        raise SecondFactorError("Too many wrong codes. Wait a few minutes and try again.")


def _refuse(request, user):
    ratelimit.consume(request, action="otp_failed", user=user)
    login_event_record(user=user, request=request, kind=LoginEvent.Kind.SECOND_FACTOR_FAILED)
    raise SecondFactorError("That code is not valid. Check your authenticator app and try again.")


def backup_code_digest(code, secret=None):
    """What is stored of a backup code: a keyed hash (SECRET_KEY), never the code itself.

    django-otp's static tokens hold at most 16 characters: the first 16 hex
    digits (64 bits) of an HMAC-SHA256, which cannot be turned back into the
    code without the key.
    """
    return salted_hmac(BACKUP_CODE_SALT, _normalise(code), secret=secret, algorithm="sha256").hexdigest()[:16]


def _backup_code_digests(code):
    """The digests under the current key and every fallback key (a key being rotated)."""
    return [backup_code_digest(code, secret) for secret in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS)]


def _match(user, code):
    """The confirmed device (authenticator or backup codes) accepting ``code``."""
    code = _normalise(code)
    if not code:
        return None
    # Devices are locked while a code is checked, so a code is used only once
    # even when two requests race.
    with transaction.atomic():
        for device in django_otp.devices_for_user(user, confirmed=True, for_verify=True):
            if isinstance(device, StaticDevice):
                if any(device.verify_token(digest) for digest in _backup_code_digests(code)):
                    return device
            elif device.verify_token(code):
                return device
    return None


def totp_device_confirm(*, request, user, device, code):
    """Confirm a pending authenticator with a valid code; return new backup codes."""
    _check_rate(request, user)
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().get(pk=device.pk, user=user, confirmed=False)
        accepted = device.verify_token(_normalise(code))
    if not accepted:
        _refuse(request, user)
    with transaction.atomic():
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        TOTPDevice.objects.filter(user=user).exclude(pk=device.pk).delete()
        codes = backup_codes_regenerate(user=user)
    django_otp.login(request, device)
    login_event_record(user=user, request=request, kind=LoginEvent.Kind.TWO_FACTOR_ENABLED)
    return codes


@transaction.atomic
def backup_codes_regenerate(*, user):
    """Replace every backup code of the user with 10 new single-use ones."""
    device, _ = StaticDevice.objects.get_or_create(user=user, defaults={"name": BACKUP_DEVICE_NAME})
    device.token_set.all().delete()
    codes = [StaticToken.random_token() for _ in range(BACKUP_CODE_COUNT)]
    StaticToken.objects.bulk_create(StaticToken(device=device, token=backup_code_digest(code)) for code in codes)
    return codes


def second_factor_verify(*, request, code):
    """Finish a login: accept a TOTP or backup code and mark the session verified."""
    user = request.user
    _check_rate(request, user)
    device = _match(user, code)
    if device is None:
        _refuse(request, user)
    django_otp.login(request, device)
    login_event_record(user=user, request=request, kind=LoginEvent.Kind.SECOND_FACTOR)
    device_remember(request=request, user=user)
    return device


def stepup_verify(*, request, user, code):
    """Demand a fresh one-time code for a sensitive action.

    Raises :class:`SecondFactorError` when the user has no confirmed device,
    when the code is wrong or already used, or when too many were wrong.
    """
    if not user_has_two_factor(user=user):
        raise SecondFactorError("Turn on two-factor authentication first.")
    _check_rate(request, user)
    if _match(user, code) is None:
        _refuse(request, user)


def two_factor_disable(*, request, user, code):
    stepup_verify(request=request, user=user, code=code)
    with transaction.atomic():
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
    login_event_record(user=user, request=request, kind=LoginEvent.Kind.TWO_FACTOR_DISABLED)


def user_has_two_factor(*, user):
    return TOTPDevice.objects.filter(user=user, confirmed=True).exists()


# Who may sign up: invitations and the waitlist.

INVITATION_MAIL_TIMEOUT_SECONDS = 15
INVITATION_NOT_VALID = "This invitation link is not valid. Check that you opened the whole link from the email."
INVITATION_USED = "This invitation has already been used. If you made your account with it, sign in."
INVITATION_EXPIRED = "This invitation has expired. Ask whoever invited you to send it again."
INVITATION_OTHER_EMAIL = "This invitation is for another email address."


class InvitationRefused(Exception):
    """An invitation that cannot be used (now); the message is safe to show, ``status`` is the page's."""

    def __init__(self, message, status=410):
        super().__init__(message)
        self.status = status


class WaitlistRefused(Exception):
    """A request to join the waitlist that was not taken; the message is safe to show."""


def invitation_token_digest(token):
    """What is stored of an invitation link's token. The token is 256 random bits: a plain SHA-256 suffices."""
    return hashlib.sha256(token.encode()).hexdigest()


def email_has_account(*, email):
    return (EmailAddress.objects.filter(email__iexact=email).exists()
            or get_user_model().objects.filter(email__iexact=email).exists())


def invitation_issue(*, invitation, by=None):
    """Give the invitation a new one-time link (an earlier one stops working), and email it once committed.

    ``invitation`` is a new, unsaved one (staff's or an approved waitlist entry's) or an unused one being
    sent again; the link is valid for ``ONECLICK_INVITE_DAYS`` from now.
    """
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    fields = {"token_hash": invitation_token_digest(token), "issued_at": now,
              "expires_at": now + timedelta(days=settings.ONECLICK_INVITE_DAYS), "sent_at": None, "send_error": ""}
    if invitation.pk is None:
        invitation.email = invitation.email.strip().lower()
        invitation.created_by = by
        for name, value in fields.items():
            setattr(invitation, name, value)
        invitation.save()
    else:
        # Conditional: a link is never renewed for an invitation that a sign-up has just used.
        if not Invitation.objects.filter(pk=invitation.pk, used_at__isnull=True).update(**fields):
            raise InvitationRefused(INVITATION_USED)
        for name, value in fields.items():
            setattr(invitation, name, value)
    transaction.on_commit(partial(_invitation_mail, invitation_id=invitation.pk, token=token))
    return invitation


def _invitation_mail(*, invitation_id, token):
    """Send the link (outside any transaction); record on the invitation whether the mail server took it."""
    digest = invitation_token_digest(token)
    current = Invitation.objects.filter(pk=invitation_id, token_hash=digest, used_at__isnull=True)
    invitation = current.first()
    if invitation is None:  # deleted, used or given a newer link meanwhile
        return False
    context = {"email": invitation.email, "expires_at": invitation.expires_at, "site_url": settings.ONECLICK_SITE_URL,
               "invite_url": f"{settings.ONECLICK_SITE_URL}{reverse('invitation_accept', args=[token])}"}
    subject = render_to_string("account/email/invitation_subject.txt", context).strip()
    body = render_to_string("account/email/invitation_message.txt", context)
    message = EmailMessage(subject=f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}{subject}", body=body,
                           to=[invitation.email], connection=get_connection(timeout=INVITATION_MAIL_TIMEOUT_SECONDS))
    try:
        message.send()
    except (smtplib.SMTPException, OSError) as error:
        reason = f"Mail not sent: {getattr(error, 'smtp_code', '') or type(error).__name__}"
        current.update(send_error=reason[:200])
        logger.warning("invitation %s: %s", invitation_id, reason)
        return False
    current.update(sent_at=timezone.now())
    return True


def _refuse_unusable(invitation, now):
    status = invitation.status(now)
    if status == "used":
        raise InvitationRefused(INVITATION_USED)
    if status == "expired":
        raise InvitationRefused(INVITATION_EXPIRED)


def invitation_check(*, token):
    """The invitation an emailed link opens, if it can still be used; else :class:`InvitationRefused`."""
    invitation = Invitation.objects.filter(token_hash=invitation_token_digest(token)).first() if token else None
    if invitation is None:
        raise InvitationRefused(INVITATION_NOT_VALID, status=404)
    _refuse_unusable(invitation, timezone.now())
    return invitation


def invitation_usable(*, invitation_id):
    """The invitation if it is still unused and unexpired, else None."""
    return Invitation.objects.filter(pk=invitation_id, used_at__isnull=True, expires_at__gt=timezone.now()).first()


def invitation_use(*, invitation, user):
    """The user just signed up with the invitation: it is used, by them, and by no one else ever."""
    now = timezone.now()
    claimed = Invitation.objects.filter(
        pk=invitation.pk, email__iexact=user.email, used_at__isnull=True, expires_at__gt=now
    ).update(used_at=now, used_by=user)
    if not claimed:
        current = Invitation.objects.filter(pk=invitation.pk).first()
        if current is None:
            raise InvitationRefused(INVITATION_NOT_VALID, status=404)
        _refuse_unusable(current, now)
        raise InvitationRefused(INVITATION_OTHER_EMAIL, status=400)


def waitlist_join(*, request, email, note=""):
    """Put an address on the waitlist, once.

    Says nothing about what it found: an address already waiting, or one that has an account, is
    left as it is, and the caller shows the same page either way.
    """
    email = email.strip().lower()
    if not ratelimit.consume(request, action="waitlist", key=email):
        raise WaitlistRefused("Too many requests. Try again in an hour.")
    if email_has_account(email=email):
        return
    WaitlistEntry.objects.get_or_create(email=email, defaults={"note": note.strip()[:300]})


def waitlist_approve(*, entry, by):
    """Approve a waiting address: an invitation is made and its link emailed. False if it was approved already."""
    with transaction.atomic():
        entry = WaitlistEntry.objects.select_for_update().filter(pk=entry.pk, approved_at__isnull=True).first()
        if entry is None:
            return False
        invitation = invitation_issue(invitation=Invitation(email=entry.email), by=by)
        entry.approved_at, entry.approved_by, entry.invitation = timezone.now(), by, invitation
        entry.save(update_fields=["approved_at", "approved_by", "invitation"])
    return True
