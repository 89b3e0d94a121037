"""The built-in paper exchange: each venue's adapter, pointed at the venue's dialect of the paper exchange.

The paper exchange (a separate process, ``PAPEREXCHANGE_URL``) serves Binance
at its root and every other venue under ``/<venue>``, with the venue's own
paths, signatures and errors. A paper key therefore runs through exactly the
code of the venue it imitates, unmodified ccxt class included: only the host
of its API URLs differs.
"""

from django.conf import settings

from exchanges.binance import Binance, BinanceUS
from exchanges.bitvavo import Bitvavo
from exchanges.kraken import Kraken
from exchanges.onetrading import OneTrading


def paper_of(venue):
    """The paper twin of a venue's adapter class."""
    dialect = venue.name
    name = "paper" if dialect == "binance" else f"paper_{dialect}"
    label = "Paper exchange" if dialect == "binance" else f"Paper exchange ({venue.label})"

    def base_url(self):
        root = settings.PAPEREXCHANGE_URL.rstrip("/")
        return root if dialect == "binance" else f"{root}/{dialect}"

    return type(f"Paper{venue.__name__}", (venue,), {
        "__doc__": f"{venue.label}'s adapter on the paper exchange's {venue.label} dialect.",
        "__module__": __name__, "name": name, "label": label, "is_paper": True, "base_url": base_url,
    })


PAPER = tuple(paper_of(venue) for venue in (Binance, BinanceUS, Kraken, Bitvavo, OneTrading))
