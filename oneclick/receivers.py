"""Connects Django's auth signals to the login audit service, and labels task rows (no logic here)."""

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.dispatch import receiver
from django_q.signals import pre_execute

from oneclick.models import LoginEvent
from oneclick.services import login_event_record


@receiver(user_logged_in, dispatch_uid="oneclick_login_audit")
def _on_login(sender, request, user, **kwargs):
    login_event_record(user=user, request=request, kind=LoginEvent.Kind.PASSWORD)


@receiver(user_logged_out, dispatch_uid="oneclick_logout_audit")
def _on_logout(sender, request, user, **kwargs):
    if user is not None:
        login_event_record(user=user, request=request, kind=LoginEvent.Kind.LOGOUT)


@receiver(pre_execute, dispatch_uid="oneclick_task_cluster_label")
def _label_task(sender, task, **kwargs):
    """Record which qcluster ran the task (``Q_CLUSTER_LABEL``) on its Task row, after the shared queue's name."""
    if settings.Q_CLUSTER_LABEL:
        task["cluster"] = f"{task.get('cluster')}/{settings.Q_CLUSTER_LABEL}"[:100]
