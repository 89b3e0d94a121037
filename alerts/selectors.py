"""Read-only queries for the alert pages and the Telegram commands."""


from django.db.models import Prefetch

from alerts.models import Alert, Delivery, Severity
from portfolios import pnl
from portfolios.models import Balance, Bot, Position


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
    """Per bot (not stopped): state, equity now and today's PnL (UTC), from :mod:`portfolios.pnl`."""
    bots = list(Bot.objects.filter(owner=user).exclude(state=Bot.State.STOPPED)
                .prefetch_related("positions").order_by("name"))
    figures = pnl.bots_pnl(bots, now=now)
    return [{"bot": bot, "equity": figures[bot.pk].equity, "pnl_today": figures[bot.pk].today} for bot in bots]


def balances(*, user):
    return list(Balance.objects.filter(key__owner=user, key__status="active", total__gt=0)
                .select_related("key").order_by("key_id", "asset"))


def positions(*, user):
    return list(Position.objects.filter(bot__owner=user, quantity__gt=0).select_related("bot")
                .order_by("bot__name", "market"))
