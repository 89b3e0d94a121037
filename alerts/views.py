import hmac
import json
import logging

from allauth.core import ratelimit
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseBadRequest, HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from alerts import selectors
from alerts.channels import CHANNELS
from alerts.errors import ChannelError
from alerts.forms import AlertPreferenceForm, KindFilterForm
from alerts.models import Alert, TelegramLink
from alerts.services import (
    alert_acknowledge, alerts_acknowledge_all, channel_switch_on, preference_for, telegram_deep_link,
    telegram_link_token_create, telegram_unlink, test_alert_send,
)
from alerts.updates import update_handle
from oneclick.lib.urls import safe_next

log = logging.getLogger(__name__)


@login_required
def alert_list(request):
    kinds = selectors.kinds_for_user(user=request.user)
    form = KindFilterForm(request.GET or None, kinds=kinds)
    kind = form.cleaned_data["kind"] if form.is_valid() else ""
    page = Paginator(selectors.alerts_for_user(user=request.user, kind=kind), 50).get_page(request.GET.get("page"))
    return render(request, "alerts/alert_list.html", {
        "page": page, "alerts": page.object_list, "filter_form": form, "kind": kind,
        "channels": list(CHANNELS.values()),
    })


@login_required
def alert_detail(request, pk):
    alert = get_object_or_404(Alert.objects.prefetch_related("deliveries"), pk=pk, user=request.user)
    return render(request, "alerts/alert_detail.html", {"alert": alert})


@require_POST
@login_required
def alert_acknowledge_view(request, pk):
    alert = get_object_or_404(Alert, pk=pk, user=request.user)
    alert_acknowledge(alert=alert, by=request.user)
    return redirect(safe_next(request, request.POST.get("next"), reverse("alerts:list")))


@require_POST
@login_required
def alerts_acknowledge_all_view(request):
    count = alerts_acknowledge_all(user=request.user)
    messages.success(request, f"{count} alert(s) acknowledged.")
    return redirect("alerts:list")


def _settings_context(request, form=None, deep_link=None, test_result=None):
    pref = preference_for(user=request.user)
    return {
        "form": form or AlertPreferenceForm(instance=pref),
        "channels": [{"name": c.name, "label": c.label, "status": c.status(request.user),
                      "configured": c.configured(), "linked": c.linked(request.user)} for c in CHANNELS.values()],
        "telegram_configured": CHANNELS["telegram"].configured(),
        "telegram_link": TelegramLink.objects.filter(user=request.user).first(),
        "email_off": bool(pref.email_off_reason),
        "deep_link": deep_link,
        "test_result": test_result,
    }


@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def alert_settings(request):
    form = None
    if request.method == "POST":
        form = AlertPreferenceForm(request.POST, instance=preference_for(user=request.user))
        if form.is_valid():
            form.save()
            messages.success(request, "Alert settings saved.")
            return redirect("alerts:settings")
    return render(request, "alerts/settings.html", _settings_context(request, form=form))


@never_cache
@require_POST
@login_required
def alert_test_view(request):
    result = test_alert_send(user=request.user)
    rows = [{"label": CHANNELS[name].label, "state": state, "error": error} for name, (state, error) in result.items()]
    return render(request, "alerts/settings.html", _settings_context(request, test_result=rows or [None]))


@never_cache
@require_POST
@login_required
def telegram_link_view(request):
    if not CHANNELS["telegram"].configured():
        messages.error(request, "Telegram is not configured on this server.")
        return redirect("alerts:settings")
    if not ratelimit.consume(request, action="telegram_link", user=request.user):
        messages.error(request, "Too many Telegram links asked for. Wait a while and try again.")
        return redirect("alerts:settings")
    try:
        deep_link = telegram_deep_link(telegram_link_token_create(user=request.user))
    except ChannelError as error:
        messages.error(request, f"Could not reach Telegram to make the link: {error.reason}")
        return redirect("alerts:settings")
    return render(request, "alerts/settings.html", _settings_context(request, deep_link=deep_link))


@require_POST
@login_required
def telegram_unlink_view(request):
    if telegram_unlink(user=request.user):
        messages.success(request, "Telegram unlinked: alerts no longer go to that chat.")
    return redirect("alerts:settings")


@require_POST
@login_required
def channel_on_view(request, channel):
    if channel not in CHANNELS:
        raise Http404
    channel_switch_on(user=request.user, channel=channel)
    messages.success(request, f"{CHANNELS[channel].label} alerts switched back on.")
    return redirect("alerts:settings")


@csrf_exempt
@require_POST
def telegram_webhook(request):
    """Updates pushed by Telegram; the secret token header proves they come from it."""
    secret = settings.TELEGRAM_WEBHOOK_SECRET
    if not secret or not settings.TELEGRAM_BOT_TOKEN:
        raise Http404
    sent = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
    if not hmac.compare_digest(sent.encode(), secret.encode()):
        return HttpResponseForbidden("Wrong secret token")
    try:
        update = json.loads(request.body)
    except ValueError:
        return HttpResponseBadRequest("Not JSON")
    if not isinstance(update, dict):
        return HttpResponseBadRequest("Not an update")
    update_handle(update)
    return HttpResponse("ok")
