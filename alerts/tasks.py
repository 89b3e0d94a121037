"""django-q2 entry points for alerts: ids in, services do the work."""

from alerts.services import deliveries_send_due


def alert_deliver(alert_id):
    """Send a new alert's deliveries at once (the minute schedule catches anything left)."""
    return deliveries_send_due(alert_id=alert_id)


def deliveries_send():
    """Every minute: whatever is due, including retries."""
    return deliveries_send_due()
