"""Fees paid in a third asset: Binance's "pay fees with BNB" and Kraken's fee credits (KFEE).

Every fill first has its usual commission, ``rate x`` what it is charged on, in
the asset received or in the quote (engine.py). A venue with a rule here may
then take it, or part of it, from another asset. The engine asks once per
fill, after the trade itself moved the money, so a BNB bought by the fill
counts and a BNB sold by it does not. One class per rule, in a plain dict by
venue (``PAYERS``):

- ``BnbBurn`` (Binance, Binance.US): the account's "pay fees with BNB" setting
  (Binance's ``spotBNBBurn``), off unless set. When on, the commission is the
  trade's quote value x the fee rate x 0.75 (25 % off), converted into BNB at
  the current price of the venue's BNB market in the trade's quote
  (BNB/USDT, BNB/USDC, BNB/USD on Binance.US), else through USDT, USDC or USD
  (``Engine.value_in``), rounded up to 8 decimals like every commission. It is
  reported as the trade's ``commission`` with ``commissionAsset`` "BNB" and
  taken from BNB alone. If the account's free BNB cannot pay all of it, or no
  market prices it, the usual commission is charged in the usual asset, in
  full, as on Binance (no discount, never split).
- ``FeeCredits`` (Kraken): any free KFEE pays the fee, opt-in or not. 1 KFEE
  pays 0.01 USD of fee; the usual commission is valued in USD through the
  venue's markets (EUR through USDT/EUR and USDT/USD), and the KFEE it takes
  is rounded up to KFEE's two decimals (Kraken keeps KFEE balances to 0.01).
  If the credits do not cover all of it, they are spent to zero and the rest
  of the commission, in proportion, is charged in the usual asset. The trade
  still reports the whole usual commission in the quote, as Kraken's
  TradesHistory does (its ``fee`` is the quote-currency equivalent); what the
  credits paid shows in the ledger (dialects/kraken.py, ``Ledgers``).
"""

from dataclasses import dataclass
from decimal import ROUND_UP, Decimal

ZERO = Decimal(0)
EIGHT = Decimal("1e-8")


@dataclass(frozen=True)
class Fee:
    """How one fill's commission is paid.

    ``commission`` in ``asset``: what the venue reports on the trade. ``charged``: what is taken from
    ``asset``, the commission unless fee credits paid part of it. ``credit`` in ``credit_asset``: what
    the credits paid with, and ``covers``: the part of the commission they paid.
    """

    commission: Decimal
    asset: str
    charged: Decimal
    credit_asset: str = None
    credit: Decimal = ZERO
    covers: Decimal = ZERO

    @classmethod
    def usual(cls, commission, asset):
        return cls(commission, asset, commission)


class BnbBurn:
    """Binance's "use BNB to pay for fees" (``spotBNBBurn``): an account setting, 25 % off, all or nothing."""

    asset = "BNB"
    opt_in = True  # an account setting, off by default
    discount = Decimal("0.25")

    def pay(self, usual, *, quote, quote_value, fee_rate, opted_in, value_in, free):
        """``usual``: the fill's usual Fee; ``opted_in``: the account's setting (always true where there is none);
        ``value_in(amount, from_asset, to_asset)``: the amount's worth in the other asset now, or None;
        ``free(asset)``: the account's free balance once the trade's own money has moved."""
        if not opted_in or not usual.commission:
            return usual
        bnb = value_in(quote_value * fee_rate * (1 - self.discount), quote, self.asset)
        if bnb is None:
            return usual
        bnb = bnb.quantize(EIGHT, rounding=ROUND_UP)
        if free(self.asset) < bnb:
            return usual
        return Fee.usual(bnb, self.asset)


class FeeCredits:
    """Kraken's fee credits: KFEE held pays the fee at 0.01 USD each, as far as it goes."""

    asset = "KFEE"
    opt_in = False  # holding them is enough
    worth_usd = Decimal("0.01")
    unit = Decimal("0.01")  # KFEE has two decimals

    def pay(self, usual, *, quote, quote_value, fee_rate, opted_in, value_in, free):
        held = free(self.asset)
        if held <= 0 or not usual.commission:
            return usual
        usd = value_in(usual.commission, usual.asset, "USD")
        if usd is None:
            return usual
        needed = (usd / self.worth_usd).quantize(self.unit, rounding=ROUND_UP)
        used = min(held, needed)
        charged = ZERO if used == needed else \
            (usual.commission * (needed - used) / needed).quantize(EIGHT, rounding=ROUND_UP)
        return Fee(usual.commission, usual.asset, charged, self.asset, used, usual.commission - charged)


PAYERS = {"binance": BnbBurn(), "binanceus": BnbBurn(), "kraken": FeeCredits()}
BNB_FEE_VENUES = tuple(venue for venue, payer in PAYERS.items() if payer.opt_in)
