"""The admin site: staff only, and staff with a verified second factor.

Signing in to the admin goes through the portal's login (rate-limited, with
the second factor); the admin's own password form is never shown.
"""

from urllib.parse import urlencode

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse

from oneclick.lib.urls import safe_next


class OneClickAdminSite(admin.AdminSite):
    site_header = "OneClick staff"
    site_title = "OneClick staff"
    index_title = "Operations"

    def has_permission(self, request):
        allowed = super().has_permission(request)
        if allowed and settings.ONECLICK_ADMIN_REQUIRES_OTP:
            allowed = request.user.is_verified()
        return allowed

    def login(self, request, extra_context=None):
        next_url = safe_next(request, request.GET.get("next"), reverse("admin:index"))
        if not request.user.is_authenticated:
            return redirect(f"{reverse('account_login')}?{urlencode({'next': next_url})}")
        if not (request.user.is_active and request.user.is_staff):
            raise PermissionDenied
        if not self.has_permission(request):
            return render(request, "admin/needs_two_factor.html", status=403)
        return redirect(next_url)


def install_admin_site():
    admin.site.__class__ = OneClickAdminSite
