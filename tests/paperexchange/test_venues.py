"""One server, one engine, one price path, several venues: each account and key belongs to exactly one."""

import base64
import json
import sqlite3
import tempfile
import urllib.error
import urllib.request
import uuid
from decimal import Decimal

import ccxt
import pytest

from paperexchange import config, ids, store
from paperexchange.client import make_ccxt, rewrite_urls
from paperexchange.engine import Engine
from paperexchange.errors import BinanceError
from paperexchange.market import Market
from tests.plugins.paper import PaperExchange, PaperExchangeError

NOW = 1_790_000_000_000
CONFIG = config.load(environ={})
MARKET = Market(CONFIG["symbols"], seed=5)


def engine_with_account(conn, venue, **balances):
    engine = Engine(conn, MARKET, venues=CONFIG["venues"])
    return engine, store.account_create(conn, balances, venue=venue)


def test_a_binance_key_is_refused_under_binanceus_like_an_unknown_key(paper_exchange):
    key = paper_exchange.create_key(paper_exchange.create_account(USDT="100"))
    assert paper_exchange.ccxt(key).fetch_balance()["USDT"]["free"] == 100
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        paper_exchange.ccxt(key, venue="binanceus").fetch_balance()


def test_a_binanceus_key_is_refused_by_binance(paper_exchange):
    key = paper_exchange.create_key(paper_exchange.create_account(venue="binanceus", USD="100"))
    assert key["venue"] == "binanceus"
    assert paper_exchange.ccxt(key).fetch_balance()["USD"]["free"] == 100
    with pytest.raises(ccxt.AuthenticationError, match="-2015"):
        paper_exchange.ccxt(key, venue="binance").fetch_balance()


def test_binance_does_not_list_euro_or_us_dollar_markets(paper_exchange, paper_account):
    exchange = paper_account.ccxt()
    exchange.load_markets()
    assert not {"BTC/EUR", "BTC/USD", "USDT/EUR"} & set(exchange.symbols)
    with pytest.raises(ccxt.BadSymbol):
        exchange.publicGetTicker24hr({"symbol": "BTCEUR"})
    with pytest.raises(ccxt.BadSymbol):
        exchange.publicGetExchangeInfo({"symbols": '["BTCUSDT","BTCUSD"]'})
    with pytest.raises(ccxt.BadSymbol):
        exchange.privatePostOrder({"symbol": "BTCUSD", "side": "BUY", "type": "MARKET", "quantity": "0.0001"})
    assert paper_account.snapshot()["orders"] == []
    assert "BTCEUR" not in {t["symbol"] for t in exchange.publicGetTickerPrice()}


@pytest.mark.parametrize("venue, symbols", [
    ("binance", "BTCUSDT ETHUSDT SOLUSDT BTCUSDC ETHUSDC PUMPUSDT USDCUSDT BNBUSDT BNBUSDC"),
    ("binanceus", "BTCUSD ETHUSD SOLUSD BTCUSDT ETHUSDT SOLUSDT BTCUSDC ETHUSDC USDTUSD USDCUSDT BNBUSD BNBUSDT"),
    ("kraken", "BTCEUR ETHEUR SOLEUR BTCUSD ETHUSD SOLUSD BTCUSDT ETHUSDT BTCUSDC USDTEUR USDCEUR USDTUSD USDCUSD "
               "USDCUSDT"),
    ("bitvavo", "BTCEUR ETHEUR SOLEUR USDTEUR USDCEUR"),
    ("onetrading", "BTCEUR ETHEUR SOLEUR BTCUSDT ETHUSDT USDTEUR USDCEUR"),
])
def test_each_venue_trades_only_the_symbols_it_lists(venue, symbols):
    listed = symbols.split()
    with tempfile.TemporaryDirectory() as tmp:
        conn = store.connect(tmp)
        engine, account = engine_with_account(conn, venue, USDT="100000", USDC="100000", EUR="100000", USD="100000")
        assert engine.venue_symbols(venue) == listed
        for name in MARKET.symbols:
            sym = MARKET.symbols[name]
            qty = (Decimal(20) / MARKET.price(name, NOW) / sym.step).quantize(Decimal(1)) * sym.step + sym.step
            params = {"symbol": name, "side": "BUY", "type": "MARKET", "quantity": str(qty)}
            if name in listed:
                assert engine.place_order(account, params, NOW)[0]["status"] == "FILLED"
            else:
                with pytest.raises(BinanceError) as refused:
                    engine.place_order(account, params, NOW)
                assert (refused.value.kind, refused.value.code) == ("unknown_symbol", -1121)
        conn.close()


def test_pairs_of_one_base_asset_share_one_walk_across_quotes():
    for minute in range(0, 3 * 1440 * 60_000, 7_919_000):
        now = NOW + minute
        usd = MARKET.price("BTCUSDT", now)
        assert MARKET.price("BTCUSD", now) == usd
        assert MARKET.price("BTCEUR", now) / usd == pytest.approx(Decimal("0.92"), abs=Decimal("1e-6"))
        assert MARKET.price("SOLEUR", now) / MARKET.price("SOLUSD", now) == pytest.approx(Decimal("0.92"),
                                                                                           abs=Decimal("1e-3"))


@pytest.mark.parametrize("symbol, peg", [("USDCUSDT", 1), ("USDTUSD", 1), ("USDCUSD", 1), ("USDTEUR", 0.92),
                                         ("USDCEUR", 0.92)])
def test_stablecoin_markets_stay_near_their_peg_for_years(symbol, peg):
    daily = MARKET.klines(symbol, "1d", None, NOW, 1000, NOW)
    assert len(daily) == 1000
    assert all(abs(float(k[2]) / peg - 1) < 0.02 and abs(float(k[3]) / peg - 1) < 0.02 for k in daily)


def test_venue_keys_have_the_venues_shapes():
    with tempfile.TemporaryDirectory() as tmp:
        conn = store.connect(tmp)
        made = {venue: store.key_create(conn, store.account_create(conn, {}, venue=venue)) for venue in config.VENUES}
        for venue in ("binance", "binanceus"):
            assert set(made[venue]) == {"api_key", "secret"}
            assert len(made[venue]["secret"]) == 64 and made[venue]["secret"].isalnum()
        assert len(base64.b64decode(made["kraken"]["secret"], validate=True)) == 64
        assert len(made["bitvavo"]["secret"]) == 64 and int(made["bitvavo"]["secret"], 16) >= 0
        assert set(made["onetrading"]) == {"api_key"} and len(made["onetrading"]["api_key"]) >= 64
        row = store.key_get(conn, made["onetrading"]["api_key"])
        assert (row["kind"], row["secret"], row["venue"]) == ("token", None, "onetrading")
        assert store.key_get(conn, made["kraken"]["api_key"], venue="bitvavo") is None
        with pytest.raises(Exception, match="Binance and Binance.US only"):
            store.key_create(conn, store.account_create(conn, {}, venue="kraken"), ed25519=True)
        with pytest.raises(sqlite3.IntegrityError):  # a token key has no secret, every other key has one
            conn.execute("INSERT INTO api_keys (api_key, account_id, kind, secret, can_read, can_trade, can_withdraw,"
                         " created_ms) VALUES ('x', 1, 'hmac', NULL, 1, 1, 0, 0)")
        conn.close()


def test_client_order_ids_of_every_venue_are_stored_and_found():
    """Binance's [a-zA-Z0-9-_]{1,36}, the UUIDs of Bitvavo and One Trading, Kraken's cl_ord_id."""
    with tempfile.TemporaryDirectory() as tmp:
        conn = store.connect(tmp)
        engine, account = engine_with_account(conn, "kraken", EUR="100000")
        for client_id in (str(uuid.uuid4()), "kraken-cl-ord-0001", "A" * 36):
            row, _, _ = engine.place_order(account, {"symbol": "ETHEUR", "side": "BUY", "type": "MARKET",
                                                     "quantity": "0.01", "newClientOrderId": client_id}, NOW)
            # found with its symbol, and without (Kraken looks an order up by cl_ord_id alone)
            assert engine.get_order(account, {"symbol": "ETHEUR", "origClientOrderId": client_id}, NOW)["id"] \
                == row["id"]
            assert engine.find_order(account, None, {"origClientOrderId": client_id}, LookupError())["id"] \
                == row["id"]
        with pytest.raises(LookupError):
            engine.find_order(account, None, {"origClientOrderId": str(uuid.uuid4())}, LookupError())
        conn.close()


def test_rendered_order_and_trade_ids_map_back_to_the_engine_ids():
    for n in (1, 2, 31, 32, 1_000_003, 2**62 - 1):
        assert ids.from_uuid_id(ids.uuid_id(n)) == n
        assert uuid.UUID(ids.uuid_id(n, "trade")).version == 4
        assert ids.from_uuid_id(ids.uuid_id(n, "trade"), "trade") == n
        assert ids.from_uuid_id(ids.uuid_id(n), "trade") is None  # an order id is no trade id
    for n in (1, 32, 123_456_789, 32**16 - 1):
        rendered = ids.kraken_id(n)
        assert len(rendered) == 19 and rendered[0] == "O" and rendered[6] == rendered[12] == "-"
        assert ids.from_kraken_id(rendered) == n
        assert ids.from_kraken_id(ids.kraken_id(n, "T"), "T") == n
    assert ids.kraken_id(1) != ids.kraken_id(2)
    assert ids.from_kraken_id("OQCLML-BW3P1-BUCMWZ") is None  # 1 is not a base-32 digit here
    assert ids.from_uuid_id(str(uuid.uuid4())) is None
    assert ids.from_uuid_id("not-a-uuid") is None


def test_control_endpoint_creates_accounts_of_a_venue_and_refuses_an_unknown_one(paper_exchange):
    account = paper_exchange.create_account(venue="kraken", EUR="500")
    snapshot = paper_exchange.account(account)
    assert snapshot["venue"] == "kraken" and snapshot["balances"]["EUR"]["free"] == "500.00000000"
    key = paper_exchange.create_key(account)
    assert key["venue"] == "kraken"
    assert [k["venue"] for k in paper_exchange.account(account)["keys"]] == ["kraken"]
    with pytest.raises(PaperExchangeError, match="unknown venue 'ftx'"):
        paper_exchange.create_account(venue="ftx", USDT="1")
    assert paper_exchange.account(paper_exchange.create_account(USDT="1"))["venue"] == "binance"


def test_make_ccxt_points_every_api_url_of_a_venue_at_its_prefix():
    kraken = make_ccxt("http://127.0.0.1:9/", "k", base64.b64encode(b"s" * 64).decode(), venue="kraken")
    assert type(kraken) is ccxt.kraken
    assert kraken.urls["api"] == {"public": "http://127.0.0.1:9/kraken", "private": "http://127.0.0.1:9/kraken",
                                  "zendesk": "http://127.0.0.1:9/kraken/api/v2/help_center/en-us/articles"}
    assert make_ccxt("http://127.0.0.1:9", "t", venue="onetrading").urls["api"]["private"] == \
        "http://127.0.0.1:9/onetrading/fast"
    assert make_ccxt("http://127.0.0.1:9", "k", "s", venue="bitvavo").urls["api"]["public"] == \
        "http://127.0.0.1:9/bitvavo"
    us = make_ccxt("http://127.0.0.1:9", "k", "s", venue="binanceus")
    assert all(url.startswith("http://127.0.0.1:9/binanceus") for url in us.urls["api"].values())
    assert us.urls["api"]["sapiV3"] == "http://127.0.0.1:9/binanceus/sapi/v3"
    assert rewrite_urls({"a": {"b": "https://x.example/v1/", "c": 3}}, "http://h/v") == \
        {"a": {"b": "http://h/v/v1", "c": 3}}
    # the platform's positional call still builds Binance at the root
    binance = make_ccxt("http://127.0.0.1:9", "k", "s")
    assert type(binance) is ccxt.binance and binance.urls["api"]["public"] == "http://127.0.0.1:9/api/v3"
    with pytest.raises(ValueError, match="unknown venue"):
        make_ccxt("http://127.0.0.1:9", "k", "s", venue="ftx")


def test_binanceus_needs_the_spot_error_table_merge_too():
    """ccxt picks the spot table by https://api.binance.us/, which a local URL never matches."""
    us = make_ccxt("http://127.0.0.1:9", "k", "s", venue="binanceus")
    with pytest.raises(ccxt.OperationFailed):
        us.handle_errors(503, "", us.urls["api"]["private"] + "/account", "GET", {},
                         '{"code":-1008,"msg":"Server is currently overloaded"}',
                         {"code": -1008, "msg": "Server is currently overloaded"}, {}, None)


OLD_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE accounts (id INTEGER PRIMARY KEY AUTOINCREMENT, created_ms INTEGER NOT NULL);
CREATE TABLE balances (account_id INTEGER NOT NULL REFERENCES accounts(id), asset TEXT NOT NULL,
    free TEXT NOT NULL, locked TEXT NOT NULL, PRIMARY KEY (account_id, asset));
CREATE TABLE api_keys (api_key TEXT PRIMARY KEY, account_id INTEGER NOT NULL REFERENCES accounts(id),
    kind TEXT NOT NULL CHECK (kind IN ('hmac', 'ed25519')), secret TEXT NOT NULL, can_read INTEGER NOT NULL,
    can_trade INTEGER NOT NULL, can_withdraw INTEGER NOT NULL, ips TEXT, symbols TEXT, created_ms INTEGER NOT NULL);
CREATE TABLE orders (id INTEGER PRIMARY KEY AUTOINCREMENT, account_id INTEGER NOT NULL REFERENCES accounts(id),
    symbol TEXT NOT NULL, client_order_id TEXT NOT NULL, side TEXT NOT NULL, type TEXT NOT NULL,
    time_in_force TEXT NOT NULL, price TEXT NOT NULL, orig_qty TEXT NOT NULL, orig_quote_qty TEXT NOT NULL,
    executed_qty TEXT NOT NULL, cum_quote TEXT NOT NULL, status TEXT NOT NULL, lock_asset TEXT,
    lock_amount TEXT NOT NULL, time_ms INTEGER NOT NULL, update_ms INTEGER NOT NULL,
    checked_min INTEGER NOT NULL DEFAULT 0, origin TEXT NOT NULL DEFAULT 'api');
CREATE TABLE trades (id INTEGER PRIMARY KEY AUTOINCREMENT, account_id INTEGER NOT NULL REFERENCES accounts(id),
    symbol TEXT NOT NULL, order_id INTEGER NOT NULL REFERENCES orders(id), price TEXT NOT NULL, qty TEXT NOT NULL,
    quote_qty TEXT NOT NULL, commission TEXT NOT NULL, commission_asset TEXT NOT NULL, time_ms INTEGER NOT NULL,
    is_buyer INTEGER NOT NULL, is_maker INTEGER NOT NULL);
INSERT INTO accounts (id, created_ms) VALUES (1, 1700000000000);
INSERT INTO balances VALUES (1, 'USDT', '250', '0');
INSERT INTO api_keys VALUES ('OLDKEY0123456789', 1, 'hmac', 'OLDSECRET0123456789', 1, 1, 0, NULL, NULL, 1700000000000);
"""


def test_a_data_dir_from_before_venues_is_migrated_and_its_keys_keep_working(tmp_path):
    data = tmp_path / "old"
    data.mkdir()
    old = sqlite3.connect(data / store.DB_NAME)
    old.executescript(OLD_SCHEMA)
    old.close()
    server = PaperExchange(data)
    server.start()
    try:
        exchange = server.ccxt({"api_key": "OLDKEY0123456789", "secret": "OLDSECRET0123456789"})
        assert exchange.fetch_balance()["USDT"]["free"] == 250
        exchange.load_markets()
        assert exchange.create_order("BTC/USDT", "market", "buy", 0.0001)["fee"]["currency"] == "BTC"
        assert server.account(1)["venue"] == "binance"
        assert server.account(1)["bnb_fees"] is False  # accounts made before BNB fees pay as they did
        server.set_bnb_fees(1, True)
        assert exchange.create_order("BTC/USDT", "market", "buy", 0.0001)["fee"]["currency"] == "BTC"  # no BNB
        with pytest.raises(ccxt.AuthenticationError):
            server.ccxt({"api_key": "OLDKEY0123456789", "secret": "OLDSECRET0123456789"},
                        venue="binanceus").fetch_balance()
        token = server.create_key(server.create_account(venue="onetrading"))
        assert set(token) == {"api_key", "venue"}
    finally:
        server.stop()
    conn = store.connect(data)  # opening again changes nothing
    assert conn.execute("SELECT venue FROM accounts WHERE id = 1").fetchone()[0] == "binance"
    assert conn.execute("SELECT fee_asset FROM orders").fetchone()[0] == "received"
    assert conn.execute("SELECT bnb_fees FROM accounts WHERE id = 1").fetchone()[0] == 1
    assert {tuple(r) for r in conn.execute("SELECT credit_asset, credit, credit_covers FROM trades")} == {
        (None, "0", "0")}
    conn.close()


def test_config_file_can_change_a_venues_symbols_and_fee_asset(tmp_path):
    path = tmp_path / "paper.json"
    path.write_text(json.dumps({"venues": {"bitvavo": {"symbols": ["BTCEUR"]}}}))
    cfg = config.load(str(path), environ={})
    assert cfg["venues"]["bitvavo"] == {"symbols": ["BTCEUR"], "fee_asset": "quote"}
    assert cfg["venues"]["kraken"] == config.DEFAULT_VENUES["kraken"]
    path.write_text(json.dumps({"venues": {"bitvavo": {"symbols": ["DOGEEUR"]}}}))
    with pytest.raises(Exception, match="venues.bitvavo lists unknown symbol"):
        config.load(str(path), environ={})
    path.write_text(json.dumps({"venues": {"ftx": {"symbols": []}}}))
    with pytest.raises(Exception, match="unknown venue"):
        config.load(str(path), environ={})
    path.write_text(json.dumps({"venues": {"kraken": {"fee_asset": "base"}}}))
    with pytest.raises(Exception, match="fee_asset must be one of"):
        config.load(str(path), environ={})
    # a market of one's own making, without venues: every venue lists all of it
    path.write_text(json.dumps({"symbols": [{**config.DEFAULT_SYMBOLS[0], "symbol": "C00USDT", "base": "C00"}]}))
    assert config.load(str(path), environ={})["venues"]["binance"]["symbols"] == ["C00USDT"]


def test_a_path_no_venue_serves_answers_404(paper_exchange):
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(paper_exchange.url + "/coinbase/api/v3/time")
    assert missing.value.code == 404

