"""Errors: Binance's wording (the engine's native language) plus a venue-neutral ``kind``.

The engine raises ``BinanceError`` with Binance's code and message, which the
Binance dialects send as they are. Every error also carries a ``kind``, one of
``KINDS``, so that a dialect of another venue can render it in that venue's own
shape (Kraken's ``EOrder:Insufficient funds``, Bitvavo's ``errorCode`` 216...)
without parsing Binance codes.
"""

# bad_param: a missing, malformed or conflicting parameter
# unknown_symbol: a symbol the venue does not list
# insufficient_balance: the account cannot pay for the order
# unknown_order: no such order (or no longer open, for a cancel)
# filter: price, quantity or notional outside the symbol's rules
# duplicate_client_id: a client order id already used by an open order
# would_take: a post-only (LIMIT_MAKER) order that would match at once
# rejected: the "reject next order" fault
# auth, rate_limit: raised by the dialects themselves
KINDS = ("bad_param", "unknown_symbol", "insufficient_balance", "unknown_order", "filter", "duplicate_client_id",
         "would_take", "rejected", "auth", "rate_limit")


class BinanceError(Exception):
    def __init__(self, code, msg, status=400, headers=None, kind="bad_param"):
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status
        self.headers = headers or {}
        self.kind = kind

    def body(self):
        return {"code": self.code, "msg": self.msg}


def bad_param(name):
    return BinanceError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def illegal_param(name):
    return BinanceError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '^([0-9]{{1,20}})(\\.[0-9]{{1,20}})?$'.")


def invalid_symbol():
    return BinanceError(-1121, "Invalid symbol.", kind="unknown_symbol")


def filter_failure(name):
    return BinanceError(-1013, f"Filter failure: {name}", kind="filter")


def insufficient_balance():
    return BinanceError(-2010, "Account has insufficient balance for requested action.", kind="insufficient_balance")


def unknown_order(cancel=False):
    if cancel:
        return BinanceError(-2011, "Unknown order sent.", kind="unknown_order")
    return BinanceError(-2013, "Order does not exist.", kind="unknown_order")


def duplicate_order():
    return BinanceError(-2010, "Duplicate order sent.", kind="duplicate_client_id")


def bad_key_permissions():
    return BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", status=401, kind="auth")


class ControlError(Exception):
    """Bad input to the control endpoint or the CLI: one clear line."""
