"""One request budget per exchange and egress IP, shared by every worker.

Built on the ``limits`` library's moving-window limiter: Redis storage when
``REDIS_URL`` is set (every process of every machine shares one budget; the
moving window is one atomic Lua script per hit), memory otherwise (one budget
per process, so the embedded demo gives each worker process an equal share).

- ``acquire(weight, orders=...)`` is called before each exchange request and
  waits until the weight (and, for an order, the account's order counts) fits.
  Reads for bookkeeping leave a reserve so order placement is served first.
- ``observe(used)`` keeps us in step with the exchange: when it reports
  (in the headers its adapter reads) more used weight than we counted (another client on the same IP), the
  difference is taken from the budget too.
- ``block(seconds)`` after a 429/418: every worker sharing the IP waits.

A moving 60-second window never admits more than an exchange's fixed
per-minute window would, so the budget is never exceeded.
"""

import hashlib
import logging
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from limits import RateLimitItemPerDay, RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

log = logging.getLogger(__name__)

# Share of the weight budget kept free for order placement when reading for bookkeeping.
BOOKKEEPING_RESERVE = 0.2
MAX_WAIT_SECONDS = 120
# After a 429 every worker on the IP waits at least this long, even when the
# exchange says less: Binance bans clients that keep sending after a 429.
MIN_BACKOFF_SECONDS = 5


class BudgetExhausted(Exception):
    def __init__(self, retry_after):
        super().__init__(f"Exchange request budget exhausted; retry in {retry_after:.1f}s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Limits:
    weight_per_minute: int
    orders_per_10s: int
    orders_per_day: int
    # Binance counts request weight per IP; Kraken, Bitvavo and One Trading per API key.
    weight_per_key: bool = False


_lock = threading.Lock()
_storage = None
_storage_url = None


def _limiter():
    global _storage, _storage_url
    url = settings.REDIS_URL or "memory://"
    with _lock:
        if _storage is None or _storage_url != url:
            options = {"key_prefix": f"{settings.CACHE_KEY_PREFIX}:limits"} if settings.REDIS_URL else {}
            _storage = storage_from_string(url, **options)
            _storage_url = url
        return MovingWindowRateLimiter(_storage)


def reset():
    """Forget every count of this deployment (its key prefix only)."""
    _limiter().storage.reset()


def process_share():
    """The fraction of a budget one process may use."""
    if settings.REDIS_URL:
        return 1.0
    # Without Redis each process counts alone: split the budget between the
    # task workers and the web process.
    return 1.0 / (settings.Q_CLUSTER.get("workers", 1) + 1)


def _digest(text):
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class Budget:
    """The budget of one exchange endpoint (host) seen from one egress IP (and one key, where the venue counts per key)."""

    def __init__(self, *, exchange, host, limits, account=""):
        share = process_share()
        ip = (settings.ONECLICK_EGRESS_IPS or ["default"])[0]
        self.scope = f"{settings.CACHE_KEY_PREFIX}:{exchange}:{_digest(host)}:{ip}"
        self.account = _digest(account) if account else ""
        if limits.weight_per_key and self.account:
            self.scope += f":{self.account}"
        self.weight = RateLimitItemPerMinute(max(1, int(limits.weight_per_minute * share)))
        self.orders_10s = RateLimitItemPerSecond(max(1, int(limits.orders_per_10s * share)), 10)
        self.orders_day = RateLimitItemPerDay(max(1, int(limits.orders_per_day * share)))
        self.limiter = _limiter()

    # The blocked-until mark is seen by every process: kept in Redis when there
    # is one, in the database cache otherwise.

    def _block_key(self):
        return f"ratelimit-blocked:{self.scope}"

    def blocked_for(self):
        until = cache.get(self._block_key())
        return max(0.0, until - time.time()) if until else 0.0

    def block(self, seconds):
        seconds = max(MIN_BACKOFF_SECONDS, float(seconds or 60))
        until = max(time.time() + seconds, time.time() + self.blocked_for())
        cache.set(self._block_key(), until, timeout=int(seconds) + 2)

    # weight

    def used_weight(self):
        stats = self.limiter.get_window_stats(self.weight, self.scope)
        return self.weight.amount - stats.remaining

    def _wait_time(self, item, *ids):
        stats = self.limiter.get_window_stats(item, *ids)
        return max(0.05, stats.reset_time - time.time())

    def try_acquire(self, weight, *, order=False, bookkeeping=False):
        """Take the weight (and an order slot) now, or return seconds to wait."""
        blocked = self.blocked_for()
        if blocked:
            return blocked
        # Weight 0: a call the venue does not count on this budget (Kraken's orders have their own counter).
        weight = max(0, int(weight))
        if bookkeeping and weight:
            reserve = int(self.weight.amount * BOOKKEEPING_RESERVE)
            if self.used_weight() + weight > self.weight.amount - reserve:
                return self._wait_time(self.weight, self.scope)
        if order and self.account:
            for item in (self.orders_10s, self.orders_day):
                if not self.limiter.test(item, self.scope, self.account):
                    return self._wait_time(item, self.scope, self.account)
        if weight and not self.limiter.hit(self.weight, self.scope, cost=weight):
            return self._wait_time(self.weight, self.scope)
        if order and self.account:
            # Counted after the weight: a race can only make us more careful.
            self.limiter.hit(self.orders_10s, self.scope, self.account)
            self.limiter.hit(self.orders_day, self.scope, self.account)
        return 0.0

    def acquire(self, weight, *, order=False, bookkeeping=False, max_wait=MAX_WAIT_SECONDS):
        deadline = time.monotonic() + max_wait
        waited = False
        while True:
            wait = self.try_acquire(weight, order=order, bookkeeping=bookkeeping)
            if not wait:
                return
            if not waited:
                log.info("request budget %s used up: waiting %.1f s", self.scope.rsplit(":", 2)[0], wait)
                waited = True
            if time.monotonic() + wait > deadline:
                raise BudgetExhausted(wait)
            time.sleep(min(wait, 1.0))

    def observe(self, reported):
        """Never assume less usage than the exchange reports (``reported``: its used weight, or None)."""
        if reported is None:
            return
        # The exchange counts the whole IP; our share of it is what we may use.
        reported = int(reported * process_share())
        stats = self.limiter.get_window_stats(self.weight, self.scope)
        missing = reported - (self.weight.amount - stats.remaining)
        cost = min(missing, stats.remaining)
        if cost > 0:
            self.limiter.hit(self.weight, self.scope, cost=cost)
