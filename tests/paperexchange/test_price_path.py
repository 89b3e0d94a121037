"""The price path is a pure function of (seed, symbol, minute), and candles aggregate exactly."""

import random

import pytest

from paperexchange import config
from paperexchange.market import INTERVALS, ORIGIN_MS, Market

NOW = 1_790_000_000_000 + 37_123  # a fixed "now", mid-minute


def market(seed=7):
    return Market(config.load(environ={})["symbols"], seed)


def test_same_seed_gives_the_same_candles():
    a, b = market(7), market(7)
    for interval in ("1m", "1h", "1d"):
        assert a.klines("BTCUSDT", interval, None, NOW, 50, NOW) == b.klines("BTCUSDT", interval, None, NOW, 50, NOW)


def test_a_minute_does_not_depend_on_what_was_computed_before():
    a, b = market(7), market(7)
    minute = NOW // 60000 - 200_000
    a.klines("ETHUSDT", "1d", None, NOW, 30, NOW)  # fill a's caches first
    assert a.minute("ETHUSDT", minute, NOW) == b.minute("ETHUSDT", minute, NOW)


def test_another_seed_gives_another_path():
    assert market(7).klines("BTCUSDT", "1h", None, NOW, 24, NOW) != market(8).klines("BTCUSDT", "1h", None, NOW, 24, NOW)


def test_pairs_of_one_base_asset_move_together():
    m = market()
    assert m.price("BTCUSDT", NOW) == m.price("BTCUSDC", NOW)


@pytest.mark.parametrize("interval", ["5m", "15m", "1h", "4h", "1d"])
def test_a_candle_is_the_aggregation_of_its_one_minute_candles(interval):
    m = market()
    step = INTERVALS[interval]
    rng = random.Random(interval)
    for _ in range(3):
        start_ms = rng.randrange(ORIGIN_MS + 86400_000, NOW - 86400_000)
        candle, = m.klines("SOLUSDT", interval, start_ms, None, 1, NOW)
        minutes = m.klines("SOLUSDT", "1m", candle[0], candle[6], 1000, NOW)
        assert len(minutes) == step if step <= 1000 else len(minutes) == 1000
        if step > 1000:
            minutes += m.klines("SOLUSDT", "1m", candle[0] + 1000 * 60000, candle[6], 1000, NOW)
        assert candle[1] == minutes[0][1]  # open
        assert candle[4] == minutes[-1][4]  # close
        assert float(candle[2]) == max(float(k[2]) for k in minutes)  # high
        assert float(candle[3]) == min(float(k[3]) for k in minutes)  # low
        assert candle[8] == sum(k[8] for k in minutes)  # trades
        from decimal import Decimal

        assert Decimal(candle[5]) == sum(Decimal(k[5]) for k in minutes)  # volume, exactly
        assert Decimal(candle[7]) == sum(Decimal(k[7]) for k in minutes)  # quote volume, exactly


def test_a_minute_opens_where_the_previous_one_closed():
    m = market()
    candles = m.klines("PUMPUSDT", "1m", None, NOW, 1000, NOW)
    assert all(a[4] == b[1] for a, b in zip(candles, candles[1:]))


def test_there_is_more_than_a_year_of_history():
    m = market()
    daily = m.klines("BTCUSDT", "1d", None, NOW, 1000, NOW)
    assert len(daily) == 1000
    assert daily[0][0] < NOW - 365 * 86400_000


def test_the_current_candle_closes_at_the_current_price():
    m = market()
    last = m.klines("BTCUSDT", "1m", None, None, 1, NOW)[0]
    assert float(last[4]) == float(m.price("BTCUSDT", NOW))
    assert last[0] == NOW // 60000 * 60000


def test_prices_stay_in_a_plausible_range_for_years():
    m = market()
    closes = [float(k[4]) for k in m.klines("BTCUSDT", "1d", None, NOW, 1000, NOW)]
    assert 20_000 < min(closes) and max(closes) < 400_000


def test_moving_the_price_changes_it_from_now_on_only():
    m = market()
    before = m.klines("ETHUSDT", "1m", None, NOW - 60_000, 5, NOW)
    price = m.price("ETHUSDT", NOW)
    m.move_price("ETHUSDT", 2.0, NOW)
    assert float(m.price("ETHUSDT", NOW)) == pytest.approx(float(price) * 2, rel=1e-6)
    assert m.klines("ETHUSDT", "1m", None, NOW - 60_000, 5, NOW) == before
    hour, = m.klines("ETHUSDT", "1h", None, NOW, 1, NOW)
    minutes = m.klines("ETHUSDT", "1m", hour[0], NOW, 60, NOW)
    assert float(hour[2]) == max(float(k[2]) for k in minutes)


def test_added_volume_shows_in_the_24h_ticker():
    m = market()
    from decimal import Decimal

    before = Decimal(m.ticker_24h("PUMPUSDT", NOW)["volume"])
    m.add_volume("PUMPUSDT", Decimal("5000000"), NOW)
    assert Decimal(m.ticker_24h("PUMPUSDT", NOW)["volume"]) == before + 5000000


def test_no_candles_before_the_path_starts():
    m = market()
    assert m.klines("BTCUSDT", "1h", None, ORIGIN_MS - 1, 10, NOW) == []
    first = m.klines("BTCUSDT", "1d", 0, None, 2, NOW)
    assert first[0][0] == ORIGIN_MS
