"""The bottom layer: everything that talks to an exchange.

One adapter per venue over ccxt (:mod:`exchanges.base` and one module per
venue: :mod:`~exchanges.binance` (Binance, Binance.US), :mod:`~exchanges.kraken`,
:mod:`~exchanges.bitvavo`, :mod:`~exchanges.onetrading`, and their paper twins
in :mod:`~exchanges.paper`), the registry (:mod:`exchanges.registry`), the
request budget shared by every worker (:mod:`exchanges.budget`), a market's
trading rules (:mod:`exchanges.markets`) and the few error classes ccxt's
exceptions map to (:mod:`exchanges.errors`). It imports no other app of the
project: only :mod:`oneclick.lib`, Django's settings and cache, and
third-party packages.
"""

from exchanges.base import (
    CredentialField,
    Credentials,
    Exchange,
    KeyPermissions,
    Probe,
    TradesPage,
    caches_clear,
    clients_forget,
)
from exchanges.errors import (
    AuthFailed,
    ClockSkew,
    ExchangeError,
    ExchangeRejected,
    InsufficientFunds,
    OrderUnknown,
    PermissionDenied,
    RateLimited,
    Transient,
)
from exchanges.registry import EXCHANGES, exchange_class, public_exchange

__all__ = [
    "EXCHANGES", "AuthFailed", "ClockSkew", "CredentialField", "Credentials", "Exchange", "ExchangeError",
    "ExchangeRejected", "InsufficientFunds", "KeyPermissions", "OrderUnknown", "PermissionDenied", "Probe", "RateLimited", "TradesPage",
    "Transient", "caches_clear", "clients_forget", "exchange_class", "public_exchange",
]
