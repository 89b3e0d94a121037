"""Binance-shaped errors: an HTTP status and a ``{"code", "msg"}`` body."""


class BinanceError(Exception):
    def __init__(self, code, msg, status=400, headers=None):
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status
        self.headers = headers or {}

    def body(self):
        return {"code": self.code, "msg": self.msg}


def bad_param(name):
    return BinanceError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def illegal_param(name):
    return BinanceError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '^([0-9]{{1,20}})(\\.[0-9]{{1,20}})?$'.")


def invalid_symbol():
    return BinanceError(-1121, "Invalid symbol.")


def filter_failure(name):
    return BinanceError(-1013, f"Filter failure: {name}")


def insufficient_balance():
    return BinanceError(-2010, "Account has insufficient balance for requested action.")


def bad_key_permissions():
    return BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", status=401)


class ControlError(Exception):
    """Bad input to the control endpoint or the CLI: one clear line."""
