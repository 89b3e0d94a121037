import pytest

from keys.models import KeyEvent
from portfolios.reconcile import key_reconcile

pytestmark = pytest.mark.django_db


def test_reconciliation_catches_a_withdraw_permission_switched_on(alice_bot, paper, paper_account):
    key_reconcile(key_id=alice_bot.key_id)
    alice_bot.key.refresh_from_db()
    assert alice_bot.key.status == "active"
    probes = KeyEvent.objects.filter(key=alice_bot.key, kind="probed").count()

    paper.set_withdraw(paper_account.api_key, on=True)
    report = key_reconcile(key_id=alice_bot.key_id)

    alice_bot.refresh_from_db()
    alice_bot.key.refresh_from_db()
    assert "key disabled" in report["skipped"]
    assert alice_bot.key.status == "disabled"
    assert alice_bot.state == "paused"
    assert KeyEvent.objects.filter(key=alice_bot.key, kind="withdraw_detected").count() == 1
    # An unchanged permission set on an ordinary pass adds no audit row; a change does.
    assert KeyEvent.objects.filter(key=alice_bot.key, kind="probed").count() == probes + 1
