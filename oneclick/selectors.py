from django_otp.plugins.otp_static.models import StaticToken

from oneclick.models import LoginEvent
from oneclick.services import user_has_two_factor

RECENT_SIGN_INS = 10
OPEN_ALERTS_SHOWN = 5


def security_context(*, user):
    return {
        "two_factor_on": user_has_two_factor(user=user),
        "backup_codes_left": StaticToken.objects.filter(device__user=user).count(),
        "recent_events": list(LoginEvent.objects.filter(user=user)[:RECENT_SIGN_INS]),
    }


def dashboard_context(*, user):
    """The dashboard: per-quote totals (equity, today's and total PnL, max drawdown), bot cards, recent orders."""
    from keys.models import ExchangeKey
    from keys.selectors import keys_for_owner
    from portfolios.selectors import account_summary, orders_recent

    from alerts.models import Alert, Severity

    summary = account_summary(owner=user)
    open_alerts = Alert.objects.filter(
        user=user, acknowledged_at__isnull=True, severity__in=[Severity.WARNING, Severity.CRITICAL]
    ).order_by("-created", "-id")
    return {
        "two_factor_on": user_has_two_factor(user=user),
        "summary": summary,
        "recent_orders": list(orders_recent(owner=user)) if summary.cards else [],
        "open_alerts": list(open_alerts[:OPEN_ALERTS_SHOWN]),
        "has_active_key": keys_for_owner(owner=user).filter(status=ExchangeKey.Status.ACTIVE).exists(),
    }
