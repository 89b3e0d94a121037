"""Numbers from an exchange's response headers (used weight, retry-after), whatever their case."""


def header_number(headers, name, cast=int):
    """The header's value as a number, or None when it is absent or not a number."""
    name = name.lower()
    for key, value in (headers or {}).items():
        if key.lower() == name:
            try:
                return cast(value)
            except (TypeError, ValueError):
                return None
    return None
