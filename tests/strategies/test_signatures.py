"""Signals are signed, verifiable with the public key alone, and refused when altered, stale or replayed."""

import json
from datetime import timedelta

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from django.db import connection

from strategies.models import Signal, SignalReceipt, Strategy
from strategies.services import signal_payload_bytes, signal_verify, strategy_create, strategy_run

from .conftest import CLOSE


@pytest.fixture
def signals(paper, trend):
    outcome = strategy_run(strategy=trend, candle_close=CLOSE, now=CLOSE + timedelta(seconds=10))
    assert outcome.status == "succeeded", outcome.error
    return list(Signal.objects.filter(strategy=trend).order_by("market"))


def at(signal, minutes=1):
    return signal.created + timedelta(minutes=minutes)


def test_a_signal_verifies_with_only_the_public_key(signals):
    signal = signals[0]
    payload = signal_payload_bytes(signal)
    public_key = Strategy.objects.values_list("public_key", flat=True).get(pk=signal.strategy_id)
    # Exactly what a user does with the three lines in the README.
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key)).verify(bytes.fromhex(signal.signature), payload)
    fields = json.loads(payload)
    assert fields["market"] == signal.market and fields["action"] == signal.action
    assert fields["candle_close"] == CLOSE.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert isinstance(fields["fraction"], str)
    tampered = payload.replace(b'"action":"', b'"action":"x')
    with pytest.raises(InvalidSignature):
        Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key)).verify(bytes.fromhex(signal.signature), tampered)
    assert signal_verify(signal=signal, now=at(signal)).code == "valid"


@pytest.mark.parametrize(
    "field, value",
    [("action", "buy"), ("fraction", "0.99"), ("market", "SOL/USDT"), ("expires", None), ("reason", "changed")],
)
def test_a_changed_field_breaks_the_signature(signals, field, value):
    signal = signals[0]
    if field == "action" and signal.action == "buy":
        value = "sell"
    if field == "expires":
        value = signal.expires + timedelta(days=30)
    Signal.objects.filter(pk=signal.pk).update(**{field: value})
    signal.refresh_from_db()
    assert signal_verify(signal=signal, now=at(signal)).code == "bad_signature"


def test_a_signature_from_another_key_is_refused(signals, db):
    signal = signals[0]
    other = strategy_create(name="Other", kind="trend", markets=["BTC/USDT"])
    Strategy.objects.filter(pk=signal.strategy_id).update(public_key=other.public_key)
    signal.refresh_from_db()
    assert signal_verify(signal=signal, now=at(signal)).code == "bad_signature"
    # And a bot of another strategy refuses it outright.
    assert signal_verify(signal=signal, strategy=other, now=at(signal)).code == "wrong_strategy"


def test_an_expired_signal_is_refused(signals):
    signal = signals[0]
    assert signal_verify(signal=signal, now=signal.expires - timedelta(seconds=1)).ok
    result = signal_verify(signal=signal, now=signal.expires)
    assert not result.ok and result.code == "expired"


def test_a_replayed_signal_is_refused(signals):
    signal = signals[0]
    first = signal_verify(signal=signal, now=at(signal), consumer="bot:1")
    assert first.ok
    again = signal_verify(signal=signal, now=at(signal, 2), consumer="bot:1")
    assert not again.ok and again.code == "replayed"
    # Another bot may still accept it once.
    assert signal_verify(signal=signal, now=at(signal), consumer="bot:2").ok
    assert SignalReceipt.objects.filter(signal=signal).count() == 2


def test_a_copy_of_a_signal_under_a_new_id_does_not_verify(signals):
    signal = signals[0]
    copy = Signal.objects.get(pk=signal.pk)
    copy.pk = None
    copy.candle_close = signal.candle_close - timedelta(hours=4)
    copy.save()
    assert signal_verify(signal=copy, now=at(signal)).code == "bad_signature"


def test_an_older_signal_is_superseded_by_a_newer_one(paper, signals, trend):
    old = signals[0]
    assert strategy_run(strategy=trend, candle_close=CLOSE + trend.timeframe_delta, now=CLOSE + timedelta(hours=4, seconds=5)).status == "succeeded"
    assert signal_verify(signal=old, now=at(old)).code == "superseded"


def test_the_private_key_is_stored_encrypted_only(signals, trend):
    private_hex = Strategy.objects.get(pk=trend.pk).private_key
    assert len(private_hex) == 64
    with connection.cursor() as cursor:
        cursor.execute("SELECT private_key FROM strategies_strategy WHERE id = %s", [trend.pk])
        stored = cursor.fetchone()[0]
    stored = bytes(stored) if not isinstance(stored, str) else stored.encode()
    assert private_hex.encode() not in stored and bytes.fromhex(private_hex) not in stored


def test_the_private_key_is_in_no_page_and_no_admin_form(client, alice, signals, trend):
    private_hex = Strategy.objects.get(pk=trend.pk).private_key
    client.force_login(alice)
    pages = [f"/strategies/{trend.pk}/", "/strategies/", f"/signals/{signals[0].pk}/", "/signals/"]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        assert private_hex not in response.content.decode()
        assert trend.public_key in response.content.decode() or url == "/signals/"
    from tests.conftest import enable_two_factor, login_verified, make_user

    staff = make_user("ops@example.com", staff=True)
    device, _ = enable_two_factor(staff)
    login_verified(client, staff, device)
    response = client.get(f"/admin/strategies/strategy/{trend.pk}/change/")
    assert response.status_code == 200
    assert private_hex not in response.content.decode()
    assert "private_key" not in response.content.decode()
