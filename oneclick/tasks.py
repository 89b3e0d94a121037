"""django-q2 entry points of the accounts layer."""

from allauth.usersessions.models import UserSession
from django.core.management import call_command


def sessions_clear_expired():
    """Daily: delete expired sessions and the sessions page's rows of sessions that no longer exist."""
    call_command("clearsessions")
    gone = [row.pk for row in UserSession.objects.iterator() if not row.exists()]
    UserSession.objects.filter(pk__in=gone).delete()
    return len(gone)
