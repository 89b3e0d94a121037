from django.db import migrations

SCHEDULES = {
    "portfolios: reconcile every active key": ("portfolios.tasks.reconcile_all", 5),
    "portfolios: resolve orders left pending or sent": ("portfolios.tasks.orders_recover_task", 1),
}


def create(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    for name, (func, minutes) in SCHEDULES.items():
        Schedule.objects.update_or_create(
            name=name, defaults={"func": func, "schedule_type": "I", "minutes": minutes, "repeats": -1}
        )


def remove(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name__in=list(SCHEDULES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("portfolios", "0003_orders_fills_positions"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(create, remove)]
