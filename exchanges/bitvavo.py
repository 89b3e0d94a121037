"""Bitvavo: EUR markets, UUID ``clientOrderId`` with the required ``operatorId``, trades read by time."""

import time

import ccxt

from exchanges.base import Exchange
from exchanges.budget import Limits
from exchanges.headers import header_number


class Bitvavo(Exchange):
    name = "bitvavo"
    label = "Bitvavo"
    ccxt_id = "bitvavo"
    quotes = ("EUR",)
    client_order_id_style = "uuid"
    # Bitvavo: 1,000 weight a minute per key; most calls weigh 1. It publishes no
    # separate order limit: 100 per 10 s keeps well inside the weight.
    default_limits = Limits(weight_per_minute=1000, orders_per_10s=100, orders_per_day=100_000, weight_per_key=True)
    weights = {"load_markets": 1, "fetch_balance": 5}
    trades_page_size = 1000
    # Bitvavo answers the newest trades of a window first: reads page backward from now.
    trades_newest_first = True
    # ccxt files some of Bitvavo's codes under a class that would mislead us.
    error_classes = (
        (r'"errorCode"\s*:\s*(105|110)\b', ccxt.RateLimitExceeded),   # over the weight limit: wait
        (r'"errorCode"\s*:\s*304\b', ccxt.InvalidNonce),              # timestamp outside the window: resync
        (r'"errorCode"\s*:\s*101\b', ccxt.NetworkError),              # "may or may not have succeeded"
    )

    # Bitvavo refuses a request whose Bitvavo-Access-Timestamp is older than its Bitvavo-Access-Window
    # (ccxt sends 10,000 ms) by its server's clock.
    request_window_ms = 10_000

    def configure(self, client):
        """ccxt signs Bitvavo's requests with the machine's raw clock: sign with the exchange's, as measured."""
        client = super().configure(client)
        client.milliseconds = lambda: int(time.time() * 1000) - int(client.options.get("timeDifference") or 0)
        return client

    def order_params(self, *, client_order_id, bot_id):
        # operatorId names the trader or bot of the account that placed the order: our bot.
        return {"clientOrderId": client_order_id, "operatorId": int(bot_id)}

    def order_fills(self, *, symbol, order_id, since_ms):
        """Bitvavo has no trades-of-an-order route: the market's trades since the order, of that order."""
        trades = self.call("fetch_my_trades", symbol, max(0, since_ms - self.trades_overlap_ms))
        return [t for t in trades if str(t.get("order")) == str(order_id)]

    def cancel_request(self, *, symbol, order_id, bot_id):
        return self.call("cancel_order", order_id, symbol, {"operatorId": int(bot_id)})

    def used_weight(self, headers):
        """Bitvavo reports what is left of its 1,000 a minute."""
        remaining = header_number(headers, "bitvavo-ratelimit-remaining")
        limit = header_number(headers, "bitvavo-ratelimit-limit") or self.default_limits.weight_per_minute
        return None if remaining is None else max(0, int(limit) - int(remaining))
