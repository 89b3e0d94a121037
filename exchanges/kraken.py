"""Kraken: ``cl_ord_id``, string trade ids read by time and offset, a decaying call counter."""

import time
from datetime import datetime, timezone

import ccxt

from exchanges.base import API_KEY, CredentialField, Exchange, KeyPermissions
from exchanges.budget import Limits

# TradesHistory answers 50 trades a page, newest first.
KRAKEN_TRADES_PAGE = 50
# How long one read of the account's trade history serves the other markets of a pass.
HISTORY_REUSE_SECONDS = 5


class Kraken(Exchange):
    name = "kraken"
    label = "Kraken"
    ccxt_id = "kraken"
    credential_fields = (
        API_KEY,
        CredentialField("api_secret", "Private key", "Kraken's base64 private key, as shown when the key was made."),
    )
    reports_permissions = True
    quotes = ("EUR", "USDT", "USDC")
    # Kraken's cl_ord_id takes a UUID (or 18 characters of free text).
    client_order_id_style = "uuid"
    # Kraken counts private calls on a counter that decays: at most 15 (starter
    # tier) and -0.33 a second. 15 calls in any 60 s never take it over 15
    # (15 / 0.33 = 45 s <= 60 s). Orders have their own counter per market (60,
    # -1 a second): 10 per 10 s never exceeds it for the same reason.
    default_limits = Limits(weight_per_minute=15, orders_per_10s=10, orders_per_day=100_000, weight_per_key=True)
    # AddOrder's ``deadline`` (RFC 3339, 2 to 60 s ahead): past it the matching engine refuses the order.
    request_window_ms = 10_000
    # Kraken's Time answers in whole seconds.
    clock_margin_ms = 1500
    error_classes = ((r"EOrder:Deadline elapsed", ccxt.InvalidNonce),)  # refused before execution: resync, look up
    # Weight on the key's call counter: history queries cost 2; orders are counted
    # apart (orders_per_10s); public data (markets, tickers, candles) never touches it.
    weights = {
        "fetch_my_trades": 2,
        "fetch_order_trades": 2,  # QueryTrades
        "fetch_closed_orders": 2,
        "create_order": 0,
        "cancel_order": 0,
        "load_markets": 0,
        "fetch_ticker": 0,
        "fetch_tickers": 0,
        "fetch_ohlcv": 0,
        "fetch_time": 0,
        "load_time_difference": 0,
    }

    def permissions(self):
        """Kraken's GetApiKeyInfo: the key's permission names and its IP allowlist."""
        raw = self.call("private_post_getapikeyinfo")
        result = raw.get("result", raw) if isinstance(raw, dict) else {}
        granted = {str(p).lower() for p in result.get("permissions", []) or []}
        restrictions = result.get("restrictions") or result.get("ip_allowlist") or []
        return KeyPermissions(
            can_read="query_funds" in granted,
            can_trade={"create_modify_orders", "cancel_close_orders"} <= granted,
            can_withdraw="withdraw_funds" in granted,
            ip_restricted=bool(restrictions),
            verified=bool(granted),
            raw={"permissions": sorted(granted)},
        )

    def order_params(self, *, client_order_id, bot_id):
        return {"cl_ord_id": client_order_id}

    def request_time_params(self, stamp_ms):
        deadline = datetime.fromtimestamp((stamp_ms + self.request_window_ms) / 1000, tz=timezone.utc)
        return {"deadline": deadline.isoformat(timespec="milliseconds").replace("+00:00", "Z")}

    def order_fills(self, *, symbol, order_id, since_ms):
        """QueryTrades takes the trade ids the order lists (QueryOrders)."""
        found = self.call("fetch_order", order_id, symbol)
        ids = [t if isinstance(t, str) else t.get("id") for t in found.get("trades") or []]
        return self.call("fetch_order_trades", order_id, symbol, None, None, {"trades": ids}) if ids else []

    def order_by_client_id(self, *, symbol, client_order_id):
        """Kraken finds an order by cl_ord_id among the open orders, then the closed ones."""
        for method in ("fetch_open_orders", "fetch_closed_orders"):
            found = self.call(method, symbol, None, None, {"cl_ord_id": client_order_id})
            for order in found:
                if order.get("clientOrderId") == client_order_id:
                    return order
        return None

    def trades_between(self, *, symbol, start_ms):
        """TradesHistory covers every market of the account, newest first, 50 a page: page by offset.

        One reconciliation reads several markets through one adapter: the
        account's history read for the first serves the others when it
        starts early enough (it costs 2 on Kraken's counter per page).
        """
        history = getattr(self, "_history", None)
        if history is None or history[0] > start_ms or time.monotonic() - history[2] > HISTORY_REUSE_SECONDS:
            found, offset = {}, 0
            while True:
                page = self.call("fetch_my_trades", None, start_ms, None, {"ofs": offset}, bookkeeping=True)
                for trade in page:
                    found.setdefault(str(trade.get("id")), trade)
                if len(page) < KRAKEN_TRADES_PAGE:
                    break
                offset += len(page)
            history = self._history = (start_ms, list(found.values()), time.monotonic())
        return [t for t in history[1] if t.get("symbol") == symbol and (t.get("timestamp") or 0) >= start_ms]
