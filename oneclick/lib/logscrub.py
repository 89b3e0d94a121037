"""Redact secrets from every log record before any handler formats it.

Four kinds of secret are caught:
- request signatures in query strings or bodies (``signature=...``);
- API keys in headers (``X-MBX-APIKEY``) and common credential fields
  (``apiKey``, ``secret``, ``password``, ``passphrase``, ``privateKey``,
  ``token``) written as ``name=value``, ``name: value`` or JSON;
- the token of an invitation link (``/accounts/invitation/<token>/``);
- exact values registered at runtime with :func:`register_secret` (a
  decrypted exchange secret is registered by the process that uses it).
"""

import logging
import re
import threading

REDACTED = "[redacted]"
_MIN_REGISTERED_LENGTH = 6

_FIELD_NAMES = (
    r"signature|x-mbx-apikey|api[_-]?key|api[_-]?secret|secret|password|passphrase"
    r"|private[_-]?key|token|otp|totp"
)
_PATTERNS = [
    # name=value in a query string or form body.
    re.compile(rf"(?i)(\b(?:{_FIELD_NAMES})=)[^&\s'\"]+"),
    # "name": "value" / 'name': 'value' (JSON, Python reprs of dicts).
    re.compile(rf"(?i)(['\"](?:{_FIELD_NAMES})['\"]\s*:\s*['\"])[^'\"]+"),
    # Header lines: X-MBX-APIKEY: value.
    re.compile(r"(?i)(\bx-mbx-apikey\s*:\s*)\S+"),
    # The one-time token of an invitation link (its path, as request logs write it).
    re.compile(r"(/accounts/invitation/)[^/\s?#'\"]+"),
    # PEM private keys.
    re.compile(r"(-----BEGIN [A-Z ]*PRIVATE KEY-----)[\s\S]*?(?=-----END)"),
]

_registered = set()
_lock = threading.Lock()
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


def register_secret(value):
    """Redact this exact value from every later log record of this process."""
    if value and len(str(value)) >= _MIN_REGISTERED_LENGTH:
        with _lock:
            _registered.add(str(value))


def forget_secret(value):
    with _lock:
        _registered.discard(str(value))


def scrub(text):
    """Return ``text`` with every secret it contains replaced."""
    if not text:
        return text
    for pattern in _PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    with _lock:
        secrets = sorted(_registered, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class SecretScrubFilter(logging.Filter):
    """A logging filter for handlers: rewrites the record, never drops it."""

    def filter(self, record):
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not hide the record
            message = f"{record.msg!r} {record.args!r}"
        record.msg = scrub(message)
        record.args = None
        if record.exc_info:
            formatter = logging.Formatter()
            record.exc_text = scrub(formatter.formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        for name, value in list(vars(record).items()):
            if name not in _STANDARD_ATTRS and isinstance(value, str):
                setattr(record, name, scrub(value))
        return True
