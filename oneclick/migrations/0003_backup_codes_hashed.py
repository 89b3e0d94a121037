"""Backup codes are stored as keyed hashes: the codes already issued are hashed in place."""

from django.db import migrations


def hash_codes(apps, schema_editor):
    from oneclick.services import backup_code_digest

    StaticToken = apps.get_model("otp_static", "StaticToken")
    for token in StaticToken.objects.all():
        token.token = backup_code_digest(token.token)
        token.save(update_fields=["token"])


class Migration(migrations.Migration):
    dependencies = [
        ("oneclick", "0002_totp_device_seed_encrypted"),
        ("otp_static", "0003_add_timestamps"),
    ]

    # Hashes cannot be turned back into codes: going back leaves them hashed (users make new codes).
    operations = [migrations.RunPython(hash_codes, migrations.RunPython.noop)]
