"""The CLI works with or without a running server; state survives a restart."""

import json
import os
import subprocess
import sys

import ccxt
import pytest

from tests.plugins.paper import ROOT, PaperExchange


def cli(*args, data=None, env=None, check=True):
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    full_env.pop("PAPEREXCHANGE_DATA", None)
    full_env.pop("PAPEREXCHANGE_CONTROL_TOKEN", None)
    argv = [sys.executable, "-m", "paperexchange"] + (["--data", str(data)] if data else []) + list(args)
    result = subprocess.run(argv, cwd=ROOT, env={**full_env, **(env or {})}, capture_output=True, text=True, timeout=60)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def own_server(tmp_path):
    server = PaperExchange(tmp_path / "state")
    server.start()
    yield server
    server.stop()


def test_account_create_prints_the_id_alone(tmp_path):
    out = cli("account", "create", "--balance", "USDT=10000", "--balance", "BTC=0.25", data=tmp_path)
    assert out.stdout.strip().isdigit()
    shown = json.loads(cli("account", "show", out.stdout.strip(), "--json", data=tmp_path).stdout)
    assert shown["balances"]["USDT"] == {"free": "10000", "locked": "0"}
    assert shown["balances"]["BTC"]["free"] == "0.25"


def test_data_dir_from_the_environment(tmp_path):
    out = cli("account", "create", "--balance", "USDT=1", env={"PAPEREXCHANGE_DATA": str(tmp_path / "envdir")})
    assert out.stdout.strip() == "1"
    assert (tmp_path / "envdir" / "paperexchange.sqlite3").exists()


def test_key_create_update_delete(tmp_path):
    account = cli("account", "create", "--balance", "USDT=5", data=tmp_path).stdout.strip()
    key = json.loads(cli("key", "create", "--account", account, "--json", "--ip", "127.0.0.1",
                         "--symbols", "BTCUSDT,ETHUSDT", data=tmp_path).stdout)
    assert set(key) == {"api_key", "secret"} and len(key["api_key"]) == 64
    ed = json.loads(cli("key", "create", "--account", account, "--ed25519", "--no-trade", "--json",
                        data=tmp_path).stdout)
    assert set(ed) == {"api_key", "private_key"} and "BEGIN PRIVATE KEY" in ed["private_key"]
    plain = cli("key", "create", "--account", account, data=tmp_path).stdout
    assert plain.startswith("api_key: ") and "\nsecret: " in plain
    updated = json.loads(cli("key", "update", "--key", key["api_key"], "--can-withdraw", "--no-ip", "--json",
                             data=tmp_path).stdout)
    assert updated["enableWithdrawals"] is True and updated["ips"] == [] and updated["symbols"] == ["BTCUSDT", "ETHUSDT"]
    assert "secret" not in updated
    cli("key", "delete", "--key", key["api_key"], data=tmp_path)
    again = cli("key", "delete", "--key", key["api_key"], data=tmp_path, check=False)
    assert again.returncode == 2 and again.stderr.strip() == "paperexchange: error: no such API key"


@pytest.mark.parametrize("args, message", [
    (["account", "create", "--balance", "USDT"], "must look like ASSET=AMOUNT"),
    (["account", "create", "--balance", "USDT=-5"], "non-negative"),
    (["key", "create", "--account", "999"], "no account 999"),
    (["key", "create", "--account", "1", "--symbols", "DOGEUSDT"], "unknown symbol"),
    (["key", "create", "--account", "1", "--ip", "not-an-ip"], "bad IP address"),
    (["key", "update", "--key", "nope", "--can-withdraw"], "no such API key"),
    (["account", "explode"], "invalid choice"),
    (["fault", "lost-response", "--token", "t", "--url", "http://127.0.0.1:9"], "--count"),
])
def test_bad_input_gets_one_clear_line_and_a_non_zero_exit(tmp_path, args, message):
    cli("account", "create", data=tmp_path)
    result = cli(*args, data=tmp_path, check=False)
    assert result.returncode != 0
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr


def test_keys_created_by_the_cli_work_at_once_on_a_running_server(paper_exchange):
    account = cli("account", "create", "--balance", "USDT=1000", data=paper_exchange.data_dir).stdout.strip()
    key = json.loads(cli("key", "create", "--account", account, "--json", data=paper_exchange.data_dir).stdout)
    exchange = paper_exchange.ccxt(key)
    assert exchange.fetch_balance()["USDT"]["free"] == 1000
    cli("key", "update", "--key", key["api_key"], "--no-trade", data=paper_exchange.data_dir)
    exchange.load_markets()
    with pytest.raises(ccxt.DDoSProtection, match="-2015"):  # ccxt's reading of -2015 after a success
        exchange.create_order("BTC/USDT", "market", "buy", 0.0001)
    cli("key", "delete", "--key", key["api_key"], data=paper_exchange.data_dir)
    with pytest.raises(ccxt.AuthenticationError):
        paper_exchange.ccxt(key).fetch_balance()


def test_fault_command_talks_to_the_control_endpoint(paper_exchange, paper_account):
    common = ["--url", paper_exchange.url, "--token", paper_exchange.token]
    out = cli("fault", "reject-order", "--count", "2", *common)
    assert json.loads(out.stdout)["reject_order"]["count"] == 2
    exchange = paper_account.ccxt()
    with pytest.raises(ccxt.InvalidOrder):
        exchange.create_order("BTC/USDT", "market", "buy", 0.0001)
    cli("fault", "key-withdraw", "--key", paper_account.api_key, *common)
    assert exchange.sapiGetAccountApiRestrictions()["enableWithdrawals"] is True
    out = cli("fault", "foreign-trade", "--account", str(paper_account.id), "--symbol", "PUMPUSDT",
              "--quantity", "2000", *common)
    assert json.loads(out.stdout)["status"] == "FILLED"
    counters = json.loads(cli("fault", "counters", "--json", *common).stdout)
    assert counters["rejected_orders"] == 1
    cli("fault", "reset", *common)
    assert json.loads(cli("fault", "show", "--json", *common).stdout)["reject_order"] is None
    wrong = cli("fault", "show", "--url", paper_exchange.url, "--token", "wrong", check=False)
    assert wrong.returncode == 2 and "control token" in wrong.stderr
    down = cli("fault", "show", "--url", "http://127.0.0.1:9", "--token", "x", check=False)
    assert down.returncode == 1 and "cannot reach" in down.stderr


def test_restart_keeps_accounts_keys_orders_and_trades(own_server):
    account = own_server.create_account(USDT="10000")
    key = own_server.create_key(account, ed25519=True)
    exchange = own_server.ccxt(key)
    exchange.load_markets()
    filled = exchange.create_order("ETH/USDT", "market", "buy", 0.1, params={"clientOrderId": "before-restart"})
    price = round(exchange.fetch_ticker("ETH/USDT")["last"] * 0.5, 2)
    resting = exchange.create_order("ETH/USDT", "limit", "buy", 0.1, price)
    balance = exchange.fetch_balance()
    trades = exchange.fetch_my_trades("ETH/USDT")

    own_server.restart()

    exchange = own_server.ccxt(key)
    exchange.load_markets()
    after = exchange.fetch_balance()
    assert {a: after[a] for a in ("USDT", "ETH")} == {a: balance[a] for a in ("USDT", "ETH")}
    assert exchange.fetch_my_trades("ETH/USDT") == trades
    assert exchange.fetch_order(None, "ETH/USDT", params={"clientOrderId": "before-restart"})["id"] == filled["id"]
    assert [o["id"] for o in exchange.fetch_open_orders("ETH/USDT")] == [resting["id"]]
    new = exchange.create_order("ETH/USDT", "market", "buy", 0.01)
    assert int(new["id"]) > int(resting["id"])


def test_control_token_is_written_to_the_data_dir_when_not_given_and_never_printed(tmp_path):
    state = tmp_path / "state"
    server = PaperExchange(state, env={"PAPEREXCHANGE_CONTROL_TOKEN": ""})
    server.start()
    try:
        token = (state / "control_token").read_text().strip()
        assert len(token) >= 32
        server.token = token
        assert server.counters()["requests"] >= 1
        log = server.log_path.read_text()
        assert token not in log and f"control token: in {state / 'control_token'}" in log
        # The token and the database (API secrets in the clear) are the owner's only, journals included.
        for name in ("control_token", "paperexchange.sqlite3", "paperexchange.sqlite3-wal"):
            assert oct((state / name).stat().st_mode & 0o777) == oct(0o600), name
    finally:
        server.stop()


def test_serve_on_a_busy_port_says_so_in_one_line(paper_exchange, tmp_path):
    result = cli("serve", "--port", str(paper_exchange.port), data=tmp_path, check=False)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "cannot serve on 127.0.0.1" in result.stderr


def test_serve_with_a_bad_config_file_says_so_in_one_line(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[rate_limits\n")
    result = cli("serve", "--port", "1", "--config", str(bad), data=tmp_path, check=False)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "not valid TOML" in result.stderr
