"""The shared cache's table (rate limits and the other marks every process must see, when there is no Redis):
created by ``migrate`` itself, so no deployment step can forget it."""

from django.core.management import call_command
from django.db import migrations

CACHE_TABLE = "oneclick_cache"


def create(apps, schema_editor):
    call_command("createcachetable", CACHE_TABLE, database=schema_editor.connection.alias, verbosity=0)


def drop(apps, schema_editor):
    schema_editor.execute(f"DROP TABLE IF EXISTS {schema_editor.quote_name(CACHE_TABLE)}")


class Migration(migrations.Migration):
    dependencies = [("oneclick", "0004_clock_readings")]

    operations = [migrations.RunPython(create, drop)]
