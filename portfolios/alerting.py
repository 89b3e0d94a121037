"""Alerts about bots and their orders, raised through the alert outbox."""

from alerts.models import Alert, Kind, Severity
from alerts.services import alert_raise, alerts_resolve, page_link


def bot_state_alert(*, change):
    """A bot was paused, resumed or stopped (:func:`portfolios.services.bot_state_set`)."""
    bot = change.bot
    by_platform = change.by_id is None
    link = _bot_link(bot)
    who = "OneClick" if by_platform else "you"
    if change.to_state == "paused":
        kind, severity, title = Kind.BOT_PAUSED, Severity.WARNING if by_platform else Severity.INFO, "Bot paused"
    elif change.to_state == "running":
        kind, severity, title = Kind.BOT_RESUMED, Severity.INFO, "Bot resumed"
    else:
        kind, severity, title = Kind.BOT_STOPPED, Severity.WARNING if by_platform else Severity.INFO, "Bot stopped"
    if not by_platform and change.by_id != bot.owner_id:
        who = "staff"
    if change.to_state == "running":  # the pause or stop no longer needs attention
        alerts_resolve(user=bot.owner, bot=bot, kinds=[Kind.BOT_PAUSED, Kind.BOT_STOPPED], why="Bot resumed")
    return alert_raise(
        user=bot.owner, bot=bot, kind=kind, severity=severity, title=f"{title}: {bot.name}",
        text=f"Changed by {who}: {change.reason}", dedupe_key=f"bot_state:{change.pk}", link=link,
    )


def _bot_link(bot):
    return page_link("portfolios:bot_detail", bot.pk, fallback="portfolios:bot_list")


def order_state_alert(*, order):
    """An order was filled, failed, was rejected or was not sent after all: one alert per order and outcome."""
    states = {"filled": (Kind.ORDER_FILLED, Severity.INFO), "failed": (Kind.ORDER_FAILED, Severity.WARNING),
              "rejected": (Kind.ORDER_FAILED, Severity.WARNING), "canceled": (Kind.ORDER_NOT_SENT, Severity.INFO)}
    if order.state not in states or (order.state == "canceled" and order.exchange_order_id):
        return None  # a resting order canceled at the owner's request says so on its own page
    kind, severity = states[order.state]
    if Alert.objects.filter(order=order, kind=kind).exists():
        return None
    bot = order.bot
    if kind == Kind.ORDER_FILLED:
        price = f" at {order.average_price.normalize():f}" if order.average_price else ""
        title = f"Order filled: {order.side} {order.filled_quantity.normalize():f} {order.market}{price}"
        text = f"Bot {bot.name} · cost {order.cost.normalize():f} {order.market.split('/')[-1]}"
    elif kind == Kind.ORDER_NOT_SENT:
        title = f"Order not sent: {order.side} {order.quantity.normalize():f} {order.market}"
        text = f"Bot {bot.name}: {order.error or 'no reason given'}"
    else:
        title = f"Order {order.state}: {order.side} {order.quantity.normalize():f} {order.market}"
        text = f"Bot {bot.name}: {order.error or 'no reason given'}"
    return alert_raise(
        user=bot.owner, bot=bot, key=bot.key, order=order, kind=kind, severity=severity, title=title, text=text,
        dedupe_key=f"order:{order.pk}:{order.state}", link=_bot_link(bot),
    )


def order_stuck_alert(*, order, minutes, waits_for):
    """An order still unresolved minutes after it was written: say what it waits for (once per order)."""
    bot = order.bot
    return alert_raise(
        user=bot.owner, bot=bot, key=bot.key, order=order, kind=Kind.ORDER_STUCK, severity=Severity.WARNING,
        title=f"Order waiting for {minutes} min: {order.side} {order.quantity.normalize():f} {order.market}",
        text=f"Bot {bot.name}: {waits_for}", dedupe_key=f"order-stuck:{order.pk}", link=_bot_link(bot),
    )


def sell_not_placed_alert(*, bot, signal, reason):
    """A sell signal the bot could not act on while it holds a position: said at once, not in a digest."""
    return alert_raise(
        user=bot.owner, bot=bot, key=bot.key, kind=Kind.SELL_NOT_PLACED, severity=Severity.WARNING,
        title=f"Sell not placed: {signal.market}", text=f"Bot {bot.name}: {reason}",
        dedupe_key=f"sell-not-placed:{bot.pk}:{signal.pk}", link=_bot_link(bot),
    )
