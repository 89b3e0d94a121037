"""A local exchange that speaks the REST APIs the ccxt classes of several venues use (Binance, Binance.US).

A separate system living in this repository: its own process, its own state
on disk, no Django. Start it with ``python -m paperexchange serve``.
"""

__all__ = ["__version__"]

__version__ = "1.0"
