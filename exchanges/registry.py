"""The supported exchanges: a plain dict, no discovery."""

from exchanges.binance import Binance, BinanceUS
from exchanges.bitvavo import Bitvavo
from exchanges.errors import ExchangeRejected
from exchanges.kraken import Kraken
from exchanges.onetrading import OneTrading
from exchanges.paper import PAPER

EXCHANGES = {cls.name: cls for cls in (Binance, BinanceUS, Kraken, Bitvavo, OneTrading, *PAPER)}


def exchange_class(name):
    try:
        return EXCHANGES[name]
    except KeyError:
        raise ExchangeRejected(f"Unsupported exchange: {name}") from None


def public_exchange(name):
    """An exchange without credentials, for market data."""
    return exchange_class(name)()
