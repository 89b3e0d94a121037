"""Account security: sign-in audit, second factor enrolment and checks.

The step-up check (:func:`stepup_verify`, :class:`oneclick.forms.StepUpFormMixin`)
demands a fresh one-time code for a sensitive action even inside a verified
session; other apps use it for linking and re-enabling exchange keys.
"""

from base64 import b32encode
from urllib.parse import quote, urlencode

import django_otp
from allauth.core import ratelimit
from django.conf import settings
from django.db import transaction
from django.utils.crypto import salted_hmac
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

from oneclick.models import LoginEvent, TOTPDevice

BACKUP_CODE_COUNT = 10
TOTP_DEVICE_NAME = "Authenticator app"
BACKUP_DEVICE_NAME = "Backup codes"
BACKUP_CODE_SALT = "oneclick.backup-code"


class SecondFactorError(Exception):
    """A one-time code was refused; the message is safe to show the user."""


def _client_ip(request):
    return request.META.get("REMOTE_ADDR") if request is not None else None


def login_event_record(*, user, request, kind):
    user_agent = request.META.get("HTTP_USER_AGENT", "")[:300] if request is not None else ""
    return LoginEvent.objects.create(user=user, kind=kind, ip_address=_client_ip(request), user_agent=user_agent)


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
