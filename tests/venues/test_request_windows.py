"""On every venue: the exchange's clock as we read it, and an order request that can no longer execute once its
window has passed (Binance's recvWindow, Kraken's deadline, Bitvavo's access window; One Trading has none)."""

from decimal import Decimal

import pytest

from exchanges import ClockSkew
from keys.services import key_exchange

pytestmark = pytest.mark.django_db

QUANTITY = Decimal("0.001")


def test_the_exchange_clock_is_read_from_the_exchange_not_from_ours(venue, venue_key):
    venue.paper.fault(clock_skew={"ms": 40_000})
    _key, exchange = key_exchange(key_id=venue_key.pk)
    assert exchange.exchange_clock_ms() == pytest.approx(venue.paper.server_time(), abs=1500)


def test_an_order_request_older_than_its_window_is_refused_and_never_executes(venue, venue_key):
    _key, exchange = key_exchange(key_id=venue_key.pk)
    window = exchange.request_window_ms
    stamp = exchange.exchange_clock_ms()
    late = exchange.client_order_id(bot_id=1, tag="late", salt="window")
    if window is None:
        # No request deadline on this venue: a lost answer's order waits two minutes before it is sent again.
        assert exchange.request_deadline_ms(stamp) == stamp + exchange.unbounded_request_ms + exchange.clock_margin_ms
        return
    assert exchange.request_deadline_ms(stamp) == stamp + window + exchange.clock_margin_ms

    # A request stamped longer ago than the window (as if held in the network that long) is refused unexecuted.
    held = stamp - window - 2000
    if not exchange.request_time_params(held):
        exchange.client.options["timeDifference"] += window + 2000  # a venue whose ccxt signs with its own clock
    with pytest.raises(ClockSkew) as refused:
        exchange.order_create(symbol=venue.market, side="buy", quantity=QUANTITY, client_order_id=late, bot_id=1,
                              stamp_ms=held)
    assert any(words in refused.value.reason for words in ("recvWindow", "Deadline elapsed", "acceptable window"))
    assert exchange.order_by_client_id(symbol=venue.market, client_order_id=late) is None
    assert venue.exchange_orders(venue.account_of(venue_key)) == []

    # Stamped now, the same order goes through once.
    answer = exchange.order_create(symbol=venue.market, side="buy", quantity=QUANTITY, client_order_id=late,
                                   bot_id=1, stamp_ms=exchange.exchange_clock_ms())
    assert answer["status"] == "closed"
    assert len(venue.exchange_orders(venue.account_of(venue_key))) == 1


def test_a_request_is_called_expired_only_once_the_exchanges_earliest_possible_time_is_past_it(venue, venue_key):
    """A lopsided measurement (the exchange read its time at the end of a 4 s round trip, as on a busy machine)
    puts the mid-way estimate 2 s ahead of the exchange; expiry never trusts it, so an order whose request the
    exchange could still execute is never sent again."""
    import time

    from exchanges import base

    _key, exchange = key_exchange(key_id=venue_key.pk)
    exchange.exchange_clock_ms()
    now = time.monotonic()
    server_ms = venue.paper.server_time()  # what the exchange's clock reads when its answer comes
    base._clock_measured[exchange.cache_key()] = (now - 2.0, server_ms, now)

    assert exchange.exchange_clock_ms() >= server_ms + 1900  # the estimate runs ahead
    assert not exchange.request_expired(server_ms + 1000)  # the exchange could still execute it
    assert venue.paper.server_time() < server_ms + 1000
    assert exchange.request_expired(server_ms - 500)
