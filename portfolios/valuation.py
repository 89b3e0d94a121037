"""What an amount of one asset is worth in another, through the exchange's own markets.

Every figure in one currency: an asset is valued at the last price of its
market against the reference (``BTC/USDT``), or the inverse market
(``USDT/EUR`` for EUR in USDT), else through one bridge asset (BTC, or one of
the venue's quote currencies: ``SOL -> USDT -> USDC``). Stablecoins get no
1:1 shortcut: USDC counts at the USDC/USDT market's price. An asset no market
reaches is *not valued* and reported as such with its amount, never silently
counted as zero.
"""

from dataclasses import dataclass, field
from decimal import Decimal

from exchanges import ExchangeError

# Held by many accounts and listed against every quote: the first bridges tried.
BRIDGES = ("BTC", "USDT", "USDC", "EUR", "USD", "ETH")
STABLECOINS = ("USDT", "USDC")
PEG_TOLERANCE = Decimal("0.01")  # a stablecoin further than 1 % from its peg is shown


@dataclass
class Valuation:
    """Amounts valued in ``reference``: the total, how each asset was valued, and what could not be."""

    reference: str
    total: Decimal = Decimal(0)
    valued: dict = field(default_factory=dict)     # asset -> (amount, value, how)
    unvalued: dict = field(default_factory=dict)   # asset -> amount


# Assets with a fixed value in another: Kraken's fee credits are worth 0.01 USD each.
FIXED_RATES = {"KFEE": ("USD", Decimal("0.01"))}
# A fill this recent is valued at the market's last price; an older one at its one-minute candle's close.
RECENT_MS = 10 * 60_000


def price_in(exchange, asset, reference, at_ms=None):
    """(price of one ``asset`` in ``reference``, how), or (None, why) when no market reaches it.

    ``at_ms``: the price at that past moment (the one-minute candles' closes) instead of now.
    """
    if asset == reference:
        return Decimal(1), "itself"
    if asset in FIXED_RATES:
        unit, rate = FIXED_RATES[asset]
        price, how = price_in(exchange, unit, reference, at_ms)
        return (None, how) if price is None else (rate * price, f"{asset} = {rate} {unit}; {how}")
    markets = exchange.markets()
    direct = _rate(exchange, markets, asset, reference, at_ms)
    if direct is not None:
        return direct
    for bridge in (*BRIDGES, *exchange.quotes):
        if bridge in (asset, reference):
            continue
        first = _rate(exchange, markets, asset, bridge, at_ms)
        if first is None:
            continue
        second = _rate(exchange, markets, bridge, reference, at_ms)
        if second is not None:
            return first[0] * second[0], f"{first[1]} x {second[1]}"
    return None, f"no market from {asset} to {reference}"


def _rate(exchange, markets, asset, reference, at_ms=None):
    for symbol, inverse in ((f"{asset}/{reference}", False), (f"{reference}/{asset}", True)):
        if symbol in markets:
            try:
                raw = exchange.ticker_price(symbol) if at_ms is None else exchange.candle_close(symbol, at_ms)
            except ExchangeError:
                continue
            price = Decimal(str(raw)) if raw else Decimal(0)
            if price > 0:
                name = f"1/{symbol}" if inverse else symbol
                return (1 / price if inverse else price), (name if at_ms is None else f"{name} candle close")
    return None


def fee_value(exchange, *, fee, fee_asset, market, price, traded_at_ms, now_ms):
    """A fill's fee in the market's quote at the fill's time, and how it was valued: in the quote as charged,
    in the base at the fill's price, else through the exchange's markets (BNB/USDT, a bridge, KFEE's fixed
    rate): their last price for a recent fill, the one-minute candle's close for an older one."""
    base, quote = market.split("/")
    if not fee:
        return Decimal(0), ""
    if fee_asset == quote:
        return fee, "charged in the quote"
    if fee_asset == base:
        return fee * price, "base at the fill's price"
    at_ms = None if now_ms - traded_at_ms <= RECENT_MS else traded_at_ms
    rate, how = price_in(exchange, fee_asset, quote, at_ms)
    if rate is None:
        return Decimal(0), f"not valued: {how}"
    return fee * rate, how


def value_balances(exchange, balances, reference):
    """Value ``{asset: amount}`` in ``reference``; assets no market reaches are listed apart."""
    result = Valuation(reference=reference)
    for asset, amount in sorted(balances.items()):
        if not amount:
            continue
        price, how = price_in(exchange, asset, reference)
        if price is None:
            result.unvalued[asset] = amount
            continue
        value = amount * price
        result.valued[asset] = (amount, value, how)
        result.total += value
    return result


def pegs_off(exchange, assets):
    """Stablecoins among ``assets`` further than 1 % from their peg: {asset: (price in the other, against)}."""
    off = {}
    for coin in STABLECOINS:
        if coin not in assets:
            continue
        for other in (*STABLECOINS, "USD"):
            if other == coin:
                continue
            price, _how = price_in(exchange, coin, other)
            if price is not None:
                if abs(price - 1) > PEG_TOLERANCE:
                    off[coin] = (price, other)
                break
    return off


def fee_valuer(exchange, market):
    """``value_fee`` for :func:`portfolios.ledger.fills_store`: third-asset fees of ``market``'s fills."""

    def value(fee, fee_asset, price, traded_at_ms):
        return fee_value(exchange, fee=fee, fee_asset=fee_asset, market=market, price=price,
                         traded_at_ms=traded_at_ms, now_ms=exchange.exchange_clock_ms())

    return value
