from allauth.core import ratelimit
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from keys import selectors
from keys.forms import KeyEnableForm, KeyLinkForm
from keys.models import ExchangeKey
from keys.services import KeyRefused, key_delete, key_disable, key_enable, key_link, key_reprobe
from oneclick.reauth import password_confirmed_required
from oneclick.services import client_ip, security_notice_send, user_has_two_factor
from exchanges import EXCHANGES


def _own_key(request, pk):
    return get_object_or_404(
        ExchangeKey.objects.exclude(status=ExchangeKey.Status.REVOKED), pk=pk, owner=request.user
    )


def _ip(request):
    return client_ip(request)


@login_required
def key_list(request):
    return render(
        request,
        "keys/key_list.html",
        {"keys": selectors.keys_for_owner(owner=request.user), "egress_ips": settings.ONECLICK_EGRESS_IPS},
    )


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def key_link_view(request):
    if not user_has_two_factor(user=request.user):
        return render(request, "keys/needs_two_factor.html")
    return _key_link(request)


@password_confirmed_required("keys:link")
def _key_link(request):
    form = KeyLinkForm(request.POST or None, request=request, user=request.user)
    if request.method == "POST":
        if not ratelimit.consume(request, action="key_link", user=request.user):
            form.add_error(None, "Too many attempts to link a key. Wait a while and try again.")
        elif form.is_valid():
            try:
                key = key_link(
                    owner=request.user,
                    exchange=form.cleaned_data["exchange"],
                    label=form.cleaned_data["label"],
                    credentials=form.credentials(),
                    confirmed_no_withdrawals=form.cleaned_data["confirm_no_withdrawals"],
                    ip=_ip(request),
                )
            except KeyRefused as refusal:
                form.add_error(None, str(refusal))
            else:
                security_notice_send(request=request, user=request.user, notice="key_linked", context={"key": key})
                messages.success(request, f"Key “{key.label}” linked. Its secret will never be shown again.")
                if not key.ip_restricted:
                    messages.warning(
                        request,
                        "This key is not restricted to OneClick's IP addresses. Add them on your exchange so a "
                        "leaked key is useless anywhere else.",
                    )
                return redirect("keys:detail", pk=key.pk)
    return render(
        request,
        "keys/key_link.html",
        {"form": form, "exchanges": EXCHANGES.values(), "egress_ips": settings.ONECLICK_EGRESS_IPS},
    )


@login_required
def key_detail(request, pk):
    key = _own_key(request, pk)
    return render(
        request,
        "keys/key_detail.html",
        {
            "key": key,
            "check_failed": selectors.key_check_failed(key=key),
            "events": selectors.key_events(key=key),
            "egress_ips": settings.ONECLICK_EGRESS_IPS,
            "enable_form": KeyEnableForm(request=request, user=request.user),
            "bots": key.bots.all(),
        },
    )


@login_required
@require_POST
def key_disable_view(request, pk):
    key = _own_key(request, pk)
    if key_disable(key=key, by=request.user, reason="Disabled by the owner", ip=_ip(request)):
        messages.success(request, "Key disabled. No bot can place an order with it any more.")
    else:
        messages.info(request, "The key was already disabled.")
    return redirect("keys:detail", pk=key.pk)


@never_cache
@login_required
@require_POST
@password_confirmed_required("keys:detail")
def key_enable_view(request, pk):
    key = _own_key(request, pk)
    form = KeyEnableForm(request.POST, request=request, user=request.user)
    if not form.is_valid():
        for error in form.errors.get("otp_code", []) + form.non_field_errors():
            messages.error(request, f"Key not re-enabled: {error}")
        return redirect("keys:detail", pk=key.pk)
    try:
        key_enable(key=key, by=request.user, ip=_ip(request))
    except KeyRefused as refusal:
        messages.error(request, f"Key not re-enabled: {refusal}")
    else:
        security_notice_send(request=request, user=request.user, notice="key_enabled", context={"key": key})
        messages.success(request, "Key re-enabled after a fresh check. Resume your bots when you are ready.")
    return redirect("keys:detail", pk=key.pk)


@login_required
@require_POST
def key_reprobe_view(request, pk):
    key = _own_key(request, pk)
    if not key.is_active:
        messages.error(request, "Only an active key can be checked; re-enable it first.")
        return redirect("keys:detail", pk=key.pk)
    key = key_reprobe(key=key, by=request.user, ip=_ip(request))
    if key.is_active:
        messages.success(request, "Key checked: it works and cannot withdraw.")
    else:
        messages.warning(request, f"Key disabled after the check: {key.status_reason}")
    return redirect("keys:detail", pk=key.pk)


@login_required
@require_http_methods(["GET", "POST"])
def key_delete_view(request, pk):
    key = _own_key(request, pk)
    if request.method == "POST":
        key_delete(key=key, by=request.user, ip=_ip(request))
        messages.success(request, f"Key “{key.label}” deleted. Its values were erased; its history stays.")
        return redirect("keys:list")
    return render(request, "keys/key_delete.html", {"key": key, "bots": key.bots.all()})


@login_required
def key_guide(request, exchange):
    if exchange not in EXCHANGES:
        raise Http404
    venue = EXCHANGES[exchange]
    # Every paper twin shares one guide: how to make a paper account and key.
    guide = "keys/guides/paper.html" if venue.is_paper else f"keys/guides/{venue.name}.html"
    return render(
        request,
        "keys/guide.html",
        {"exchange": venue, "exchanges": EXCHANGES.values(), "guide": guide,
         "egress_ips": settings.ONECLICK_EGRESS_IPS},
    )
