from decimal import Decimal

from django.db import migrations

# The bound as of this migration (portfolios.bounds may move on; this migration must not).
AMOUNT_MAX = Decimal("1000000000000")


def clamp_amounts(apps, schema_editor):
    """A bot's allocation or position cap above a trillion (more than any balance) becomes a trillion."""
    Bot = apps.get_model("portfolios", "Bot")
    Bot.objects.filter(allocation__gt=AMOUNT_MAX).update(allocation=AMOUNT_MAX)
    Bot.objects.filter(position_cap__gt=AMOUNT_MAX).update(position_cap=AMOUNT_MAX)


class Migration(migrations.Migration):

    dependencies = [
        ("portfolios", "0011_fill_fee_valuation"),
    ]

    operations = [
        migrations.RunPython(clamp_amounts, migrations.RunPython.noop),
    ]
