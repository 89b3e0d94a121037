"""Known devices: a long-lived cookie telling which accounts fully signed in from this browser before.

A sign-in from a browser that does not carry the account's tag is a sign-in from a new device, and its owner is
told by email. The cookie holds one tag per account (a keyed hash of the user's id under ``SECRET_KEY``): nobody
can make one without the key, and it says nothing to whoever reads it. A browser becomes known once the account
signed in there completely (password, and the code when 2FA is on), so someone who has the password only is
reported at every attempt.
"""

from django.conf import settings
from django.utils.crypto import salted_hmac

DEVICE_COOKIE = "oneclick_device"
# Browsers keep a cookie 400 days at most.
DEVICE_COOKIE_MAX_AGE = 400 * 24 * 3600
# Accounts remembered per browser (a shared computer), the most recent first.
TAGS_KEPT = 5
_SALT = "oneclick.known-device"


def _tag(user, secret=None):
    return salted_hmac(_SALT, str(user.pk), secret=secret, algorithm="sha256").hexdigest()[:32]


def _tags(request):
    return [tag for tag in request.COOKIES.get(DEVICE_COOKIE, "").split(".") if tag][:TAGS_KEPT]


def device_is_known(*, request, user):
    """Whether ``user`` signed in completely from this browser before (under the current or an older key)."""
    tags = set(_tags(request))
    return any(_tag(user, secret) in tags for secret in (settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS))


def device_remember(*, request, user):
    """Mark this browser as known for ``user``: the cookie goes out with the response (``KnownDeviceMiddleware``)."""
    tag = _tag(user)
    tags = [tag, *(other for other in _tags(request) if other != tag)]
    request.known_device_cookie = ".".join(tags[:TAGS_KEPT])


def device_cookie_write(*, request, response):
    value = getattr(request, "known_device_cookie", None)
    if value:
        response.set_cookie(
            DEVICE_COOKIE, value, max_age=DEVICE_COOKIE_MAX_AGE, secure=settings.SESSION_COOKIE_SECURE,
            httponly=True, samesite="Lax",
        )
    return response
