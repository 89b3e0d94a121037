"""Sessions that expired (idle past SESSION_IDLE_MINUTES, or signed out) are deleted once a day."""

from django.db import migrations

SCHEDULE_NAME = "oneclick: daily removal of expired sessions"


def create_schedule(apps, schema_editor):
    Schedule = apps.get_model("django_q", "Schedule")
    Schedule.objects.update_or_create(
        name=SCHEDULE_NAME,
        defaults={"func": "oneclick.tasks.sessions_clear_expired", "schedule_type": "D", "repeats": -1},
    )


def remove_schedule(apps, schema_editor):
    apps.get_model("django_q", "Schedule").objects.filter(name=SCHEDULE_NAME).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("oneclick", "0007_invitations_and_waitlist"),
        ("django_q", "0018_task_success_index"),
    ]

    operations = [migrations.RunPython(create_schedule, remove_schedule)]
