import base64
import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from keys.crypto import SERIALIZED_PREFIX, UndecryptableValue, _fernet_for
from keys.models import ExchangeKey, KeyEvent
from keys.rotation import rotate_all

pytestmark = pytest.mark.django_db

OLD, NEW = "old-encryption-key-0123456789", "new-encryption-key-9876543210"


@pytest.fixture
def keys_under_old_key(alice, settings):
    settings.ONECLICK_ENCRYPTION_KEY = OLD
    settings.ONECLICK_ENCRYPTION_KEY_PREVIOUS = []
    return [
        ExchangeKey.objects.create(
            owner=alice, exchange="paper", label=f"k{i}", api_key=f"api-key-{i}-abcdefgh",
            api_secret=f"api-secret-{i}-abcdefgh", api_key_hint="x",
        )
        for i in range(5)
    ]


def _stored_ciphertexts():
    """What a SQL dump of the table holds."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT api_key, api_secret FROM keys_exchangekey")
        return [bytes(value) for row in cursor.fetchall() for value in row]


def _dumped_ciphertexts():
    out = io.StringIO()
    call_command("dumpdata", "keys.exchangekey", stdout=out)
    rows = json.loads(out.getvalue())
    return [base64.b64decode(row["fields"]["api_secret"][len(SERIALIZED_PREFIX):]) for row in rows]


def _decrypts_with(secret, token):
    try:
        _fernet_for(secret).decrypt(token)
    except Exception:
        return False
    return True


def test_reads_with_previous_key_while_rotating_and_dump_decrypts_only_with_new_key(
    keys_under_old_key, settings
):
    settings.ONECLICK_ENCRYPTION_KEY = NEW
    settings.ONECLICK_ENCRYPTION_KEY_PREVIOUS = [OLD]
    # No downtime: values written under the old key are still readable.
    assert ExchangeKey.objects.get(label="k0").api_secret == "api-secret-0-abcdefgh"

    class Interrupted(Exception):
        pass

    def stop_after_first_batch(label, done, total, rewritten):
        if label == "keys.ExchangeKey" and done >= 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        rotate_all(batch_size=2, progress=stop_after_first_batch)
    tokens = _stored_ciphertexts()
    assert sum(_decrypts_with(NEW, t) for t in tokens) == 4  # the first batch (2 rows) committed
    assert sum(_decrypts_with(OLD, t) for t in tokens) == 6

    out = io.StringIO()
    call_command("rotate_encryption_key", "--batch-size", "2", stdout=out)
    assert "keys.ExchangeKey: 5/5 rows checked, 3 re-encrypted" in out.getvalue()
    again = io.StringIO()
    call_command("rotate_encryption_key", stdout=again)
    assert "0 re-encrypted" in again.getvalue()
    assert KeyEvent.objects.filter(kind="rotated").count() == 5

    settings.ONECLICK_ENCRYPTION_KEY_PREVIOUS = []
    tokens = _stored_ciphertexts() + _dumped_ciphertexts()
    assert all(_decrypts_with(NEW, t) for t in tokens)
    assert not any(_decrypts_with(OLD, t) for t in tokens)
    assert [k.api_secret for k in ExchangeKey.objects.order_by("label")] == [
        f"api-secret-{i}-abcdefgh" for i in range(5)
    ]


def test_rotation_without_the_old_key_fails_with_one_clear_line(keys_under_old_key, settings):
    settings.ONECLICK_ENCRYPTION_KEY = NEW
    settings.ONECLICK_ENCRYPTION_KEY_PREVIOUS = []
    with pytest.raises(CommandError, match="ONECLICK_ENCRYPTION_KEY_PREVIOUS"):
        call_command("rotate_encryption_key")
    with pytest.raises(UndecryptableValue):
        ExchangeKey.objects.get(label="k0")


def test_dump_round_trips_through_loaddata(keys_under_old_key, tmp_path):
    path = tmp_path / "keys.json"
    call_command("dumpdata", "keys.exchangekey", output=str(path))
    assert "api-secret-0" not in path.read_text()
    ExchangeKey.objects.all().delete()
    call_command("loaddata", str(path))
    assert ExchangeKey.objects.get(label="k3").api_secret == "api-secret-3-abcdefgh"
