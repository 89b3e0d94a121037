"""Connects Django's auth signals to the login audit service (no logic here)."""

from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver

from oneclick.models import LoginEvent
from oneclick.services import login_event_record


@receiver(user_logged_in, dispatch_uid="oneclick_login_audit")
def _on_login(sender, request, user, **kwargs):
    login_event_record(user=user, request=request, kind=LoginEvent.Kind.PASSWORD)


@receiver(user_logged_out, dispatch_uid="oneclick_logout_audit")
def _on_logout(sender, request, user, **kwargs):
    if user is not None:
        login_event_record(user=user, request=request, kind=LoginEvent.Kind.LOGOUT)
