"""Candles are fetched incrementally: only what is missing, gaps included (counted at the paper exchange)."""

from datetime import timedelta

from strategies.marketdata import candles_sync
from strategies.models import Candle

from .conftest import CLOSE

H4 = timedelta(hours=4)


def klines_requests(paper):
    return paper.counters()["requests_by_path"].get("/api/v3/klines", 0)


def sync(start, end, now=None):
    return candles_sync(exchange="paper", symbol="BTC/USDT", timeframe="4h", start=start, end=end, now=now or end + timedelta(seconds=5))


def stored():
    return Candle.objects.filter(exchange="paper", symbol="BTC/USDT", timeframe="4h")


def test_only_missing_candles_are_requested(paper, db):
    start = CLOSE - 100 * H4
    first = sync(start, CLOSE)
    assert first.stored == 100 and klines_requests(paper) == 1
    assert stored().count() == 100

    paper.reset()
    later = sync(start, CLOSE + 10 * H4)
    assert later.stored == 10 and later.requests == 1 and klines_requests(paper) == 1

    paper.reset()
    again = sync(start, CLOSE + 10 * H4)
    assert again.requests == 0 and klines_requests(paper) == 0
    assert stored().count() == 110


def test_gaps_are_found_and_refetched(paper, db):
    start = CLOSE - 100 * H4
    sync(start, CLOSE)
    holes = [start + 10 * H4, start + 11 * H4, start + 12 * H4, start + 60 * H4]
    removed = {c.open_time: c.close for c in stored().filter(open_time__in=holes)}
    stored().filter(open_time__in=holes).delete()
    paper.reset()
    result = sync(start, CLOSE)
    assert result.gaps == 2 and result.requests == 2 and klines_requests(paper) == 2
    assert result.stored == 4
    assert {c.open_time: c.close for c in stored().filter(open_time__in=holes)} == removed


def test_a_long_history_is_paged_and_the_candle_in_progress_is_never_stored(paper, db):
    start = CLOSE - 2500 * H4
    now = CLOSE + 2 * timedelta(hours=1)  # the candle opening at CLOSE is still in progress
    result = sync(start, CLOSE + H4, now=now)
    assert result.stored == 2500
    assert result.requests == 3 and klines_requests(paper) == 3
    assert not stored().filter(open_time=CLOSE).exists()
    times = list(stored().order_by("open_time").values_list("open_time", flat=True))
    assert times[0] == start and times[-1] == CLOSE - H4
    assert all(b - a == H4 for a, b in zip(times, times[1:]))
