"""Order and trade ids as venues show them, from the engine's integer ids, and back.

The engine numbers orders and trades with integers (SQLite rowids). Binance
shows them as they are. A dialect of a venue with other ids renders them with
these functions; each mapping is deterministic and reversible, so an id a
client sends back names exactly one row, and an id that was never issued
decodes to None (the dialect answers "unknown order"):

- Kraken style, as Kraken's ``OQCLML-BW3P3-BUCMWZ``: a prefix letter ("O" for
  orders, "T" for trades), then the integer in base 32 (A-Z, 2-7) over 16
  characters, grouped 6-5-6: order 1 is ``OAAAAA-AAAAA-AAAAAB``.
- UUID style (Bitvavo, One Trading): a version-4-shaped UUID whose first 64
  bits are fixed per kind (orders, trades) and whose last 62 bits are the
  integer.
"""

import uuid

B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_B32_INDEX = {c: i for i, c in enumerate(B32)}
_KRAKEN_DIGITS = 16
_UUID_HIGH = {"order": 0x6F1D0A7E_51D3_4C0D, "trade": 0x7A4D3E11_0B2C_4E5F}  # version nibble 4
_VARIANT = 0b10 << 62
_LOW_MASK = (1 << 62) - 1


def kraken_id(n, prefix="O"):
    digits = []
    for _ in range(_KRAKEN_DIGITS):
        n, r = divmod(n, 32)
        digits.append(B32[r])
    if n:
        raise ValueError("id too large for a Kraken-style id")
    body = prefix + "".join(reversed(digits))
    return f"{body[:6]}-{body[6:11]}-{body[11:]}"


def from_kraken_id(text, prefix="O"):
    """The integer behind a Kraken-style id, or None if it is not one this server issued."""
    if not isinstance(text, str) or len(text) != 19 or text[6] != "-" or text[12] != "-":
        return None
    body = text[:6] + text[7:12] + text[13:]
    if body[0] != prefix:
        return None
    n = 0
    for c in body[1:]:
        if c not in _B32_INDEX:
            return None
        n = n * 32 + _B32_INDEX[c]
    return n


def uuid_id(n, kind="order"):
    if not 0 <= n <= _LOW_MASK:
        raise ValueError("id out of range for a UUID-style id")
    return str(uuid.UUID(int=(_UUID_HIGH[kind] << 64) | _VARIANT | n))


def from_uuid_id(text, kind="order"):
    """The integer behind a UUID-style id, or None if it is not one this server issued."""
    try:
        value = uuid.UUID(str(text)).int
    except ValueError:
        return None
    if value >> 64 != _UUID_HIGH[kind] or (value >> 62) & 0b11 != 0b10:
        return None
    return value & _LOW_MASK
