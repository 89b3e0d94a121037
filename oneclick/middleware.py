import time
from urllib.parse import urlencode

from allauth.usersessions.models import UserSession
from django.shortcuts import redirect
from django.urls import reverse

from oneclick.devices import device_cookie_write
from oneclick.services import user_has_two_factor

# Paths a signed-in user may reach before entering the second factor.
_ALWAYS_OPEN_PREFIXES = ("/static/", "/healthz")


class SecondFactorMiddleware:
    """After the password, a user with a confirmed device must enter a code.

    Until then every page except the code page and log out redirects there
    (the `otp_required` semantics, applied to the whole portal and admin).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith(_ALWAYS_OPEN_PREFIXES):
            return self.get_response(request)
        user = request.user
        if user.is_authenticated and not user.is_verified() and user_has_two_factor(user=user):
            request.second_factor_pending = True
            open_paths = {reverse("two_factor_verify"), reverse("account_logout")}
            if request.path not in open_paths:
                query = urlencode({"next": request.get_full_path()})
                return redirect(f"{reverse('two_factor_verify')}?{query}")
        return self.get_response(request)


class KnownDeviceMiddleware:
    """Writes the known-device cookie a sign-in asked for (``oneclick.devices.device_remember``)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return device_cookie_write(request=request, response=self.get_response(request))


# An active session is saved (its idle deadline moved) and its listing updated at most this often.
ACTIVITY_EVERY_SECONDS = 60
SEEN_KEY = "oneclick_activity_at"


def session_activity_seen(request):
    """The session is active now: it is saved with this request (``SESSION_COOKIE_AGE`` from now)."""
    request.session[SEEN_KEY] = int(time.time())


class SessionActivityMiddleware:
    """Keeps an active session alive and its line on the sessions page current, once a minute.

    A session expires ``SESSION_COOKIE_AGE`` (``SESSION_IDLE_MINUTES``) after it was last saved. A request whose
    session was last marked active a minute ago or more marks it again, which saves it (moving the deadline), and
    records its IP, browser and time in allauth's usersessions. Django's ``SESSION_SAVE_EVERY_REQUEST`` and
    allauth's ``UserSessionsMiddleware`` would write both at every request; the deadline here is exact to the
    minute.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.user.is_authenticated and request.session.session_key:
            if time.time() - request.session.get(SEEN_KEY, 0) >= ACTIVITY_EVERY_SECONDS:
                session_activity_seen(request)
                UserSession.objects.create_from_request(request)
        return self.get_response(request)
