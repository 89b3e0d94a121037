"""The exchange layer's errors: ccxt's many exception classes mapped once to a few.

Each says whether a retry may help; none carries a URL, a credential or a
signature, so ``str()`` is safe to show a user.
"""

import re

import ccxt

from exchanges.headers import header_number

class ExchangeError(Exception):
    """Base of the exchange layer's errors. ``str()`` is safe to show a user."""

    retryable = False

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = reason


class AuthFailed(ExchangeError):
    """The exchange does not accept the key or its signature."""


class PermissionDenied(ExchangeError):
    """The key works but lacks a permission, or the request came from an IP it refuses."""


class RateLimited(ExchangeError):
    """Too many requests (HTTP 429) or banned for a while (HTTP 418)."""

    retryable = True

    def __init__(self, reason, retry_after=None, banned=False):
        super().__init__(reason)
        self.retry_after = retry_after
        self.banned = banned


class ExchangeRejected(ExchangeError):
    """The exchange refused the request itself (filters, balance, unknown order, ...)."""


class InsufficientFunds(ExchangeRejected):
    """The account does not hold what the order needs (the request was refused, nothing executed)."""


class OrderUnknown(ExchangeRejected):
    """The exchange has no such order (looked up by id or client order id)."""


class Transient(ExchangeError):
    """Network trouble, timeouts, 5xx, clock skew: the same request may succeed later."""

    retryable = True


class ClockSkew(Transient):
    """The exchange refused the request's timestamp (Binance -1021) before doing anything with it."""


_CODE_MESSAGE = re.compile(r'"code"\s*:\s*(-?\d+)\s*,\s*"msg"\s*:\s*"([^"]*)"')


def _exchange_words(error):
    """The exchange's own code and message from a ccxt error, without URLs."""
    text = str(error)
    match = _CODE_MESSAGE.search(text)
    if match:
        return f"{match.group(2)} (code {match.group(1)})"
    # ccxt puts "<id> <METHOD> <url> <status> <body>" in some messages: keep no URL.
    text = re.sub(r"https?://\S+", "", text)
    return " ".join(text.split())[:300]


def _retry_after(exchange):
    return header_number(getattr(exchange, "last_response_headers", None), "retry-after", float)


def translate(error, exchange=None, error_classes=()):
    """Map a ccxt exception to ours (the caller chains the original).

    ``error_classes``: the venue's own corrections, ``(regex, ccxt class)``
    pairs matched against the error's text, for codes ccxt files under a class
    that would mislead us (Binance's -2015 as DDoSProtection, Bitvavo's rate
    limit as BadRequest).
    """
    words = _exchange_words(error)
    text = str(error)
    kind = next((cls for pattern, cls in error_classes if re.search(pattern, text)), type(error))
    if issubclass(kind, (ccxt.DDoSProtection, ccxt.RateLimitExceeded)):
        banned = "418" in text or "banned" in text.lower()
        return RateLimited(f"Rate limited by the exchange: {words}", _retry_after(exchange), banned=banned)
    if issubclass(kind, ccxt.PermissionDenied):
        return PermissionDenied(f"The key lacks a permission or is used from an IP it refuses: {words}")
    if issubclass(kind, ccxt.AuthenticationError):
        return AuthFailed(f"The exchange refused the key: {words}")
    if issubclass(kind, ccxt.InvalidNonce):
        return ClockSkew(f"Clock out of step with the exchange: {words}")
    if issubclass(kind, (ccxt.NetworkError, ccxt.BadResponse)):
        return Transient(f"The exchange did not answer properly: {words}")
    if issubclass(kind, ccxt.OrderNotFound):
        return OrderUnknown(words)
    if issubclass(kind, ccxt.InsufficientFunds):
        return InsufficientFunds(words)
    if issubclass(kind, ccxt.ExchangeError):
        return ExchangeRejected(words)
    return Transient(f"Unexpected exchange error: {type(error).__name__}")
