"""Number formats for the bot pages: presentation only."""

from decimal import Decimal, InvalidOperation

from django import template

register = template.Library()
DASH = "–"


def _decimal(value):
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


@register.filter
def qty(value):
    """A quantity or price as the exchange gave it: no trailing zeros, no exponent."""
    d = _decimal(value)
    if d is None:
        return DASH
    return format(d.normalize(), "f") if d else "0"


@register.filter
def money(value):
    """An amount of the quote asset: two decimals, thousands grouped."""
    d = _decimal(value)
    return DASH if d is None else f"{d:,.2f}"


@register.filter
def signed(value):
    """A profit or loss with its sign."""
    d = _decimal(value)
    if d is None:
        return DASH
    d = d.quantize(Decimal("0.01"))
    return f"+{d:,.2f}" if d > 0 else f"−{-d:,.2f}" if d < 0 else "0.00"


@register.filter
def percent(value):
    """A fraction (0.125) as a percentage (12.50%)."""
    d = _decimal(value)
    return DASH if d is None else f"{d * 100:,.2f}%"


@register.filter
def pnl_class(value):
    d = _decimal(value) or Decimal(0)
    return "gain" if d > 0 else "loss" if d < 0 else ""
