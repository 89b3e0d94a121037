import segno
from allauth.account.adapter import get_adapter
from allauth.account.views import EmailView as AllauthEmailView
from allauth.usersessions.adapter import get_adapter as get_usersessions_adapter
from allauth.usersessions.models import UserSession
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AnonymousUser
from django.http import FileResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from oneclick import selectors
from oneclick.account_data import AccountDeleteRefused, account_delete, account_delete_check, account_export
from oneclick.adapters import invitation_refused_page
from oneclick.forms import AccountDeleteForm, OneTimeCodeForm, StepUpForm, WaitlistForm
from oneclick.health import health_report
from oneclick.lib.urls import safe_next
from oneclick.reauth import password_confirmed_required
from oneclick.services import (
    InvitationRefused,
    SecondFactorError,
    WaitlistRefused,
    backup_codes_regenerate,
    invitation_check,
    security_notice_send,
    second_factor_verify,
    totp_device_confirm,
    totp_device_start,
    totp_provisioning_uri,
    totp_text_secret,
    two_factor_disable,
    user_has_two_factor,
    waitlist_join,
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
    next_url = safe_next(request, request.POST.get("next") or request.GET.get("next"), "")
    if request.user.is_verified() or not user_has_two_factor(user=request.user):
        return redirect(next_url or "dashboard")
    form = OneTimeCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            second_factor_verify(request=request, code=form.cleaned_data["code"])
        except SecondFactorError as error:
            form.add_error("code", str(error))
        else:
            messages.success(request, f"Logged in as {request.user.email}.")
            return redirect(next_url or "dashboard")
    return render(request, "oneclick/two_factor_verify.html", {"form": form, "next": next_url})


@never_cache
@login_required
@require_POST
@password_confirmed_required("security")
def backup_codes_new(request):
    form = StepUpForm(request.POST, request=request, user=request.user)
    if not form.is_valid():
        for error in form.errors.get("otp_code", []):
            messages.error(request, f"Backup codes not changed: {error}")
        return redirect("security")
    codes = backup_codes_regenerate(user=request.user)
    security_notice_send(request=request, user=request.user, notice="backup_codes_regenerated")
    messages.success(request, "New backup codes made. The old ones no longer work.")
    return render(request, "oneclick/backup_codes.html", {"codes": codes, "first_time": False})


@login_required
@require_POST
@password_confirmed_required("security")
def two_factor_off(request):
    form = OneTimeCodeForm(request.POST)
    if form.is_valid():
        try:
            two_factor_disable(request=request, user=request.user, code=form.cleaned_data["code"])
        except SecondFactorError as error:
            messages.error(request, f"Two-factor authentication is still on: {error}")
        else:
            security_notice_send(request=request, user=request.user, notice="two_factor_disabled")
            messages.warning(request, "Two-factor authentication is off. You can no longer link exchange keys.")
    else:
        messages.error(request, "Two-factor authentication is still on: enter a current code to turn it off.")
    return redirect("security")


class EmailView(AllauthEmailView):
    """allauth's email addresses page; making an address primary or removing one also takes a fresh code with 2FA.

    (Adding one takes it in its form, ``oneclick.forms.AddEmailForm``.)
    """

    def post(self, request, *args, **kwargs):
        changes = "action_primary" in request.POST or "action_remove" in request.POST
        if changes and request.POST.get("email") and user_has_two_factor(user=request.user):
            form = StepUpForm(request.POST, request=request, user=request.user)
            if not form.is_valid():
                for error in form.errors.get("otp_code", []):
                    messages.error(request, f"Email addresses not changed: {error}")
                return redirect("account_email")
        return super().post(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "two_factor_on": user_has_two_factor(user=self.request.user)}


email = login_required(password_confirmed_required("account_email")(EmailView.as_view()))


@login_required
@require_POST
def session_end(request, pk):
    """Sign out one of the user's sessions (the sessions page lists them; allauth's ends all the others)."""
    session = get_object_or_404(UserSession, pk=pk, user=request.user)
    current = session.is_current()
    get_usersessions_adapter().end_sessions([session])
    if current:
        logout(request)
        return redirect("account_login")
    messages.success(request, "That session is signed out.")
    return redirect("usersessions_list")


@never_cache
@login_required
@require_POST
def account_export_view(request):
    """Everything the platform holds about the signed-in user, as a zip of JSON and CSV files.

    POST only (a button on the Security page), so no link prefetch or crawler starts an export; a user
    with 2FA on reaches it only in a verified session (``SecondFactorMiddleware``).
    """
    archive, filename = account_export(user=request.user)
    return FileResponse(archive, as_attachment=True, filename=filename, content_type="application/zip")


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def account_delete_view(request):
    user = request.user
    two_factor = user_has_two_factor(user=user)
    try:
        account_delete_check(user=user)
    except AccountDeleteRefused as refusal:
        return render(request, "oneclick/account_delete.html", {"refusal": str(refusal)})
    form = AccountDeleteForm(request.POST or None, request=request, user=user, two_factor=two_factor)
    if request.method == "POST" and form.is_valid():
        try:
            account_delete(user=user)
        except AccountDeleteRefused as refusal:
            form.add_error(None, str(refusal))
        else:
            # The session ends here; the user's other sessions ended with the user row (or its password).
            request.session.flush()
            request.user = AnonymousUser()
            messages.success(request, "Your account was deleted. A confirmation is on its way to your email.")
            return redirect("account_login")
    context = {"form": form, "two_factor": two_factor, **selectors.account_delete_context(user=user)}
    return render(request, "oneclick/account_delete.html", context)


@never_cache
def healthz(request):
    ok, checks = health_report()
    return JsonResponse({"status": "ok" if ok else "fail", "checks": checks}, status=200 if ok else 503)



@never_cache
@require_GET
def invitation_accept(request, token):
    """The link of an invitation email: on to the sign-up form, for the invited address only."""
    try:
        invitation = invitation_check(token=token)
    except InvitationRefused as refused:
        return invitation_refused_page(request, refused)
    get_adapter(request).invitation_start(request, invitation)
    # The token stays out of the next page's address (and of any Referer it sends).
    return redirect("account_signup")


@never_cache
@require_http_methods(["GET", "POST"])
def waitlist(request):
    """The sign-up page when ONECLICK_SIGNUP is "waitlist": one answer whatever the address (no enumeration)."""
    if settings.ONECLICK_SIGNUP != "waitlist" or request.user.is_authenticated:
        return redirect("account_signup")
    form = WaitlistForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            waitlist_join(request=request, email=form.cleaned_data["email"], note=form.cleaned_data["note"])
        except WaitlistRefused as error:
            form.add_error(None, str(error))
        else:
            return render(request, "oneclick/waitlist_done.html", {"email": form.cleaned_data["email"]})
    return render(request, "oneclick/waitlist.html", {"form": form})
