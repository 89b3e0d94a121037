"""Read-only queries for the alert pages and the Telegram commands."""

from datetime import datetime, time as dt_time, timezone as dt_timezone
from decimal import Decimal

from django.db.models import Prefetch

from alerts.models import Alert, Delivery, Severity


def alerts_for_user(*, user, kind=""):
    alerts = Alert.objects.filter(user=user).prefetch_related(
        Prefetch("deliveries", queryset=Delivery.objects.order_by("channel"))
    )
    if kind:
        alerts = alerts.filter(kind=kind)
    return alerts.order_by("-created", "-id")


def unacknowledged_serious_count(*, user):
    """The navigation badge: unacknowledged warnings and criticals (one query)."""
    return Alert.objects.filter(
        user=user, acknowledged_at__isnull=True, severity__in=[Severity.WARNING, Severity.CRITICAL]
    ).count()


def kinds_for_user(*, user):
    return list(Alert.objects.filter(user=user).order_by("kind").values_list("kind", flat=True).distinct())


def bots_status(*, user, now):
    """Per bot (not stopped): state, latest equity and the PnL since midnight UTC."""
    from portfolios.models import Bot, EquitySnapshot

    midnight = datetime.combine(now.date(), dt_time.min, tzinfo=dt_timezone.utc)
    result = []
    for bot in Bot.objects.filter(owner=user).exclude(state=Bot.State.STOPPED).order_by("name"):
        snaps = EquitySnapshot.objects.filter(bot=bot)
        latest = snaps.order_by("-taken", "-id").first()
        first_today = snaps.filter(taken__gte=midnight).order_by("taken", "id").first()
        equity = latest.equity if latest else None
        pnl = (latest.equity - first_today.equity) if latest and first_today else Decimal(0)
        result.append({"bot": bot, "equity": equity, "pnl_today": pnl})
    return result


def balances(*, user):
    from portfolios.models import Balance

    return list(Balance.objects.filter(key__owner=user, key__status="active", total__gt=0)
                .select_related("key").order_by("key_id", "asset"))


def positions(*, user):
    from portfolios.models import Position

    return list(Position.objects.filter(bot__owner=user, quantity__gt=0).select_related("bot")
                .order_by("bot__name", "market"))
