"""The authenticator's seed is stored encrypted, like the exchange secrets; existing ones are moved over."""

import io
from base64 import b32encode

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from tests.conftest import enable_two_factor, totp_code


def test_a_dump_or_a_raw_read_of_the_database_shows_no_totp_seed(alice):
    device, _ = enable_two_factor(alice)
    seed_hex, seed_b32 = device.key, b32encode(device.bin_key).decode().rstrip("=")
    dump = io.StringIO()
    call_command("dumpdata", stdout=dump)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM oneclick_totpdevice")
        raw = repr(cursor.fetchall())
    for seed in (seed_hex, seed_b32):
        assert seed not in dump.getvalue() and seed.lower() not in dump.getvalue().lower()
        assert seed not in raw
    device.refresh_from_db()
    assert device.key == seed_hex and device.verify_token(totp_code(device))


@pytest.mark.django_db(transaction=True)
def test_migration_moves_existing_authenticators_out_of_the_plain_table(alice):
    executor = MigrationExecutor(connection)
    executor.migrate([("oneclick", "0001_initial")])
    old = executor.loader.project_state([("oneclick", "0001_initial"), ("otp_totp", "0003_add_timestamps")]).apps
    plain = old.get_model("otp_totp", "TOTPDevice").objects.create(
        user_id=alice.pk, name="Authenticator app", confirmed=True, key="0123456789abcdef0123456789abcdef01234567",
        last_t=5)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    from django_otp.plugins.otp_totp.models import TOTPDevice as PlainTOTPDevice

    from oneclick.models import TOTPDevice

    assert not PlainTOTPDevice.objects.exists()
    device = TOTPDevice.objects.get(user=alice)
    assert (device.key, device.confirmed, device.last_t, device.name) == (plain.key, True, 5, "Authenticator app")
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM oneclick_totpdevice")
        assert plain.key not in repr(cursor.fetchall())


def test_backup_codes_are_stored_as_keyed_hashes_only(alice):
    from django_otp.plugins.otp_static.models import StaticToken

    _device, codes = enable_two_factor(alice)
    dump = io.StringIO()
    call_command("dumpdata", stdout=dump)
    stored = set(StaticToken.objects.values_list("token", flat=True))
    assert len(stored) == 10
    for code in codes:
        assert code not in dump.getvalue() and code not in stored


@pytest.mark.django_db(transaction=True)
def test_migration_hashes_backup_codes_issued_before_and_they_still_work(alice, rf):
    from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

    from oneclick.services import second_factor_verify

    executor = MigrationExecutor(connection)
    executor.migrate([("oneclick", "0002_totp_device_seed_encrypted")])
    device = StaticDevice.objects.create(user=alice, name="Backup codes")
    StaticToken.objects.create(device=device, token="abcd2345efgh")  # as issued before: the code itself

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert StaticToken.objects.get(device=device).token != "abcd2345efgh"
    request = rf.post("/", REMOTE_ADDR="127.0.0.1")
    request.user = alice
    request.session = {}
    assert second_factor_verify(request=request, code="abcd 2345 efgh") == device
    assert not StaticToken.objects.filter(device=device).exists()  # used once
