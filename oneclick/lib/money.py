"""Money helpers: exact Decimals from whatever an exchange or a form hands us."""

from decimal import Decimal, InvalidOperation


def to_decimal(value, default=None):
    """Decimal from a Decimal, int, str or float (floats through their shortest repr)."""
    if value is None or value == "":
        return default
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return default
