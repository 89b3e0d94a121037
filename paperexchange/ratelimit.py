"""Binance's request-weight and order-count limits, with 429 then 418 escalation.

Weight is counted per source IP in fixed one-minute windows (as Binance resets
``X-MBX-USED-WEIGHT-1M`` on the minute). A client that keeps sending after a 429
in the same window is banned with 418 for ``ban_seconds``, doubling at each
new ban up to ``ban_max_seconds``. Orders are counted per account in fixed
10-second and one-day windows; a venue that counts only the orders it accepts (Binance) checks
with ``check_order`` before placing and counts with ``count_order`` once the order is placed.
"""

import math

from .errors import BinanceError


class IpState:
    __slots__ = ("minute", "used", "violations", "ban_until", "ban_level")

    def __init__(self):
        self.minute = -1
        self.used = 0
        self.violations = 0
        self.ban_until = 0
        self.ban_level = 0


class RateLimiter:
    def __init__(self, limits):
        self.defaults = dict(limits)
        self.limits = dict(limits)
        self.ips = {}
        self.accounts = {}

    def configure(self, **changes):
        for key, value in changes.items():
            if key not in self.defaults or key == "preset":
                raise ValueError(f"unknown limit {key!r}")
            self.limits[key] = float(value) if key == "ban_seconds" else int(value)

    def reset(self):
        self.limits = dict(self.defaults)
        self.ips.clear()
        self.accounts.clear()

    def rate_limits_json(self):
        return [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": self.limits["weight_per_minute"]},
            {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": self.limits["orders_per_10s"]},
            {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": self.limits["orders_per_day"]},
            {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
        ]

    def used(self, key, now_ms):
        st = self.ips.get(key)
        return st.used if st is not None and st.minute == now_ms // 60000 else 0

    def charge(self, key, weight, now_ms, limit=None):
        """Add ``weight`` for ``key`` (an IP). Returns (used, error or None, kind) with kind 429/418/None."""
        st = self.ips.get(key)
        if st is None:
            st = self.ips[key] = IpState()
        if now_ms < st.ban_until:
            retry = math.ceil((st.ban_until - now_ms) / 1000)
            return st.used, BinanceError(
                -1003, f"Way too much request weight used; IP banned until {st.ban_until}. "
                       "Please use WebSocket Streams for live updates to avoid bans.",
                status=418, headers={"Retry-After": str(retry)}), 418
        minute = now_ms // 60000
        if st.minute != minute:
            st.minute, st.used, st.violations = minute, 0, 0
        st.used += weight
        limit = limit or self.limits["weight_per_minute"]
        if st.used <= limit:
            return st.used, None, None
        st.violations += 1
        if st.violations > self.limits["ban_after_429s"]:
            st.ban_level += 1
            seconds = min(self.limits["ban_seconds"] * 2 ** (st.ban_level - 1), self.limits["ban_max_seconds"])
            st.ban_until = now_ms + int(seconds * 1000)
            return st.used, BinanceError(
                -1003, f"Way too much request weight used; IP banned until {st.ban_until}. "
                       "Please use WebSocket Streams for live updates to avoid bans.",
                status=418, headers={"Retry-After": str(math.ceil(seconds))}), 418
        retry = math.ceil(((minute + 1) * 60000 - now_ms) / 1000)
        return st.used, BinanceError(
            -1003, f"Too much request weight used; current limit is {limit} request weight per 1 MINUTE. "
                   "Please use WebSocket Streams for live updates to avoid bans.",
            status=429, headers={"Retry-After": str(retry)}), 429

    def order_counts(self, account_id, now_ms):
        st = self.accounts.get(account_id)
        if st is None:
            return 0, 0
        c10 = st[1] if st[0] == now_ms // 10000 else 0
        cday = st[3] if st[2] == now_ms // 86400000 else 0
        return c10, cday

    def _order_window(self, account_id, now_ms):
        st = self.accounts.get(account_id)
        w10, wday = now_ms // 10000, now_ms // 86400000
        if st is None:
            st = self.accounts[account_id] = [w10, 0, wday, 0]
        if st[0] != w10:
            st[0], st[1] = w10, 0
        if st[2] != wday:
            st[2], st[3] = wday, 0
        return st

    def check_order(self, account_id, now_ms):
        """Whether one more order fits, without counting it. Returns (count 10s, count 1d, error or None)."""
        st = self._order_window(account_id, now_ms)
        if st[1] + 1 > self.limits["orders_per_10s"]:
            retry = math.ceil(((st[0] + 1) * 10000 - now_ms) / 1000)
            return st[1], st[3], BinanceError(
                -1015, f"Too many new orders; current limit is {self.limits['orders_per_10s']} orders per 10 SECOND.",
                status=429, headers={"Retry-After": str(retry)})
        if st[3] + 1 > self.limits["orders_per_day"]:
            retry = math.ceil(((st[2] + 1) * 86400000 - now_ms) / 1000)
            return st[1], st[3], BinanceError(
                -1015, f"Too many new orders; current limit is {self.limits['orders_per_day']} orders per 1 DAY.",
                status=429, headers={"Retry-After": str(retry)})
        return st[1], st[3], None

    def count_order(self, account_id, now_ms):
        """Count one order. Returns (count 10s, count 1d)."""
        st = self._order_window(account_id, now_ms)
        st[1] += 1
        st[3] += 1
        return st[1], st[3]

    def charge_order(self, account_id, now_ms):
        """Check and count one new order. Returns (count 10s, count 1d, error or None)."""
        c10, cday, err = self.check_order(account_id, now_ms)
        if err is not None:
            return c10, cday, err
        return (*self.count_order(account_id, now_ms), None)
