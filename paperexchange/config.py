"""Configuration: defaults, a JSON or TOML file, and a few environment overrides.

The environment is read here and in the CLI entry point only.
"""

import copy
import json
import os
import tomllib
from decimal import Decimal
from pathlib import Path

from .errors import ControlError

DEFAULT_PORT = 8100
DEFAULT_DATA_DIR = "var/paperexchange"
DEFAULT_SEED = 42

# Binance's published spot limits (REQUEST_WEIGHT per minute per IP, ORDERS per
# 10 seconds and per day per account), today's and the older set.
RATE_LIMIT_PRESETS = {
    "current": {"weight_per_minute": 6000, "orders_per_10s": 100, "orders_per_day": 200000},
    "legacy": {"weight_per_minute": 1200, "orders_per_10s": 50, "orders_per_day": 160000},
}

def _eur(price):
    """A EUR price from a USD one (EUR ~ USD x 0.92), to the cent."""
    return str((Decimal(price) * Decimal("0.92")).quantize(Decimal("0.01")))


def _major(symbol, base, quote, price, **spec):
    return {"symbol": symbol, "base": base, "quote": quote, "price": price, "min_notional": "5", **spec}


BTC = {"tick": "0.01", "step": "0.00001", "max_qty": "9000", "vol": 0.55, "spread_bps": 0.1}
ETH = {"tick": "0.01", "step": "0.0001", "max_qty": "9000", "vol": 0.7, "spread_bps": 0.3}
SOL = {"tick": "0.01", "step": "0.001", "max_qty": "9000", "vol": 0.9, "spread_bps": 0.7}
BNB = {"tick": "0.01", "step": "0.001", "max_qty": "9000", "vol": 0.6, "spread_bps": 0.2}
# Stablecoins near their peg: a tiny volatility and no jumps. Pairs of one base
# share one walk, so every market of a base asset needs the same vol and jumps.
STABLE = {"tick": "0.0001", "step": "1", "max_qty": "9000000", "market_max_qty": "2000000", "vol": 0.003,
          "jumps_per_day": 0, "spread_bps": 1}

DEFAULT_SYMBOLS = [
    # price: the level the walk is anchored to; vol: yearly volatility;
    # volume: base units traded per minute on average; spread in basis points;
    # optional max_num_orders: open orders an account may hold on the symbol (default 200).
    # Pairs of one base asset share one walk (``walk``, default the base), so
    # BTCEUR is BTCUSDT x (82800 / 90000) at every minute.
    _major("BTCUSDT", "BTC", "USDT", "90000", **BTC, market_max_qty="118.43", volume="14"),
    _major("ETHUSDT", "ETH", "USDT", "3000", **ETH, market_max_qty="2498.73", volume="260"),
    _major("SOLUSDT", "SOL", "USDT", "140", **SOL, market_max_qty="31420.65", volume="1900"),
    _major("BTCUSDC", "BTC", "USDC", "90000", **{**BTC, "spread_bps": 0.2}, market_max_qty="41.20", volume="3"),
    _major("ETHUSDC", "ETH", "USDC", "3000", **{**ETH, "spread_bps": 0.4}, market_max_qty="806.37", volume="55"),
    # BNB, in which Binance accounts may pay their fees (fees.py). No BNB/BTC: a pair's walk is its base's, so
    # BNB/BTC would ignore BTC's moves and drift away from BNB/USDT / BTC/USDT.
    _major("BNBUSDT", "BNB", "USDT", "600", **BNB, market_max_qty="1500", volume="300"),
    _major("BNBUSDC", "BNB", "USDC", "600", **{**BNB, "spread_bps": 0.4}, market_max_qty="400", volume="40"),
    # The thin, illiquid token: a few dollars a minute, a wide spread.
    {"symbol": "PUMPUSDT", "base": "PUMP", "quote": "USDT", "price": "0.004", "tick": "0.000001",
     "step": "1", "max_qty": "900000000", "market_max_qty": "2500000", "min_notional": "5",
     "vol": 2.5, "volume": "900", "spread_bps": 250},
    # US dollar markets (Binance.US, Kraken)
    _major("BTCUSD", "BTC", "USD", "90000", **{**BTC, "spread_bps": 0.5}, market_max_qty="20", volume="2"),
    _major("ETHUSD", "ETH", "USD", "3000", **{**ETH, "spread_bps": 0.8}, market_max_qty="400", volume="30"),
    _major("SOLUSD", "SOL", "USD", "140", **{**SOL, "spread_bps": 1.5}, market_max_qty="5000", volume="200"),
    _major("BNBUSD", "BNB", "USD", "600", **{**BNB, "spread_bps": 1.5}, market_max_qty="200", volume="5"),
    # euro markets (Kraken, Bitvavo, One Trading)
    _major("BTCEUR", "BTC", "EUR", _eur("90000"), **{**BTC, "spread_bps": 0.5}, market_max_qty="30", volume="3"),
    _major("ETHEUR", "ETH", "EUR", _eur("3000"), **{**ETH, "spread_bps": 0.8}, market_max_qty="600", volume="40"),
    _major("SOLEUR", "SOL", "EUR", _eur("140"), **{**SOL, "spread_bps": 1.5}, market_max_qty="8000", volume="300"),
    # stablecoin markets
    _major("USDCUSDT", "USDC", "USDT", "1", **STABLE, volume="200000"),
    _major("USDCUSD", "USDC", "USD", "1", **STABLE, volume="20000"),
    _major("USDCEUR", "USDC", "EUR", "0.92", **STABLE, volume="20000"),
    _major("USDTUSD", "USDT", "USD", "1", **STABLE, volume="50000"),
    _major("USDTEUR", "USDT", "EUR", "0.92", **STABLE, volume="50000"),
]

# The venues one server speaks for. Every account belongs to exactly one; a
# venue lists a subset of the symbols above, like the real one, and charges its
# fee in the asset received ("received") or always in the quote asset ("quote").
VENUES = ("binance", "binanceus", "kraken", "bitvavo", "onetrading")
DEFAULT_VENUE = "binance"
FEE_ASSETS = ("received", "quote")

DEFAULT_VENUES = {
    "binance": {"symbols": ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BTCUSDC", "ETHUSDC", "PUMPUSDT", "USDCUSDT", "BNBUSDT",
                            "BNBUSDC"],
                "fee_asset": "received"},
    "binanceus": {"symbols": ["BTCUSD", "ETHUSD", "SOLUSD", "BTCUSDT", "ETHUSDT", "SOLUSDT", "BTCUSDC", "ETHUSDC",
                              "USDTUSD", "USDCUSDT", "BNBUSD", "BNBUSDT"],
                  "fee_asset": "received"},
    "kraken": {"symbols": ["BTCEUR", "ETHEUR", "SOLEUR", "BTCUSD", "ETHUSD", "SOLUSD", "BTCUSDT", "ETHUSDT", "BTCUSDC",
                           "USDTEUR", "USDCEUR", "USDTUSD", "USDCUSD", "USDCUSDT"],
               "fee_asset": "quote"},
    "bitvavo": {"symbols": ["BTCEUR", "ETHEUR", "SOLEUR", "USDTEUR", "USDCEUR"], "fee_asset": "quote"},
    "onetrading": {"symbols": ["BTCEUR", "ETHEUR", "SOLEUR", "BTCUSDT", "ETHUSDT", "USDTEUR", "USDCEUR"],
                   "fee_asset": "received"},
}

DEFAULTS = {
    "seed": None,
    "fee_rate": "0.001",
    "slippage_bps": 1,
    "drift": 0.0,
    "jumps_per_day": 0.3,
    "jump_size": 0.02,
    "rate_limits": {
        "preset": "current",
        "ban_after_429s": 10,
        "ban_seconds": 120,
        "ban_max_seconds": 259200,
    },
    "symbols": DEFAULT_SYMBOLS,
    "venues": DEFAULT_VENUES,
}

ENV_LIMITS = {
    "PAPEREXCHANGE_WEIGHT_PER_MINUTE": "weight_per_minute",
    "PAPEREXCHANGE_ORDERS_PER_10S": "orders_per_10s",
    "PAPEREXCHANGE_ORDERS_PER_DAY": "orders_per_day",
    "PAPEREXCHANGE_BAN_AFTER_429S": "ban_after_429s",
    "PAPEREXCHANGE_BAN_SECONDS": "ban_seconds",
    "PAPEREXCHANGE_BAN_MAX_SECONDS": "ban_max_seconds",
}


def data_dir(arg=None):
    return Path(arg or os.environ.get("PAPEREXCHANGE_DATA") or DEFAULT_DATA_DIR)


def control_token_from_env():
    return os.environ.get("PAPEREXCHANGE_CONTROL_TOKEN") or None


def load(path=None, environ=None):
    """The effective configuration: defaults, then the file, then the environment."""
    environ = os.environ if environ is None else environ
    config = copy.deepcopy(DEFAULTS)
    path = path or environ.get("PAPEREXCHANGE_CONFIG")
    if path:
        from_file = _read_file(Path(path))
        config = _merge(config, from_file)
        if "symbols" in from_file and "venues" not in from_file:
            # a market of one's own making: every venue lists all of it
            names = [spec.get("symbol") for spec in config["symbols"]]
            config["venues"] = {venue: {**spec, "symbols": names} for venue, spec in config["venues"].items()}
    limits = config["rate_limits"]
    preset = environ.get("PAPEREXCHANGE_RATE_LIMIT_PRESET") or limits.get("preset", "current")
    if preset not in RATE_LIMIT_PRESETS:
        raise ControlError(f"unknown rate limit preset {preset!r} (use one of {', '.join(RATE_LIMIT_PRESETS)})")
    config["rate_limits"] = {**RATE_LIMIT_PRESETS[preset], **{k: v for k, v in limits.items() if k != "preset"}}
    config["rate_limits"]["preset"] = preset
    for env_name, key in ENV_LIMITS.items():
        if environ.get(env_name):
            try:
                config["rate_limits"][key] = float(environ[env_name]) if key == "ban_seconds" else int(environ[env_name])
            except ValueError:
                raise ControlError(f"{env_name} must be a number") from None
    validate(config)
    return config


def _read_file(path):
    try:
        text = path.read_text()
    except OSError as exc:
        raise ControlError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        if path.suffix == ".toml":
            return tomllib.loads(text)
        return json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise ControlError(f"config file {path} is not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: {exc}") from None


def _merge(base, override):
    if not isinstance(override, dict):
        raise ControlError("config file must hold a table/object at the top level")
    out = dict(base)
    for key, value in override.items():
        if key not in DEFAULTS:
            raise ControlError(f"unknown config key {key!r}")
        if key == "venues" and isinstance(value, dict):
            unknown = set(value) - set(VENUES)
            if unknown:
                raise ControlError(f"unknown venue(s) {', '.join(sorted(unknown))} (use {', '.join(VENUES)})")
            out[key] = {venue: {**out[key][venue], **(value.get(venue) or {})} for venue in VENUES}
        elif isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def validate(config):
    limits = config["rate_limits"]
    for key in ("weight_per_minute", "orders_per_10s", "orders_per_day", "ban_after_429s"):
        if not isinstance(limits.get(key), int) or limits[key] < 1:
            raise ControlError(f"rate_limits.{key} must be a positive integer")
    if float(limits["ban_seconds"]) <= 0:
        raise ControlError("rate_limits.ban_seconds must be positive")
    try:
        fee = Decimal(str(config["fee_rate"]))
    except ArithmeticError:
        raise ControlError("fee_rate must be a decimal number") from None
    if not Decimal(0) <= fee < Decimal("0.1"):
        raise ControlError("fee_rate must be between 0 and 0.1")
    seen = set()
    for spec in config["symbols"]:
        for key in ("symbol", "base", "quote", "price", "tick", "step", "max_qty", "market_max_qty", "min_notional", "volume"):
            if key not in spec:
                raise ControlError(f"symbol entry {spec.get('symbol', '?')} lacks {key!r}")
        max_orders = spec.get("max_num_orders", 200)
        if not isinstance(max_orders, int) or isinstance(max_orders, bool) or max_orders < 1:
            raise ControlError(f"symbol entry {spec['symbol']}: max_num_orders must be a positive integer")
        if spec["symbol"] in seen:
            raise ControlError(f"symbol {spec['symbol']} listed twice")
        seen.add(spec["symbol"])
    for venue in VENUES:
        spec = config["venues"].get(venue)
        if not isinstance(spec, dict) or not isinstance(spec.get("symbols"), list):
            raise ControlError(f"venues.{venue}.symbols must be a list of symbols")
        missing = [s for s in spec["symbols"] if s not in seen]
        if missing:
            raise ControlError(f"venues.{venue} lists unknown symbol(s): {', '.join(map(str, missing))}")
        if spec.get("fee_asset") not in FEE_ASSETS:
            raise ControlError(f"venues.{venue}.fee_asset must be one of {', '.join(FEE_ASSETS)}")


def venue_name(value):
    """A venue name from user input, or a ControlError naming the known ones."""
    venue = str(value or DEFAULT_VENUE).strip().lower()
    if venue not in VENUES:
        raise ControlError(f"unknown venue {value!r} (use one of {', '.join(VENUES)})")
    return venue
