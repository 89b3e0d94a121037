"""State on disk: one SQLite file shared by the server and the CLI.

The server and the CLI open their own connections; WAL mode lets the CLI add
an account or a key while the server runs, and the server reads keys from the
database on every signed request, so it sees them at once.

Every account belongs to one venue (``accounts.venue``); its keys inherit it.
An account of a venue where paying fees in BNB is a setting (fees.py) keeps it
in ``accounts.bnb_fees``. A trade keeps the commission the venue reports on it
(``commission``, ``commission_asset``) and, when fee credits paid for part or
all of it (Kraken's KFEE), what they cost (``credit`` of ``credit_asset``) and
the part of the commission they paid (``credit_covers``, in
``commission_asset``): the account was charged ``commission - credit_covers``.

A data directory made by an older version is migrated when it is opened: its
accounts are Binance accounts without BNB fees, its orders pay their fee in the
asset received, its trades were paid without credits.
"""

import base64
import os
import secrets
import sqlite3
import string
import time
from decimal import Decimal
from pathlib import Path

from .config import DEFAULT_VENUE, venue_name
from .errors import ControlError
from .fees import BNB_FEE_VENUES

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_ms INTEGER NOT NULL,
    venue TEXT NOT NULL DEFAULT 'binance',
    bnb_fees INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS balances (
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    asset TEXT NOT NULL,
    free TEXT NOT NULL,
    locked TEXT NOT NULL,
    PRIMARY KEY (account_id, asset)
);
CREATE TABLE IF NOT EXISTS api_keys (
    api_key TEXT PRIMARY KEY,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    kind TEXT NOT NULL CHECK (kind IN ('hmac', 'ed25519', 'token')),
    secret TEXT CHECK ((kind = 'token') = (secret IS NULL)),
    can_read INTEGER NOT NULL,
    can_trade INTEGER NOT NULL,
    can_withdraw INTEGER NOT NULL,
    ips TEXT,
    symbols TEXT,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    symbol TEXT NOT NULL,
    client_order_id TEXT NOT NULL,
    side TEXT NOT NULL,
    type TEXT NOT NULL,
    time_in_force TEXT NOT NULL,
    price TEXT NOT NULL,
    orig_qty TEXT NOT NULL,
    orig_quote_qty TEXT NOT NULL,
    executed_qty TEXT NOT NULL,
    cum_quote TEXT NOT NULL,
    status TEXT NOT NULL,
    lock_asset TEXT,
    lock_amount TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    update_ms INTEGER NOT NULL,
    checked_min INTEGER NOT NULL DEFAULT 0,
    origin TEXT NOT NULL DEFAULT 'api',
    fee_asset TEXT NOT NULL DEFAULT 'received' CHECK (fee_asset IN ('received', 'quote'))
);
CREATE INDEX IF NOT EXISTS orders_account_symbol ON orders (account_id, symbol, id);
CREATE INDEX IF NOT EXISTS orders_client_id ON orders (account_id, client_order_id);
CREATE INDEX IF NOT EXISTS orders_open ON orders (account_id) WHERE status = 'NEW';
CREATE TABLE IF NOT EXISTS trades (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account_id INTEGER NOT NULL REFERENCES accounts(id),
    symbol TEXT NOT NULL,
    order_id INTEGER NOT NULL REFERENCES orders(id),
    price TEXT NOT NULL,
    qty TEXT NOT NULL,
    quote_qty TEXT NOT NULL,
    commission TEXT NOT NULL,
    commission_asset TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    is_buyer INTEGER NOT NULL,
    is_maker INTEGER NOT NULL,
    credit_asset TEXT,
    credit TEXT NOT NULL DEFAULT '0',
    credit_covers TEXT NOT NULL DEFAULT '0'
);
CREATE INDEX IF NOT EXISTS trades_account_symbol ON trades (account_id, symbol, id);
CREATE INDEX IF NOT EXISTS trades_order ON trades (order_id);
"""

DB_NAME = "paperexchange.sqlite3"
KEY_ALPHABET = string.ascii_letters + string.digits


def now_ms():
    return int(time.time() * 1000)


def connect(data_dir) -> sqlite3.Connection:
    path = Path(data_dir)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    database = path / DB_NAME
    if not database.exists():
        # API secrets are stored here in the clear: readable by the owner only (its journal files follow its mode).
        os.close(os.open(database, os.O_CREAT | os.O_WRONLY, 0o600))
    database.chmod(0o600)
    conn = sqlite3.connect(database, isolation_level=None, check_same_thread=False, timeout=10)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.executescript(SCHEMA)
    migrate(conn)
    return conn


def _columns(conn, table):
    return {row["name"] for row in conn.execute(f"PRAGMA table_info({table})")}


def migrate(conn):
    """Bring a data directory made by an older version to the current schema (idempotent)."""
    if "venue" not in _columns(conn, "accounts"):
        conn.execute("ALTER TABLE accounts ADD COLUMN venue TEXT NOT NULL DEFAULT 'binance'")
    if "bnb_fees" not in _columns(conn, "accounts"):
        conn.execute("ALTER TABLE accounts ADD COLUMN bnb_fees INTEGER NOT NULL DEFAULT 0")
    trade_columns = _columns(conn, "trades")
    for column, spec in (("credit_asset", "TEXT"), ("credit", "TEXT NOT NULL DEFAULT '0'"),
                         ("credit_covers", "TEXT NOT NULL DEFAULT '0'")):
        if column not in trade_columns:
            conn.execute(f"ALTER TABLE trades ADD COLUMN {column} {spec}")
    if "fee_asset" not in _columns(conn, "orders"):
        conn.execute("ALTER TABLE orders ADD COLUMN fee_asset TEXT NOT NULL DEFAULT 'received'"
                     " CHECK (fee_asset IN ('received', 'quote'))")
    keys_sql = conn.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'api_keys'").fetchone()[0]
    if "'token'" not in keys_sql:
        # SQLite cannot change a CHECK constraint in place: copy the keys into the new shape
        new_table = SCHEMA[SCHEMA.index("CREATE TABLE IF NOT EXISTS api_keys"):]
        new_table = new_table[:new_table.index(");") + 2].replace("IF NOT EXISTS api_keys", "api_keys_new")
        with transaction(conn):
            conn.execute(new_table)
            conn.execute("INSERT INTO api_keys_new SELECT api_key, account_id, kind, secret, can_read, can_trade,"
                         " can_withdraw, ips, symbols, created_ms FROM api_keys")
            conn.execute("DROP TABLE api_keys")
            conn.execute("ALTER TABLE api_keys_new RENAME TO api_keys")


class transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any error."""

    def __init__(self, conn):
        self.conn = conn

    def __enter__(self):
        self.conn.execute("BEGIN IMMEDIATE")
        return self.conn

    def __exit__(self, exc_type, exc, tb):
        self.conn.execute("ROLLBACK" if exc_type else "COMMIT")
        return False


def meta_get(conn, key, default=None):
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return row["value"] if row else default


def meta_set(conn, key, value):
    conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                 (key, str(value)))


def parse_balances(items):
    """``["USDT=10000", "BTC=0.25"]`` or a dict -> {asset: Decimal}."""
    out = {}
    pairs = items.items() if isinstance(items, dict) else (_split_balance(i) for i in items)
    for asset, amount in pairs:
        asset = str(asset).strip().upper()
        if not asset.isalnum() or len(asset) > 20:
            raise ControlError(f"bad asset name {asset!r}")
        try:
            value = Decimal(str(amount))
        except ArithmeticError:
            raise ControlError(f"bad amount {amount!r} for {asset}") from None
        if not value.is_finite() or value < 0 or value != value.quantize(Decimal("1e-8")):
            raise ControlError(f"amount for {asset} must be a non-negative number with at most 8 decimals")
        out[asset] = out.get(asset, Decimal(0)) + value
    return out


def _split_balance(item):
    if "=" not in item:
        raise ControlError(f"balance {item!r} must look like ASSET=AMOUNT, e.g. USDT=10000")
    asset, amount = item.split("=", 1)
    return asset, amount


def _bnb_fees(venue, on):
    if not isinstance(on, bool):
        raise ControlError(f"bnb_fees must be true or false, got {on!r}")
    if on and venue not in BNB_FEE_VENUES:
        raise ControlError(f"paying fees in BNB is a setting on {' and '.join(BNB_FEE_VENUES)} only, not on {venue}")
    return int(on)


def account_create(conn, balances, venue=DEFAULT_VENUE, bnb_fees=False) -> int:
    """A new account of ``venue`` with ``balances``; ``bnb_fees``: pay fees in BNB (Binance venues)."""
    balances = parse_balances(balances)
    venue = venue_name(venue)
    bnb_fees = _bnb_fees(venue, bnb_fees)
    with transaction(conn):
        cur = conn.execute("INSERT INTO accounts (created_ms, venue, bnb_fees) VALUES (?, ?, ?)",
                           (now_ms(), venue, bnb_fees))
        account_id = cur.lastrowid
        for asset, amount in balances.items():
            conn.execute("INSERT INTO balances (account_id, asset, free, locked) VALUES (?, ?, ?, '0')",
                         (account_id, asset, str(amount)))
    return account_id


def account_exists(conn, account_id) -> bool:
    return conn.execute("SELECT 1 FROM accounts WHERE id = ?", (account_id,)).fetchone() is not None


def account_venue(conn, account_id):
    row = conn.execute("SELECT venue FROM accounts WHERE id = ?", (account_id,)).fetchone()
    return row["venue"] if row else None


def account_bnb_fees(conn, account_id) -> bool:
    """Whether the account pays its fees in BNB (Binance's ``spotBNBBurn``)."""
    row = conn.execute("SELECT bnb_fees FROM accounts WHERE id = ?", (account_id,)).fetchone()
    return bool(row and row["bnb_fees"])


def account_set_bnb_fees(conn, account_id, on) -> bool:
    """Switch paying fees in BNB on or off; the next fill follows it."""
    account_id = _require_account(conn, account_id)
    value = _bnb_fees(account_venue(conn, account_id), on)
    with transaction(conn):
        conn.execute("UPDATE accounts SET bnb_fees = ? WHERE id = ?", (value, account_id))
    return bool(value)


def _require_account(conn, account_id):
    try:
        account_id = int(account_id)
    except (TypeError, ValueError):
        raise ControlError(f"account id must be a number, got {account_id!r}") from None
    if not account_exists(conn, account_id):
        raise ControlError(f"no account {account_id}")
    return account_id


def _norm_ips(ips):
    if not ips:
        return None
    import ipaddress

    out = []
    for ip in ips:
        for part in str(ip).split(","):
            part = part.strip()
            if not part:
                continue
            try:
                out.append(str(ipaddress.ip_address(part)))
            except ValueError:
                raise ControlError(f"bad IP address {part!r}") from None
    return ",".join(out) or None


def _norm_symbols(symbols, known=None):
    if not symbols:
        return None
    items = symbols.split(",") if isinstance(symbols, str) else [s for x in symbols for s in str(x).split(",")]
    out = []
    for sym in items:
        sym = sym.strip().upper().replace("/", "")
        if not sym:
            continue
        if known is not None and sym not in known:
            raise ControlError(f"unknown symbol {sym!r} (known: {', '.join(sorted(known))})")
        out.append(sym)
    return ",".join(out) or None


def _random(alphabet, n):
    return "".join(secrets.choice(alphabet) for _ in range(n))


def _hmac_credentials(venue):
    """(api key, secret) in the shape the venue hands out, which its ccxt class expects.

    Binance and Binance.US: 64 letters and digits each. Kraken: a base64 key
    and a base64 secret (ccxt decodes it before signing). Bitvavo: 64 hex
    characters each.
    """
    if venue == "kraken":
        return base64.b64encode(secrets.token_bytes(42)).decode(), base64.b64encode(secrets.token_bytes(64)).decode()
    if venue == "bitvavo":
        return secrets.token_hex(32), secrets.token_hex(32)
    return _random(KEY_ALPHABET, 64), _random(KEY_ALPHABET, 64)


def key_create(conn, account_id, *, ed25519=False, can_withdraw=False, trade=True, ips=None, symbols=None,
               known_symbols=None):
    """A new key of the account's venue: ``{"api_key", "secret"}``, ``{"api_key", "private_key"}`` (Ed25519,
    Binance venues only) or ``{"api_key"}`` alone (One Trading: the key is a bearer token, there is no secret)."""
    account_id = _require_account(conn, account_id)
    venue = account_venue(conn, account_id)
    if ed25519 and venue not in ("binance", "binanceus"):
        raise ControlError(f"Ed25519 keys exist on Binance and Binance.US only, not on {venue}")
    if ed25519:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

        api_key = _random(KEY_ALPHABET, 64)
        private = Ed25519PrivateKey.generate()
        stored = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw).hex()
        result = {"api_key": api_key, "private_key": private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()}
        kind = "ed25519"
    elif venue == "onetrading":
        api_key, stored, kind = secrets.token_urlsafe(96), None, "token"
        result = {"api_key": api_key}
    else:
        api_key, stored = _hmac_credentials(venue)
        result = {"api_key": api_key, "secret": stored}
        kind = "hmac"
    with transaction(conn):
        conn.execute(
            "INSERT INTO api_keys (api_key, account_id, kind, secret, can_read, can_trade, can_withdraw, ips, symbols,"
            " created_ms) VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?)",
            (api_key, account_id, kind, stored, int(bool(trade)), int(bool(can_withdraw)), _norm_ips(ips),
             _norm_symbols(symbols, known_symbols), now_ms()))
    return result


def key_get(conn, api_key, venue=None):
    """The key row (with its account's ``venue``); None if unknown or, given ``venue``, of another venue."""
    row = conn.execute("SELECT k.*, a.venue FROM api_keys k JOIN accounts a ON a.id = k.account_id"
                       " WHERE k.api_key = ?", (api_key,)).fetchone()
    if row is None or (venue is not None and row["venue"] != venue):
        return None
    return row


def key_update(conn, api_key, *, can_withdraw=None, trade=None, read=None, ips=None, clear_ips=False,
               symbols=None, clear_symbols=False, known_symbols=None):
    if key_get(conn, api_key) is None:
        raise ControlError("no such API key")
    changes = {}
    if can_withdraw is not None:
        changes["can_withdraw"] = int(bool(can_withdraw))
    if trade is not None:
        changes["can_trade"] = int(bool(trade))
    if read is not None:
        changes["can_read"] = int(bool(read))
    if clear_ips:
        changes["ips"] = None
    elif ips:
        changes["ips"] = _norm_ips(ips)
    if clear_symbols:
        changes["symbols"] = None
    elif symbols:
        changes["symbols"] = _norm_symbols(symbols, known_symbols)
    if not changes:
        raise ControlError("nothing to change: give a permission, --ip, --symbols, --no-ip or --all-symbols")
    with transaction(conn):
        conn.execute(f"UPDATE api_keys SET {', '.join(f'{k} = ?' for k in changes)} WHERE api_key = ?",
                     (*changes.values(), api_key))
    return key_describe(key_get(conn, api_key))


def key_delete(conn, api_key):
    with transaction(conn):
        cur = conn.execute("DELETE FROM api_keys WHERE api_key = ?", (api_key,))
    if cur.rowcount == 0:
        raise ControlError("no such API key")


def key_describe(row):
    """A key's permissions, never its secret."""
    return {
        "api_key": row["api_key"], "account": row["account_id"], "venue": row["venue"], "type": row["kind"].upper(),
        "enableReading": bool(row["can_read"]), "enableSpotAndMarginTrading": bool(row["can_trade"]),
        "enableWithdrawals": bool(row["can_withdraw"]),
        "ips": row["ips"].split(",") if row["ips"] else [],
        "symbols": row["symbols"].split(",") if row["symbols"] else [],
    }


def keys_of_account(conn, account_id):
    return [key_describe(r) for r in conn.execute(
        "SELECT k.*, a.venue FROM api_keys k JOIN accounts a ON a.id = k.account_id WHERE k.account_id = ?"
        " ORDER BY k.created_ms", (account_id,))]


def balances_of(conn, account_id):
    return {r["asset"]: (Decimal(r["free"]), Decimal(r["locked"]))
            for r in conn.execute("SELECT asset, free, locked FROM balances WHERE account_id = ?", (account_id,))}
