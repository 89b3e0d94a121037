"""A market's trading rules (lot step, quantity bounds, minimum order value) from ccxt's market dict."""

from decimal import Decimal

from oneclick.lib.money import to_decimal


def _binance_filter(market, name):
    for item in (market.get("info") or {}).get("filters") or []:
        if item.get("filterType") == name:
            return item
    return None


def market_step(market):
    """The lot step: Binance's LOT_SIZE stepSize when present, else ccxt's precision amount.

    ccxt reports ``precision.amount`` as a step size (TICK_SIZE mode) for
    Binance and most exchanges; a market dict may say ``"precisionMode":
    "decimal_places"`` when its precision is a count of digits instead.
    """
    lot = _binance_filter(market, "LOT_SIZE")
    step = to_decimal(lot.get("stepSize")) if lot else None
    if step and step > 0:
        return step
    precision = to_decimal((market.get("precision") or {}).get("amount"))
    if precision is None:
        return None
    if market.get("precisionMode") == "decimal_places":
        return Decimal(1).scaleb(-int(precision))
    return precision if precision > 0 else None


def market_max_quantity(market):
    """The largest quantity one market order may have, or None."""
    candidates = []
    market_lot = _binance_filter(market, "MARKET_LOT_SIZE")
    if market_lot:
        value = to_decimal(market_lot.get("maxQty"))
        if value and value > 0:
            candidates.append(value)
    limit = to_decimal(((market.get("limits") or {}).get("amount") or {}).get("max"))
    if limit and limit > 0:
        candidates.append(limit)
    return min(candidates) if candidates else None


def market_min_quantity(market):
    value = to_decimal(((market.get("limits") or {}).get("amount") or {}).get("min"))
    return value if value and value > 0 else None


def market_min_notional(market):
    value = to_decimal(((market.get("limits") or {}).get("cost") or {}).get("min"))
    if value and value > 0:
        return value
    for name in ("NOTIONAL", "MIN_NOTIONAL"):
        item = _binance_filter(market, name)
        if item:
            value = to_decimal(item.get("minNotional"))
            if value and value > 0:
                return value
    return None
