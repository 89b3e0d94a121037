"""The CLI makes accounts of a venue and keys in the shape that venue's ccxt class needs."""

import base64
import json

import pytest

from tests.paperexchange.test_cli_and_persistence import cli


def test_account_create_with_a_venue_and_show_it(tmp_path):
    account = cli("account", "create", "--venue", "kraken", "--balance", "EUR=10000", data=tmp_path).stdout.strip()
    assert account.isdigit()
    shown = json.loads(cli("account", "show", account, "--json", data=tmp_path).stdout)
    assert shown["venue"] == "kraken" and shown["balances"]["EUR"]["free"] == "10000"
    plain = cli("account", "show", account, data=tmp_path).stdout
    assert plain.splitlines()[0] == "venue\tkraken"


def test_the_venue_defaults_to_binance(tmp_path):
    account = cli("account", "create", "--balance", "USDT=1", data=tmp_path).stdout.strip()
    assert json.loads(cli("account", "show", account, "--json", data=tmp_path).stdout)["venue"] == "binance"


def test_an_unknown_venue_exits_2_with_one_readable_line(tmp_path):
    result = cli("account", "create", "--venue", "ftx", "--balance", "USDT=1", data=tmp_path, check=False)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "paperexchange: error: unknown venue 'ftx' (use one of binance, binanceus, kraken, bitvavo, onetrading)"]


@pytest.mark.parametrize("venue", ["binance", "binanceus", "kraken", "bitvavo", "onetrading"])
def test_key_create_prints_what_the_venues_ccxt_class_needs(tmp_path, venue):
    account = cli("account", "create", "--venue", venue, data=tmp_path).stdout.strip()
    key = json.loads(cli("key", "create", "--account", account, "--json", data=tmp_path).stdout)
    if venue == "onetrading":
        assert set(key) == {"api_key"}  # a bearer token, no secret
        plain = cli("key", "create", "--account", account, data=tmp_path).stdout
        assert plain.startswith("api_key: ") and "secret" not in plain
        return
    assert set(key) == {"api_key", "secret"}
    if venue == "kraken":
        assert len(base64.b64decode(key["secret"], validate=True)) == 64
    elif venue == "bitvavo":
        assert len(key["secret"]) == 64 and all(c in "0123456789abcdef" for c in key["secret"])
    else:
        assert len(key["secret"]) == 64 and key["secret"].isalnum()


def test_ed25519_keys_are_refused_outside_the_binance_venues(tmp_path):
    account = cli("account", "create", "--venue", "bitvavo", data=tmp_path).stdout.strip()
    result = cli("key", "create", "--account", account, "--ed25519", data=tmp_path, check=False)
    assert result.returncode == 2 and "Binance and Binance.US only" in result.stderr


def test_a_binanceus_key_made_by_the_cli_works_at_once_on_a_running_server(paper_exchange):
    account = cli("account", "create", "--venue", "binanceus", "--balance", "USD=750",
                  data=paper_exchange.data_dir).stdout.strip()
    key = json.loads(cli("key", "create", "--account", account, "--json", data=paper_exchange.data_dir).stdout)
    assert paper_exchange.ccxt(key, venue="binanceus").fetch_balance()["USD"]["free"] == 750


def test_bnb_fees_is_set_at_creation_and_changed_by_the_cli(tmp_path):
    account = cli("account", "create", "--balance", "USDT=100", "--balance", "BNB=1", "--bnb-fees",
                  data=tmp_path).stdout.strip()
    assert json.loads(cli("account", "show", account, "--json", data=tmp_path).stdout)["bnb_fees"] is True
    assert cli("account", "show", account, data=tmp_path).stdout.splitlines()[:2] == ["venue\tbinance", "bnb_fees\ton"]
    assert cli("account", "update", account, "--no-bnb-fees", data=tmp_path).stdout.strip() == "bnb_fees=off"
    assert json.loads(cli("account", "update", account, "--bnb-fees", "--json", data=tmp_path).stdout) == {
        "account": int(account), "bnb_fees": True}
    plain = cli("account", "create", data=tmp_path).stdout.strip()
    assert json.loads(cli("account", "show", plain, "--json", data=tmp_path).stdout)["bnb_fees"] is False
    refused = cli("account", "create", "--venue", "kraken", "--bnb-fees", data=tmp_path, check=False)
    assert refused.returncode == 2 and refused.stderr.strip() == \
        "paperexchange: error: paying fees in BNB is a setting on binance and binanceus only, not on kraken"
    nothing = cli("account", "update", account, data=tmp_path, check=False)
    assert nothing.returncode == 2 and "--bnb-fees" in nothing.stderr


def test_a_running_server_follows_the_setting_the_cli_changes(paper_exchange):
    paper_exchange.reset()
    account = paper_exchange.create_account(USDT="1000", BNB="1")
    trader = paper_exchange.ccxt(paper_exchange.create_key(account))
    assert trader.create_order("BTC/USDT", "market", "buy", 0.0001)["fee"]["currency"] == "BTC"
    cli("account", "update", str(account), "--bnb-fees", data=paper_exchange.data_dir)
    assert trader.create_order("BTC/USDT", "market", "buy", 0.0001)["fee"]["currency"] == "BNB"
