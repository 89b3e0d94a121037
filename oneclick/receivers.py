"""Connects Django's auth signals to the login audit service, labels task rows and checks workers' clocks."""

import logging

from allauth.account.signals import email_added
from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db.backends.signals import connection_created
from django.dispatch import receiver
from django_q.signals import post_spawn, pre_execute

from oneclick.health import clock_check
from oneclick.lib.files import make_private, sqlite_files
from oneclick.middleware import session_activity_seen
from oneclick.models import LoginEvent
from oneclick.services import login_event_record, security_notice_send, sign_in_record


@receiver(user_logged_in, dispatch_uid="oneclick_login_audit")
def _on_login(sender, request, user, **kwargs):
    sign_in_record(request=request, user=user)
    # allauth's usersessions lists the new session at sign-in (its own receiver).
    session_activity_seen(request)


@receiver(email_added, dispatch_uid="oneclick_email_added_notice")
def _on_email_added(sender, request, user, email_address, **kwargs):
    """allauth tells a removed address and a primary address changed; an address added is told here."""
    security_notice_send(request=request, user=user, notice="email_added", context={"added_email": email_address.email})


@receiver(user_logged_out, dispatch_uid="oneclick_logout_audit")
def _on_logout(sender, request, user, **kwargs):
    if user is not None:
        login_event_record(user=user, request=request, kind=LoginEvent.Kind.LOGOUT)


@receiver(pre_execute, dispatch_uid="oneclick_task_cluster_label")
def _label_task(sender, task, **kwargs):
    """Record which qcluster ran the task (``Q_CLUSTER_LABEL``) on its Task row, after the shared queue's name."""
    if settings.Q_CLUSTER_LABEL:
        task["cluster"] = f"{task.get('cluster')}/{settings.Q_CLUSTER_LABEL}"[:100]


@receiver(post_spawn, dispatch_uid="oneclick_worker_clock_check")
def _clock_check_at_start(sender, proc_name, **kwargs):
    """A worker whose clock is off says so when it starts (and ``/healthz`` names it)."""
    try:
        clock_check(role="worker")
    except Exception:  # a worker must start even if the database is not there yet
        logging.getLogger(__name__).exception("clock check at worker start failed")


@receiver(connection_created, dispatch_uid="oneclick_sqlite_private")
def _sqlite_private(sender, connection, **kwargs):
    """A SQLite database (and its journal files) holds encrypted keys and sessions: the owner only reads it."""
    if connection.vendor == "sqlite" and connection.settings_dict["NAME"] not in ("", ":memory:"):
        for path in sqlite_files(connection.settings_dict["NAME"]):
            make_private(path)
