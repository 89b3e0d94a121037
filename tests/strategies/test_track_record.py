"""The public track record: chained signals, an export the standalone verifier checks, and any change to the
history (an edited, removed or reordered signal) caught; the page is public; following the signals adds up."""

import json
import subprocess
import sys
from decimal import Decimal

import pytest

from alerts.models import Alert, Kind
from portfolios.rules import daily_summary
from strategies.models import Signal
from strategies.services import CHAIN_GENESIS, signal_verify
from strategies.track_record import follow, track_record_export
from tests.portfolios.conftest import alice_paper_key, issue_signal, make_bot, strategy  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

VERIFIER = "strategies/track_record_verify.py"


def _verify(tmp_path, export, *extra):
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export))
    # Standalone: a plain interpreter, no Django settings, only the script and the cryptography package.
    done = subprocess.run([sys.executable, "-I", VERIFIER, str(path), *extra], capture_output=True, text=True)
    return done.returncode, done.stdout.strip()


@pytest.fixture
def chain(strategy):
    return [issue_signal(strategy, market, action, "0.5", price=price) for market, action, price in (
        ("BTC/USDT", "buy", "100"), ("ETH/USDT", "buy", "50"), ("BTC/USDT", "sell", "110"), ("ETH/USDT", "hold", "55"))]


def test_each_signal_names_the_previous_ones_hash_and_still_verifies(strategy, chain):
    strategy.refresh_from_db()
    assert chain[0].previous_hash == CHAIN_GENESIS
    assert [s.previous_hash for s in chain[1:]] == [s.chain_hash for s in chain[:-1]]
    assert strategy.chain_head == chain[-1].chain_hash
    assert all(signal_verify(signal=s, strategy=strategy).code in ("valid", "superseded") for s in chain)


def test_the_verifier_passes_an_untouched_export_and_the_head_you_hold(tmp_path, strategy, chain):
    strategy.refresh_from_db()
    assert _verify(tmp_path, track_record_export(strategy), "--head", strategy.chain_head) == (
        0, f"OK: 4 signals, head {strategy.chain_head}")


@pytest.mark.parametrize("tamper, problem", [
    ("edit", "signal 2 (id {ids[1]}): the signature does not match its fields (altered)"),
    ("remove", "signal 2 (id {ids[2]}): does not follow the signal before it (removed, added or reordered)"),
    ("remove_last", "the last signal is not the head the export publishes (signals removed from the end)"),
    ("swap", "signal 2 (id {ids[1]}): does not follow the signal before it (removed, added or reordered)"),
])
def test_a_history_changed_in_the_database_fails_the_verifier(tamper, problem, tmp_path, strategy, chain):
    ids = [s.pk for s in chain]
    if tamper == "edit":
        Signal.objects.filter(pk=ids[1]).update(fraction=Decimal("0.9"))  # a bad call made to look better
    elif tamper == "remove":
        Signal.objects.filter(pk=ids[1]).delete()
    elif tamper == "remove_last":
        Signal.objects.filter(pk=ids[3]).delete()
    else:  # two signals swapped: their rows exchange places in the chain's order
        first, second = Signal.objects.get(pk=ids[1]), Signal.objects.get(pk=ids[2])
        Signal.objects.filter(pk__in=ids[1:3]).delete()
        for row, pk in ((second, ids[1]), (first, ids[2])):
            row.pk = pk
            row.save(force_insert=True)
    strategy.refresh_from_db()
    code, said = _verify(tmp_path, track_record_export(strategy))
    assert (code, said) == (1, "FAIL: " + problem.format(ids=ids))


def test_a_rewritten_history_does_not_end_at_the_head_a_follower_holds(tmp_path, strategy, chain):
    strategy.refresh_from_db()
    held = strategy.chain_head  # from yesterday's daily summary email
    Signal.objects.filter(pk=chain[-1].pk).delete()
    strategy.chain_head = chain[-2].chain_hash  # the platform "fixing" its published head too
    strategy.save(update_fields=["chain_head"])
    assert _verify(tmp_path, track_record_export(strategy)) == (0, f"OK: 3 signals, head {chain[-2].chain_hash}")
    assert _verify(tmp_path, track_record_export(strategy), "--head", held) == (
        1, "FAIL: the chain does not end at the head you hold (signals removed or replaced)")


def test_signals_swapped_in_the_export_fail_the_verifier(tmp_path, strategy, chain):
    exported = track_record_export(strategy)
    exported["signals"][1], exported["signals"][2] = exported["signals"][2], exported["signals"][1]
    assert _verify(tmp_path, exported) == (1, f"FAIL: signal 2 (id {chain[2].pk}): does not follow the signal "
                                              "before it (removed, added or reordered)")


def test_the_track_record_page_and_export_are_public(client, alice, strategy, chain):
    strategy.refresh_from_db()
    page = client.get(f"/strategies/{strategy.pk}/track-record/")
    assert page.status_code == 200
    text = page.content.decode()
    assert strategy.chain_head in text and strategy.public_key in text and chain[0].signature in text
    exported = client.get(f"/strategies/{strategy.pk}/track-record.json").json()
    assert exported["head"] == strategy.chain_head and len(exported["signals"]) == 4
    assert "private" not in json.dumps(exported).lower()
    assert client.get("/strategies/999999/track-record/").status_code == 404
    assert client.get("/strategies/999999/track-record.json").status_code == 404


def test_following_the_signals_is_computed_by_hand(strategy, chain):
    # 1000 USDT: buy 0.5 x 1000 BTC at 100 (0.1 % fee): 4.995 BTC; buy 500 ETH at 50: 9.99 ETH;
    # sell 0.5 of the BTC at 110: 2.4975 BTC for 274.725, less 0.274725; hold ETH, last seen at 55.
    result = follow(Signal.objects.filter(pk__in=[s.pk for s in chain]).order_by("pk"))
    assert result.trades == 3
    assert result.fees == Decimal("0.5") + Decimal("0.5") + Decimal("0.274725")
    cash = Decimal("274.725") - Decimal("0.274725")
    assert result.end == cash + Decimal("2.4975") * 110 + Decimal("9.99") * 55
    assert result.total_return == result.end / 1000 - 1


def test_the_daily_summary_carries_the_head_of_each_followed_strategy(alice, alice_paper_key, strategy, chain):
    make_bot(alice, alice_paper_key, strategy)
    strategy.refresh_from_db()
    daily_summary(user=alice)
    [alert] = Alert.objects.filter(user=alice, kind=Kind.DAILY_SUMMARY)
    assert f"- {strategy.name}: {strategy.chain_head}" in alert.text
