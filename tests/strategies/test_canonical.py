from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from oneclick.lib.canonical import canonical_bytes


def test_keys_sorted_no_whitespace_decimals_as_strings_times_in_utc():
    value = {
        "b": Decimal("0.2500"),
        "a": [1, True, None, "x"],
        "t": datetime(2026, 1, 1, 6, 0, tzinfo=timezone(timedelta(hours=2))),
        "big": Decimal("1E+2"),
        "neg0": Decimal("-0.000"),
    }
    assert canonical_bytes(value) == (
        b'{"a":[1,true,null,"x"],"b":"0.25","big":"100","neg0":"0","t":"2026-01-01T04:00:00Z"}'
    )


def test_microseconds_only_when_present_and_unicode_kept():
    assert canonical_bytes({"t": datetime(2026, 1, 1, 0, 0, 0, 5, tzinfo=UTC), "r": "é"}) == (
        '{"r":"é","t":"2026-01-01T00:00:00.000005Z"}'.encode()
    )


@pytest.mark.parametrize("bad", [1.5, datetime(2026, 1, 1), {1: "a"}, object()])
def test_values_without_one_canonical_form_are_refused(bad):
    with pytest.raises((TypeError, ValueError)):
        canonical_bytes({"v": bad})
