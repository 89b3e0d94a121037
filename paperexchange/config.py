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

DEFAULT_SYMBOLS = [
    # price: the level the walk is anchored to; vol: yearly volatility;
    # volume: base units traded per minute on average; spread in basis points.
    {"symbol": "BTCUSDT", "base": "BTC", "quote": "USDT", "price": "90000", "tick": "0.01",
     "step": "0.00001", "max_qty": "9000", "market_max_qty": "118.43", "min_notional": "5",
     "vol": 0.55, "volume": "14", "spread_bps": 0.1},
    {"symbol": "ETHUSDT", "base": "ETH", "quote": "USDT", "price": "3000", "tick": "0.01",
     "step": "0.0001", "max_qty": "9000", "market_max_qty": "2498.73", "min_notional": "5",
     "vol": 0.7, "volume": "260", "spread_bps": 0.3},
    {"symbol": "SOLUSDT", "base": "SOL", "quote": "USDT", "price": "140", "tick": "0.01",
     "step": "0.001", "max_qty": "9000", "market_max_qty": "31420.65", "min_notional": "5",
     "vol": 0.9, "volume": "1900", "spread_bps": 0.7},
    {"symbol": "BTCUSDC", "base": "BTC", "quote": "USDC", "price": "90000", "tick": "0.01",
     "step": "0.00001", "max_qty": "9000", "market_max_qty": "41.20", "min_notional": "5",
     "vol": 0.55, "volume": "3", "spread_bps": 0.2},
    {"symbol": "ETHUSDC", "base": "ETH", "quote": "USDC", "price": "3000", "tick": "0.01",
     "step": "0.0001", "max_qty": "9000", "market_max_qty": "806.37", "min_notional": "5",
     "vol": 0.7, "volume": "55", "spread_bps": 0.4},
    # The thin, illiquid token: a few dollars a minute, a wide spread.
    {"symbol": "PUMPUSDT", "base": "PUMP", "quote": "USDT", "price": "0.004", "tick": "0.000001",
     "step": "1", "max_qty": "900000000", "market_max_qty": "2500000", "min_notional": "5",
     "vol": 2.5, "volume": "900", "spread_bps": 250},
]

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
        config = _merge(config, _read_file(Path(path)))
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
        if isinstance(value, dict) and isinstance(out.get(key), dict):
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
        if spec["symbol"] in seen:
            raise ControlError(f"symbol {spec['symbol']} listed twice")
        seen.add(spec["symbol"])
