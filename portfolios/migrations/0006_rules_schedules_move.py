from django.db import migrations

# The anomaly rules, digests and summaries belong to the bots' app now.
MOVED = {
    "alerts.tasks.rules_run_all": "portfolios.tasks.rules_run_all",
    "alerts.tasks.signals_ignored_digests": "portfolios.tasks.signals_ignored_digests",
    "alerts.tasks.daily_summaries": "portfolios.tasks.daily_summaries",
}


def forward(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for old, new in MOVED.items():
        Schedule.objects.filter(func=old).update(func=new)


def backward(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for old, new in MOVED.items():
        Schedule.objects.filter(func=new).update(func=old)


class Migration(migrations.Migration):
    dependencies = [
        ("portfolios", "0005_incremental_positions"),
        ("alerts", "0002_schedules"),
    ]

    operations = [migrations.RunPython(forward, backward)]
