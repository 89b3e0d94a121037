"""Sensitive changes need the password confirmed a moment ago: allauth's reauthentication, without replays.

``ACCOUNT_REAUTHENTICATION_TIMEOUT`` says how long a confirmation lasts. The second factor is not asked here:
each sensitive form asks its own fresh one-time code when 2FA is on (``oneclick.forms``).
"""

from functools import wraps
from urllib.parse import urlencode

from allauth.account.decorators import reauthentication_required
from allauth.core.exceptions import ReauthenticationRequired
from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.shortcuts import redirect
from django.urls import reverse


def password_confirmed_required(back):
    """Run the view only when the password was confirmed within ``ACCOUNT_REAUTHENTICATION_TIMEOUT``.

    Otherwise a GET goes to allauth's "Confirm access" page and returns to itself. A POST changes nothing and
    goes there too, then returns to ``back`` (a URL name, reversed with the view's arguments), where the form is
    filled in again. Unlike allauth's own decorator, a POST is never kept in the session to be replayed after
    the password: these forms carry an exchange key's secret or a single-use code.
    """

    def decorator(view):
        guarded = reauthentication_required(view)

        @wraps(view)
        def wrapper(request, *args, **kwargs):
            try:
                return guarded(request, *args, **kwargs)
            except ReauthenticationRequired:
                if request.method in ("GET", "HEAD"):
                    raise  # allauth's middleware: to its page, and back here
                messages.info(request, "Confirm your password first. Nothing was changed: do it again once confirmed.")
                query = urlencode({REDIRECT_FIELD_NAME: reverse(back, kwargs=kwargs)})
                return redirect(f"{reverse('account_reauthenticate')}?{query}")

        return wrapper

    return decorator
