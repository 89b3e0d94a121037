"""One Trading: a bearer token, UUID ``client_id``, trades read in windows of at most seven days."""

import time

import ccxt

from exchanges.base import CredentialField, Exchange
from exchanges.budget import Limits
from exchanges.errors import OrderUnknown

WINDOW_MS = 7 * 24 * 3600 * 1000


class OneTrading(Exchange):
    name = "onetrading"
    label = "One Trading"
    ccxt_id = "onetrading"
    credential_fields = (CredentialField("api_key", "API key", "One Trading keys are a single token."),)
    quotes = ("EUR",)
    client_order_id_style = "uuid"
    # ccxt paces One Trading at one call per 300 ms: 200 a minute.
    default_limits = Limits(weight_per_minute=200, orders_per_10s=20, orders_per_day=100_000, weight_per_key=True)
    trades_page_size = 100
    trades_newest_first = True
    # A 500 may come after the order executed: look it up, never call it refused.
    error_classes = ((r'"error"\s*:\s*"INTERNAL_SERVER_ERROR"', ccxt.NetworkError),)

    # One Trading's REST requests carry no timestamp, so a request held in the network has no deadline: an
    # order whose answer was lost is looked up, and sent again only after ``unbounded_request_ms``.
    request_window_ms = None

    def order_params(self, *, client_order_id, bot_id):
        return {"client_id": client_order_id}

    def order_by_client_id(self, *, symbol, client_order_id):
        """One Trading's own route for an order by client id (ccxt's fetch_order puts an order id in the path).

        One Trading accepts a client id it has seen before, so this lookup is
        all that stands between a lost answer and a second order.
        """
        try:
            raw = self.call("private_get_account_orders_client_client_id", {"client_id": client_order_id})
        except OrderUnknown:
            return None
        return self.client.parse_order(raw, self.market(symbol))

    def trades_between(self, *, symbol, start_ms):
        """A read covers at most seven days from ``since``: walk the windows up to now, each newest first."""
        found, now = [], int(time.time() * 1000)
        start = start_ms
        while start <= now:
            end = min(start + WINDOW_MS, now + 60_000)
            found += super().trades_between(symbol=symbol, start_ms=start, end_ms=end)
            start = end
        return found
