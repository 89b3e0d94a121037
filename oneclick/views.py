import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from oneclick import selectors
from oneclick.forms import OneTimeCodeForm, StepUpForm
from oneclick.health import health_report
from oneclick.services import (
    SecondFactorError,
    backup_codes_regenerate,
    second_factor_verify,
    totp_device_confirm,
    totp_device_start,
    totp_provisioning_uri,
    totp_text_secret,
    two_factor_disable,
    user_has_two_factor,
)


@login_required
def dashboard(request):
    return render(request, "oneclick/dashboard.html", selectors.dashboard_context(user=request.user))


@login_required
def security(request):
    return render(request, "oneclick/security.html", selectors.security_context(user=request.user))


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def two_factor_setup(request):
    if user_has_two_factor(user=request.user):
        messages.info(request, "Two-factor authentication is already on.")
        return redirect("security")
    device = totp_device_start(user=request.user)
    form = OneTimeCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            codes = totp_device_confirm(request=request, user=request.user, device=device, code=form.cleaned_data["code"])
        except SecondFactorError as error:
            form.add_error("code", str(error))
        else:
            messages.success(request, "Two-factor authentication is on.")
            return render(request, "oneclick/backup_codes.html", {"codes": codes, "first_time": True})
    uri = totp_provisioning_uri(device=device)
    qr_svg = segno.make(uri, error="m").svg_inline(scale=4, dark="#111", light="#fff", title="Scan with your authenticator app")
    return render(
        request,
        "oneclick/two_factor_setup.html",
        {"form": form, "qr_svg": qr_svg, "text_secret": totp_text_secret(device=device)},
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def two_factor_verify(request):
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        next_url = ""
    if request.user.is_verified() or not user_has_two_factor(user=request.user):
        return redirect(next_url or "dashboard")
    form = OneTimeCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            second_factor_verify(request=request, code=form.cleaned_data["code"])
        except SecondFactorError as error:
            form.add_error("code", str(error))
        else:
            return redirect(next_url or "dashboard")
    return render(request, "oneclick/two_factor_verify.html", {"form": form, "next": next_url})


@never_cache
@login_required
@require_POST
def backup_codes_new(request):
    form = StepUpForm(request.POST, request=request, user=request.user)
    if not form.is_valid():
        for error in form.errors.get("otp_code", []):
            messages.error(request, f"Backup codes not changed: {error}")
        return redirect("security")
    codes = backup_codes_regenerate(user=request.user)
    messages.success(request, "New backup codes made. The old ones no longer work.")
    return render(request, "oneclick/backup_codes.html", {"codes": codes, "first_time": False})


@login_required
@require_POST
def two_factor_off(request):
    form = OneTimeCodeForm(request.POST)
    if form.is_valid():
        try:
            two_factor_disable(request=request, user=request.user, code=form.cleaned_data["code"])
        except SecondFactorError as error:
            messages.error(request, f"Two-factor authentication is still on: {error}")
        else:
            messages.warning(request, "Two-factor authentication is off. You can no longer link exchange keys.")
    else:
        messages.error(request, "Two-factor authentication is still on: enter a current code to turn it off.")
    return redirect("security")


@never_cache
def healthz(request):
    ok, checks = health_report()
    return JsonResponse({"status": "ok" if ok else "fail", "checks": checks}, status=200 if ok else 503)

