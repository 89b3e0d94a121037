"""The synthetic market: symbols, filters, and a seeded price path.

Prices follow a mean-reverting geometric Brownian motion with occasional jumps,
at one-minute resolution, as a pure function of (seed, symbol, minute). Pairs
of one base asset (BTC/USDT, BTC/USDC) share one walk, so they never drift apart. Every
value is kept as an integer count of ticks (prices) or lot steps (quantities),
so a 4-hour candle is exactly the aggregation of its 240 one-minute candles.

How it is computed cheaply: a day-level walk (one draw per day, cached as a
list) fixes each day's opening and closing level; the 1,440 minutes inside a
day are a Brownian bridge between the two, drawn from a per-day generator and
kept in a small LRU cache. Hourly aggregates are cached per day, so a 1d or 4h
candle never touches minute data twice.
"""

import hashlib
import math
import random
import threading
from array import array
from collections import OrderedDict
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

ORIGIN_MS = 1577836800000  # 2020-01-01T00:00:00Z: the first candle
ORIGIN_MIN = ORIGIN_MS // 60000
MINUTES_PER_DAY = 1440
MEAN_REVERSION_PER_DAY = 1 / 365

INTERVALS = {
    "1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "2h": 120, "4h": 240,
    "6h": 360, "8h": 480, "12h": 720, "1d": 1440, "3d": 4320, "1w": 10080,
}
WEEK_OFFSET_MIN = 4 * 1440  # epoch is a Thursday; Binance weeks open on Monday


def _digits(value: Decimal):
    """Decimal places of a step such as 0.00001 (5) or 1 (0)."""
    return max(0, -value.normalize().as_tuple().exponent)


def fmt(value, places=8):
    """Binance's number format: a fixed number of decimal places."""
    return f"{value:.{places}f}"


@dataclass
class Symbol:
    symbol: str
    base: str
    quote: str
    price: Decimal
    tick: Decimal
    step: Decimal
    max_qty: Decimal
    market_max_qty: Decimal
    min_notional: Decimal
    volume: Decimal
    vol: float = 0.6
    spread_bps: float = 1.0
    walk: str = ""
    index: int = 0
    jumps_per_day: float = None  # None: the market-wide rate
    max_num_orders: int = 200  # open orders an account may hold on the symbol (Binance's MAX_NUM_ORDERS)
    # derived
    tick_places: int = field(init=False)
    step_places: int = field(init=False)
    volume_units: int = field(init=False)

    def __post_init__(self):
        self.tick_places = _digits(self.tick)
        self.step_places = _digits(self.step)
        self.volume_units = max(1, int(self.volume / self.step))

    @classmethod
    def from_spec(cls, spec, index):
        return cls(
            symbol=spec["symbol"], base=spec["base"], quote=spec["quote"],
            price=Decimal(str(spec["price"])), tick=Decimal(str(spec["tick"])),
            step=Decimal(str(spec["step"])), max_qty=Decimal(str(spec["max_qty"])),
            market_max_qty=Decimal(str(spec["market_max_qty"])),
            min_notional=Decimal(str(spec["min_notional"])), volume=Decimal(str(spec["volume"])),
            vol=float(spec.get("vol", 0.6)), spread_bps=float(spec.get("spread_bps", 1.0)),
            walk=spec.get("walk") or spec["base"], index=index,
            jumps_per_day=None if spec.get("jumps_per_day") is None else float(spec["jumps_per_day"]),
            max_num_orders=int(spec.get("max_num_orders", 200)),
        )

    @property
    def max_price(self):
        return self.price * 10000 if self.price >= 1 else Decimal(1000)

    # ticks and steps to Decimal
    def price_of(self, ticks):
        return self.tick * ticks

    def qty_of(self, units):
        return self.step * units

    def ticks_of(self, price: Decimal, rounding=ROUND_FLOOR):
        return int((price / self.tick).to_integral_value(rounding=rounding))

    def filters(self):
        return [
            {"filterType": "PRICE_FILTER", "minPrice": fmt(self.tick), "maxPrice": fmt(self.max_price),
             "tickSize": fmt(self.tick)},
            {"filterType": "LOT_SIZE", "minQty": fmt(self.step), "maxQty": fmt(self.max_qty), "stepSize": fmt(self.step)},
            {"filterType": "ICEBERG_PARTS", "limit": 10},
            {"filterType": "MARKET_LOT_SIZE", "minQty": fmt(0), "maxQty": fmt(self.market_max_qty), "stepSize": fmt(0)},
            {"filterType": "TRAILING_DELTA", "minTrailingAboveDelta": 10, "maxTrailingAboveDelta": 2000,
             "minTrailingBelowDelta": 10, "maxTrailingBelowDelta": 2000},
            {"filterType": "NOTIONAL", "minNotional": fmt(self.min_notional), "applyMinToMarket": True,
             "maxNotional": fmt(Decimal(9000000)), "applyMaxToMarket": False, "avgPriceMins": 5},
            {"filterType": "MAX_NUM_ORDERS", "maxNumOrders": self.max_num_orders},
            {"filterType": "MAX_NUM_ALGO_ORDERS", "maxNumAlgoOrders": 5},
        ]

    def exchange_info(self):
        return {
            "symbol": self.symbol, "status": "TRADING",
            "baseAsset": self.base, "baseAssetPrecision": 8,
            "quoteAsset": self.quote, "quotePrecision": 8, "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8, "quoteCommissionPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
            "icebergAllowed": False, "ocoAllowed": False, "otoAllowed": False,
            "quoteOrderQtyMarketAllowed": True, "allowTrailingStop": False, "cancelReplaceAllowed": False,
            "amendAllowed": False, "pegInstructionsAllowed": False,
            "isSpotTradingAllowed": True, "isMarginTradingAllowed": False,
            "filters": self.filters(),
            "permissions": [], "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH", "DECREMENT"],
        }


def _stable_int(*parts):
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


# A candle: open, high, low, close (ticks), volume (steps), quote volume
# (steps x ticks), trade count, taker-buy volume, taker-buy quote volume.
O, H, L, C, V, QV, N, TB, TBQ = range(9)


class PricePath:
    """The price of one symbol as a pure function of (seed, minute)."""

    DAY_CACHE = 96

    def __init__(self, sym: Symbol, seed: int, drift=0.0, jumps_per_day=0.3, jump_size=0.02):
        self.sym = sym
        self.seed = seed
        self.drift_day = drift / 365
        self.sigma_day = sym.vol / math.sqrt(365)
        self.sigma_min = sym.vol / math.sqrt(365 * MINUTES_PER_DAY)
        self.jumps_per_day = jumps_per_day
        self.jump_size = jump_size
        self.anchor_ticks = float(sym.price / sym.tick)
        self._levels = [0.0]  # log level at the open of day d
        self._jumps = []  # per day: list of (minute, size)
        self._days = OrderedDict()
        self._hours = {}
        # The server computes long kline ranges in a worker thread while the
        # event loop keeps reading prices: the caches are guarded by this lock.
        self._lock = threading.RLock()

    # day level --------------------------------------------------------
    def _extend_levels(self, day):
        levels, jumps = self._levels, self._jumps
        while len(levels) <= day + 1:
            d = len(levels) - 1
            rng = random.Random(_stable_int(self.seed, self.sym.walk, "day", d))
            x = levels[-1]
            step = self.drift_day - MEAN_REVERSION_PER_DAY * x + self.sigma_day * rng.gauss(0.0, 1.0)
            day_jumps = []
            while rng.random() < self.jumps_per_day / (1 + len(day_jumps)):
                size = self.jump_size * rng.expovariate(1.0) * (1 if rng.random() < 0.5 else -1)
                day_jumps.append((rng.randrange(MINUTES_PER_DAY), size))
                step += size
            jumps.append(day_jumps)
            levels.append(x + step)

    def level_ticks(self, day):
        self._extend_levels(day)
        return max(1, round(self.anchor_ticks * math.exp(self._levels[day])))

    # minute level -----------------------------------------------------
    def day(self, day):
        """Nine arrays of 1,440 integers: the minutes of one day."""
        if day < 0:
            raise ValueError("the price path starts on 2020-01-01")
        with self._lock:
            cached = self._days.get(day)
            if cached is not None:
                self._days.move_to_end(day)
                return cached
            return self._make_day(day)

    def _make_day(self, day):
        self._extend_levels(day)
        x0, x1 = self._levels[day], self._levels[day + 1]
        rng = random.Random(_stable_int(self.seed, self.sym.walk, "minutes", day))
        gauss, rand = rng.gauss, rng.random
        sm = self.sigma_min
        raw = [gauss(0.0, sm) for _ in range(MINUTES_PER_DAY)]
        for minute, size in self._jumps[day]:
            raw[minute] += size
        adj = (sum(raw) - (x1 - x0)) / MINUTES_PER_DAY
        anchor, exp = self.anchor_ticks, math.exp
        closes = []
        x = x0
        for r in raw:
            x += r - adj
            closes.append(max(1, round(anchor * exp(x))))
        closes[-1] = self.level_ticks(day + 1)
        opens = [self.level_ticks(day)] + closes[:-1]
        units = self.sym.volume_units
        o, h, l, c = array("q", opens), array("q"), array("q"), array("q", closes)
        v, qv, n, tb, tbq = array("q"), array("q"), array("q"), array("q"), array("q")
        wick = sm * 0.8
        for i in range(MINUTES_PER_DAY):
            oi, ci = opens[i], closes[i]
            hi = (oi if oi > ci else ci)
            lo = (ci if oi > ci else oi)
            u1, u2, u3 = rand(), rand(), rand()
            hi += int(hi * wick * u1 * u1)
            lo = max(1, lo - int(lo * wick * u2 * u2))
            move = abs(raw[i]) / sm
            vi = int(units * (0.35 + 0.9 * u3 + 0.4 * (move if move < 4 else 4)))
            if vi < 1:
                vi = 1
            typical = (hi + lo + ci + ci) // 4
            buy = vi * (40 + int(20 * u1)) // 100
            h.append(hi)
            l.append(lo)
            v.append(vi)
            qv.append(vi * typical)
            n.append(1 + vi * 23 // units)
            tb.append(buy)
            tbq.append(buy * typical)
        data = (o, h, l, c, v, qv, n, tb, tbq)
        self._days[day] = data
        if len(self._days) > self.DAY_CACHE:
            self._days.popitem(last=False)
        return data

    def hours(self, day):
        """24 hourly aggregates of one day (cached)."""
        cached = self._hours.get(day)
        if cached is None:
            with self._lock:
                data = self.day(day)
                cached = [aggregate_arrays(data, j * 60, j * 60 + 60) for j in range(24)]
                self._hours[day] = cached
        return cached


def aggregate_arrays(data, start, stop):
    o, h, l, c, v, qv, n, tb, tbq = data
    return (o[start], max(h[start:stop]), min(l[start:stop]), c[stop - 1], sum(v[start:stop]),
            sum(qv[start:stop]), sum(n[start:stop]), sum(tb[start:stop]), sum(tbq[start:stop]))


def merge(a, b):
    if a is None:
        return b
    return (a[O], a[H] if a[H] > b[H] else b[H], a[L] if a[L] < b[L] else b[L], b[C],
            a[V] + b[V], a[QV] + b[QV], a[N] + b[N], a[TB] + b[TB], a[TBQ] + b[TBQ])


class Market:
    """All symbols, the price path of each, and the live adjustments (moves, volume)."""

    def __init__(self, specs, seed, drift=0.0, jumps_per_day=0.3, jump_size=0.02, slippage_bps=1.0):
        self.seed = seed
        self.symbols = {}
        self.paths = {}
        for i, spec in enumerate(specs):
            sym = Symbol.from_spec(spec, i)
            self.symbols[sym.symbol] = sym
            jumps = jumps_per_day if sym.jumps_per_day is None else sym.jumps_per_day
            self.paths[sym.symbol] = PricePath(sym, seed, drift, jumps, jump_size)
        self.slippage_bps = slippage_bps
        self.moves = {}  # symbol -> sorted list of (from_minute, factor)
        self.extra_volume = {}  # symbol -> {minute: units}

    def reset_adjustments(self):
        self.moves.clear()
        self.extra_volume.clear()

    # adjustments --------------------------------------------------------
    def factor_at(self, symbol, minute):
        factor = 1.0
        for start, f in self.moves.get(symbol, ()):
            if start <= minute:
                factor *= f
        return factor

    def move_price(self, symbol, factor, now_ms):
        """Multiply the price path by ``factor`` from the current minute on."""
        minute = now_ms // 60000
        self.moves.setdefault(symbol, []).append((minute, float(factor)))
        self.moves[symbol].sort()

    def add_volume(self, symbol, quantity: Decimal, now_ms):
        sym = self.symbols[symbol]
        minute = now_ms // 60000
        units = int(quantity / sym.step)
        bucket = self.extra_volume.setdefault(symbol, {})
        bucket[minute] = bucket.get(minute, 0) + units

    def _hour_is_plain(self, symbol, start, stop):
        for m, f in list(self.moves.get(symbol, ())):
            if m < stop:
                return False
        extra = self.extra_volume.get(symbol)
        if extra:
            for m in list(extra):
                if start <= m < stop:
                    return False
        return True

    # minute values --------------------------------------------------------
    def minute(self, symbol, minute, now_ms):
        """One candle for one minute, partial if the minute is the current one."""
        path = self.paths[symbol]
        rel = minute - ORIGIN_MIN
        day, i = divmod(rel, MINUTES_PER_DAY)
        data = path.day(day)
        cndl = tuple(arr[i] for arr in data)
        now_min = now_ms // 60000
        if minute == now_min:
            frac = (now_ms % 60000) / 60000
            o, c_full = cndl[O], cndl[C]
            c = round(o + (c_full - o) * frac)
            vol = max(1, int(cndl[V] * frac))
            typical = (o + c) // 2
            buy = cndl[TB] * vol // cndl[V]
            cndl = (o, max(o, c), min(o, c), c, vol, vol * typical, max(1, int(cndl[N] * frac)), buy, buy * typical)
        factor = self.factor_at(symbol, minute)
        if factor != 1.0:
            o, h, l, c = (max(1, round(x * factor)) for x in cndl[:4])
            typical = (h + l + c + c) // 4
            cndl = (o, h, l, c, cndl[V], cndl[V] * typical, cndl[N], cndl[TB], cndl[TB] * typical)
        extra = self.extra_volume.get(symbol, {}).get(minute)
        if extra:
            typical = (cndl[H] + cndl[L] + cndl[C] + cndl[C]) // 4
            cndl = cndl[:4] + (cndl[V] + extra, cndl[QV] + extra * typical, cndl[N] + 1, cndl[TB] + extra, cndl[TBQ] + extra * typical)
        return cndl

    def aggregate(self, symbol, start_min, stop_min, now_ms):
        """The candle covering minutes [start_min, stop_min), cut at now; None if empty."""
        now_min = now_ms // 60000
        stop_min = min(stop_min, now_min + 1)
        start_min = max(start_min, ORIGIN_MIN)
        path = self.paths[symbol]
        out = None
        m = start_min
        while m < stop_min:
            rel = m - ORIGIN_MIN
            if rel % 60 == 0 and m + 60 <= stop_min and m + 60 <= now_min:
                if rel % MINUTES_PER_DAY == 0 and m + MINUTES_PER_DAY <= stop_min and m + MINUTES_PER_DAY <= now_min \
                        and self._hour_is_plain(symbol, m, m + MINUTES_PER_DAY):
                    for hour in path.hours(rel // MINUTES_PER_DAY):
                        out = merge(out, hour)
                    m += MINUTES_PER_DAY
                    continue
                if self._hour_is_plain(symbol, m, m + 60):
                    day, j = divmod(rel, MINUTES_PER_DAY)
                    out = merge(out, path.hours(day)[j // 60])
                    m += 60
                    continue
            out = merge(out, self.minute(symbol, m, now_ms))
            m += 1
        return out

    # prices -----------------------------------------------------------------
    def price_ticks(self, symbol, now_ms):
        return self.minute(symbol, now_ms // 60000, now_ms)[C]

    def price(self, symbol, now_ms) -> Decimal:
        sym = self.symbols[symbol]
        return sym.price_of(self.price_ticks(symbol, now_ms))

    def half_spread_ticks(self, symbol, mid_ticks):
        sym = self.symbols[symbol]
        return max(1, round(mid_ticks * sym.spread_bps / 20000))

    def book_top(self, symbol, now_ms):
        """(bid ticks, ask ticks)."""
        mid = self.price_ticks(symbol, now_ms)
        half = self.half_spread_ticks(symbol, mid)
        return max(1, mid - half), mid + half

    def execution_price(self, symbol, side, qty: Decimal, now_ms) -> Decimal:
        """The price a market order of ``qty`` fills at: top of book, slippage, and impact."""
        sym = self.symbols[symbol]
        bid, ask = self.book_top(symbol, now_ms)
        impact_bps = min(5000.0, 10000.0 * float(qty / sym.step) / (sym.volume_units * 60))
        bps = Decimal(str(self.slippage_bps + impact_bps)) / Decimal(10000)
        if side == "BUY":
            return sym.tick * (Decimal(ask) * (1 + bps)).to_integral_value(rounding=ROUND_CEILING)
        return sym.tick * max(1, int((Decimal(bid) * (1 - bps)).to_integral_value(rounding=ROUND_FLOOR)))

    def depth(self, symbol, limit, now_ms):
        sym = self.symbols[symbol]
        bid, ask = self.book_top(symbol, now_ms)
        gap = max(1, round(bid * 0.00005))
        minute = now_ms // 60000
        state = _stable_int(self.seed, symbol, "book", minute) | 1
        bids, asks = [], []
        for i in range(limit):
            state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
            q1 = sym.volume_units * (1 + (state >> 40) % 400) // 200
            state = (state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
            q2 = sym.volume_units * (1 + (state >> 40) % 400) // 200
            if bid - i * gap > 0:
                bids.append([fmt(sym.price_of(bid - i * gap)), fmt(sym.qty_of(max(1, q1)))])
            asks.append([fmt(sym.price_of(ask + i * gap)), fmt(sym.qty_of(max(1, q2)))])
        return {"lastUpdateId": minute * 1000 + (now_ms % 60000) // 60, "bids": bids, "asks": asks}

    # candles --------------------------------------------------------------
    def bucket_start(self, minute, interval_min):
        if interval_min == 10080:
            return (minute - WEEK_OFFSET_MIN) // interval_min * interval_min + WEEK_OFFSET_MIN
        return minute // interval_min * interval_min

    def klines(self, symbol, interval, start_ms, end_ms, limit, now_ms):
        step = INTERVALS[interval]
        now_min = now_ms // 60000
        last_bucket = self.bucket_start(now_min, step)
        if end_ms is not None:
            last_bucket = min(last_bucket, self.bucket_start(end_ms // 60000, step))
        first_bucket = self.bucket_start(ORIGIN_MIN, step)
        if first_bucket < ORIGIN_MIN:
            first_bucket += step
        if start_ms is not None:
            b = self.bucket_start(start_ms // 60000, step)
            if b * 60000 < start_ms:
                b += step
            first_bucket = max(first_bucket, b)
            buckets = range(first_bucket, last_bucket + 1, step)[:limit]
        else:
            buckets = range(first_bucket, last_bucket + 1, step)[-limit:]
        return [self.kline_row(symbol, b, step, now_ms) for b in buckets]

    def kline_row(self, symbol, bucket, step, now_ms):
        sym = self.symbols[symbol]
        cndl = self.aggregate(symbol, bucket, bucket + step, now_ms)
        t, s, tq = sym.tick, sym.step, sym.tick * sym.step
        return [
            bucket * 60000, fmt(t * cndl[O]), fmt(t * cndl[H]), fmt(t * cndl[L]), fmt(t * cndl[C]),
            fmt(s * cndl[V]), (bucket + step) * 60000 - 1, fmt(tq * cndl[QV]), cndl[N],
            fmt(s * cndl[TB]), fmt(tq * cndl[TBQ]), "0",
        ]

    def ticker_24h(self, symbol, now_ms):
        sym = self.symbols[symbol]
        now_min = now_ms // 60000
        cndl = self.aggregate(symbol, now_min - MINUTES_PER_DAY + 1, now_min + 1, now_ms)
        prev = self.minute(symbol, now_min - MINUTES_PER_DAY, now_ms)
        bid, ask = self.book_top(symbol, now_ms)
        t, s, tq = sym.tick, sym.step, sym.tick * sym.step
        last, open_ = t * cndl[C], t * cndl[O]
        change = last - open_
        volume = s * cndl[V]
        quote_volume = tq * cndl[QV]
        wavg = quote_volume / volume if volume else last
        first_id = (now_min - MINUTES_PER_DAY + 1) * 100
        return {
            "symbol": symbol, "priceChange": fmt(change), "priceChangePercent": f"{change / open_ * 100:.3f}",
            "weightedAvgPrice": fmt(wavg), "prevClosePrice": fmt(t * prev[C]), "lastPrice": fmt(last),
            "lastQty": fmt(sym.qty_of(max(1, sym.volume_units // 37))), "bidPrice": fmt(t * bid),
            "bidQty": fmt(sym.qty_of(sym.volume_units // 3 or 1)), "askPrice": fmt(t * ask),
            "askQty": fmt(sym.qty_of(sym.volume_units // 4 or 1)), "openPrice": fmt(open_),
            "highPrice": fmt(t * cndl[H]), "lowPrice": fmt(t * cndl[L]), "volume": fmt(volume),
            "quoteVolume": fmt(quote_volume), "openTime": now_ms - 86400000, "closeTime": now_ms,
            "firstId": first_id, "lastId": first_id + cndl[N] - 1, "count": cndl[N],
        }
