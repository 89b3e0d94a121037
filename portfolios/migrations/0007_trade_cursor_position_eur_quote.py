from django.db import migrations, models


def ids_to_positions(apps, schema_editor):
    TradeCursor = apps.get_model("portfolios", "TradeCursor")
    for cursor in TradeCursor.objects.filter(last_trade_id__gt=0):
        TradeCursor.objects.filter(pk=cursor.pk).update(position=str(cursor.last_trade_id))


def positions_to_ids(apps, schema_editor):
    TradeCursor = apps.get_model("portfolios", "TradeCursor")
    for cursor in TradeCursor.objects.exclude(position=""):
        if cursor.position.isdigit():
            TradeCursor.objects.filter(pk=cursor.pk).update(last_trade_id=int(cursor.position))


class Migration(migrations.Migration):
    """Trade cursors become the venue adapter's own (a trade id or a time); bots may allocate in EUR."""

    dependencies = [
        ("portfolios", "0006_rules_schedules_move"),
    ]

    operations = [
        migrations.AddField(
            model_name="tradecursor",
            name="position",
            field=models.CharField(blank=True, default="", max_length=100),
        ),
        migrations.RunPython(ids_to_positions, positions_to_ids),
        migrations.RemoveField(model_name="tradecursor", name="last_trade_id"),
        migrations.AlterField(
            model_name="bot",
            name="quote_asset",
            field=models.CharField(choices=[("USDT", "USDT"), ("USDC", "USDC"), ("EUR", "EUR")], default="USDT",
                                   max_length=4),
        ),
    ]
