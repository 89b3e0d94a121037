from django.db import migrations

# name: (function, schedule type, minutes)
SCHEDULES = {
    "alerts: send due deliveries": ("alerts.tasks.deliveries_send", "I", 1),
    "alerts: anomaly rules for every active key": ("alerts.tasks.rules_run_all", "I", 15),
    "alerts: digest of ignored signals": ("alerts.tasks.signals_ignored_digests", "H", None),
    "alerts: daily summaries (opt-in)": ("alerts.tasks.daily_summaries", "D", None),
}


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for name, (func, schedule_type, minutes) in SCHEDULES.items():
        Schedule.objects.update_or_create(
            name=name, defaults={"func": func, "schedule_type": schedule_type, "minutes": minutes, "repeats": -1}
        )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name__in=list(SCHEDULES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("alerts", "0001_initial"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(create, remove)]
