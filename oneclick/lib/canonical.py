"""Canonical JSON: one byte string per value, so a signature can be checked anywhere.

Rules (anyone can re-implement them in a few lines):
- UTF-8 JSON, keys sorted, no whitespace (``separators=(",", ":")``);
- ``Decimal`` values as strings in plain fixed-point notation without trailing
  zeros (``Decimal("0.2500")`` -> ``"0.25"``, ``Decimal("1E+2")`` -> ``"100"``);
- ``datetime`` values as UTC ISO 8601 strings ending in ``Z``, to the second,
  with microseconds only when they are not zero
  (``2026-01-01T04:00:00Z``); naive datetimes are refused;
- strings, integers, booleans, ``None``, lists and dicts (string keys) as JSON;
- floats are refused: their decimal form is not unique across languages.
"""

import json
from datetime import UTC, datetime
from decimal import Decimal


def decimal_text(value: Decimal) -> str:
    """A Decimal in plain notation without trailing zeros; ``-0`` is ``0``."""
    if not value.is_finite():
        raise ValueError("Only finite decimals can be encoded.")
    text = format(value.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    return text


def time_text(value: datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("Naive datetimes cannot be encoded: give a timezone.")
    value = value.astimezone(UTC)
    spec = "microseconds" if value.microsecond else "seconds"
    return value.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def _prepare(value):
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, datetime):
        return time_text(value)
    if isinstance(value, float):
        raise TypeError("Floats have no canonical form: use Decimal.")
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError("Only string keys can be encoded.")
            out[key] = _prepare(item)
        return out
    if isinstance(value, (list, tuple)):
        return [_prepare(item) for item in value]
    raise TypeError(f"Cannot encode {type(value).__name__} canonically.")


def canonical_bytes(value) -> bytes:
    """The canonical encoding of ``value`` (see the module's rules)."""
    return json.dumps(_prepare(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def canonical_text(value) -> str:
    return canonical_bytes(value).decode("utf-8")
