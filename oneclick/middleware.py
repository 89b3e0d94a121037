from urllib.parse import urlencode

from django.shortcuts import redirect
from django.urls import reverse

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
