"""Order sizing: how much a signal buys or sells, or why it cannot.

A pure module (no models, no database), called by live execution and by the
backtest alike, so a backtest trades exactly the sizes a bot would.

Meaning of a signal's fraction:
- ``buy``: spend ``fraction`` x the bot's allocation (quote asset);
- ``sell``: sell ``fraction`` of the position held (1 = all of it).

The quantity is rounded DOWN to the market's lot step. An order that would
break a rule is refused with a reason, never trimmed to fit: a signal that
asks for more than the bot may hold is a signal the user did not agree to.

Rules, in the order they are checked:
1. a positive price and a fraction in (0, 1];
2. ``nothing_to_trade``: the rounded quantity is zero (or no position to sell);
3. ``below_min_amount``: under the market's minimum quantity;
4. ``below_min_notional``: quantity x price under the market's minimum cost;
5. ``over_position_cap``: a buy that would hold more than ``position_cap``
   (quote value at ``price``);
6. ``over_market_max``: more than the largest market order the exchange
   accepts (Binance's ``MARKET_LOT_SIZE`` maxQty, the "306 BTC" rule, or
   the market's maximum amount);
7. ``over_free_balance``: more than the free quote (buy) or base (sell).
"""

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from exchanges.markets import market_max_quantity, market_min_notional, market_min_quantity, market_step
from oneclick.lib.money import to_decimal

BUY = "buy"
SELL = "sell"

REFUSALS = {
    "invalid": "The order request is not valid",
    "nothing_to_trade": "Nothing to trade",
    "below_min_amount": "Below the market's minimum quantity",
    "below_min_notional": "Below the market's minimum order value (min notional)",
    "over_position_cap": "Beyond the bot's position cap",
    "over_market_max": "Beyond the largest market order the exchange accepts",
    "over_free_balance": "Beyond the free balance",
}


@dataclass(frozen=True)
class SizeResult:
    side: str
    quantity: Decimal  # rounded down to the step; Decimal(0) when refused
    price: Decimal
    refusal: str = ""  # a key of REFUSALS, empty when the order may go
    detail: str = ""

    @property
    def ok(self):
        return not self.refusal

    @property
    def notional(self):
        return self.quantity * self.price

    @property
    def reason(self):
        if not self.refusal:
            return ""
        text = REFUSALS[self.refusal]
        return f"{text}: {self.detail}" if self.detail else text


def round_down(quantity, step):
    if not step:
        return quantity
    return (quantity / step).to_integral_value(rounding=ROUND_DOWN) * step


def order_size(*, side, fraction, allocation, position_qty, price, free_quote, free_base, position_cap, market):
    """Size a market order for a signal. Returns a :class:`SizeResult`."""
    fraction = to_decimal(fraction)
    allocation = to_decimal(allocation, Decimal(0))
    position_qty = to_decimal(position_qty, Decimal(0))
    price = to_decimal(price)
    free_quote = to_decimal(free_quote, Decimal(0))
    free_base = to_decimal(free_base, Decimal(0))
    position_cap = to_decimal(position_cap)

    def refuse(code, detail=""):
        return SizeResult(side=side, quantity=Decimal(0), price=price or Decimal(0), refusal=code, detail=detail)

    if side not in (BUY, SELL):
        return refuse("invalid", f"unknown side {side!r}")
    if price is None or price <= 0:
        return refuse("invalid", "no positive price")
    if fraction is None or not (0 < fraction <= 1):
        return refuse("invalid", "the fraction must be above 0 and at most 1")

    step = market_step(market)
    if side == BUY:
        quantity = round_down(fraction * allocation / price, step)
    else:
        quantity = round_down(fraction * position_qty, step)
    if quantity <= 0:
        return refuse("nothing_to_trade", "no position to sell" if side == SELL and position_qty <= 0 else "")

    min_qty = market_min_quantity(market)
    if min_qty is not None and quantity < min_qty:
        return refuse("below_min_amount", f"{quantity} < {min_qty}")
    notional = quantity * price
    min_notional = market_min_notional(market)
    if min_notional is not None and notional < min_notional:
        return refuse("below_min_notional", f"{notional.normalize():f} < {min_notional.normalize():f}")
    if side == BUY and position_cap is not None:
        held_after = (position_qty + quantity) * price
        if held_after > position_cap:
            return refuse(
                "over_position_cap", f"{held_after.normalize():f} would be held, cap {position_cap.normalize():f}"
            )
    max_qty = market_max_quantity(market)
    if max_qty is not None and quantity > max_qty:
        return refuse("over_market_max", f"{quantity.normalize():f} > {max_qty.normalize():f}")
    if side == BUY and notional > free_quote:
        return refuse("over_free_balance", f"needs {notional.normalize():f}, free {free_quote.normalize():f}")
    if side == SELL and quantity > free_base:
        return refuse("over_free_balance", f"needs {quantity.normalize():f}, free {free_base.normalize():f}")
    return SizeResult(side=side, quantity=quantity, price=price)
