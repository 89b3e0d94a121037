from allauth.usersessions.models import UserSession
from django.conf import settings
from django_otp.plugins.otp_static.models import StaticToken

from alerts.models import Alert, Severity
from keys.models import ExchangeKey
from keys.selectors import keys_for_owner
from oneclick.models import LoginEvent
from oneclick.services import user_has_two_factor
from portfolios.models import Bot
from portfolios.selectors import account_summary, accounts_equity, orders_recent

RECENT_SIGN_INS = 10
OPEN_ALERTS_SHOWN = 5


def security_context(*, user):
    return {
        "two_factor_on": user_has_two_factor(user=user),
        "backup_codes_left": StaticToken.objects.filter(device__user=user).count(),
        "recent_events": list(LoginEvent.objects.filter(user=user)[:RECENT_SIGN_INS]),
        "session_count": len(UserSession.objects.purge_and_list(user)),
    }


def dashboard_context(*, user):
    """The dashboard: per-quote totals (equity, today's and total PnL, max drawdown), bot cards, recent orders."""
    summary = account_summary(owner=user)
    open_alerts = Alert.objects.filter(
        user=user, acknowledged_at__isnull=True, severity__in=[Severity.WARNING, Severity.CRITICAL]
    ).order_by("-created", "-id")
    return {
        "two_factor_on": user_has_two_factor(user=user),
        "summary": summary,
        "accounts": accounts_equity(owner=user),
        "recent_orders": list(orders_recent(owner=user)) if summary.cards else [],
        "open_alerts": list(open_alerts[:OPEN_ALERTS_SHOWN]),
        "has_active_key": keys_for_owner(owner=user).filter(status=ExchangeKey.Status.ACTIVE).exists(),
    }


def account_delete_context(*, user):
    """What deleting the account will touch, for the page that asks to confirm it."""
    return {
        "bots_to_stop": Bot.objects.filter(owner=user).exclude(state=Bot.State.STOPPED).count(),
        "keys_to_erase": keys_for_owner(owner=user).count(),
        "retention": settings.ONECLICK_RETENTION,
    }
