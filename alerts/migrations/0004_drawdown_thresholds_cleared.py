from decimal import Decimal

from django.db import migrations
from django.db.models import Q

# The bounds as of this migration (alerts.bounds may move on; this migration must not).
DRAWDOWN_MIN, DRAWDOWN_MAX = Decimal("0"), Decimal("100")


def clear_thresholds(apps, schema_editor):
    """A drawdown threshold of 0 % or less, or 100 % or more, could never fire sensibly: none is set instead."""
    AlertPreference = apps.get_model("alerts", "AlertPreference")
    AlertPreference.objects.filter(
        Q(drawdown_threshold__lte=DRAWDOWN_MIN) | Q(drawdown_threshold__gte=DRAWDOWN_MAX)
    ).update(drawdown_threshold=None)


class Migration(migrations.Migration):

    dependencies = [
        ("alerts", "0003_order_alert_kinds"),
    ]

    operations = [
        migrations.RunPython(clear_thresholds, migrations.RunPython.noop),
    ]
