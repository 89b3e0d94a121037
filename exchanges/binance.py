"""Binance and Binance.US: numeric trade ids (``fromId``), ``newClientOrderId``, apiRestrictions."""

import ccxt

from exchanges.base import API_KEY, CredentialField, Exchange, KeyPermissions, TradesPage
from exchanges.budget import Limits
from exchanges.errors import OrderUnknown
from exchanges.headers import header_number


class Binance(Exchange):
    name = "binance"
    label = "Binance"
    ccxt_id = "binance"
    credential_fields = (
        API_KEY,
        CredentialField("api_secret", "API secret", "The HMAC secret. Leave empty if you use an Ed25519 key.", required=False),
        CredentialField(
            "private_key",
            "Ed25519 private key",
            "For a self-generated Ed25519 key pair: the private key in PEM format.",
            required=False,
            multiline=True,
        ),
    )
    reports_permissions = True
    quotes = ("USDT", "USDC")
    # Codes that mean "this key (or its IP, or its signature) is refused", whatever
    # class ccxt picked (it reports -2015 as DDoSProtection after a first
    # successful private call).
    error_classes = ((r'"code"\s*:\s*(-2014|-2015|-1022|-2008)\b', ccxt.AuthenticationError),)
    default_limits = Limits(weight_per_minute=6000, orders_per_10s=100, orders_per_day=200_000)
    # Binance refuses a signed request once its server time is past timestamp + recvWindow (and one stamped
    # more than 1 s ahead of it); each order carries both, so it cannot execute later than that.
    request_window_ms = 5000
    weights = {
        "load_markets": 20,
        "fetch_balance": 20,
        "create_order": 1,
        "fetch_order": 4,
        "fetch_order_trades": 5,  # myTrades with orderId
        "cancel_order": 1,
        "fetch_open_orders": lambda args, kwargs: 6 if (args and args[0]) or kwargs.get("symbol") else 80,
        "fetch_my_trades": lambda args, kwargs: 5 if (len(args) > 3 and (args[3] or {}).get("orderId")) else 20,
        "fetch_orders": 20,
        "fetch_ohlcv": 2,
        "fetch_ticker": 2,
        "fetch_tickers": 80,
        "sapi_get_account_apirestrictions": 1,
    }

    def limits_from_markets_response(self, response):
        """The limits Binance publishes in exchangeInfo.rateLimits."""
        if not isinstance(response, dict) or "rateLimits" not in response:
            return None
        found = {}
        seconds = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}
        for rule in response["rateLimits"]:
            window = seconds.get(rule.get("interval"), 0) * int(rule.get("intervalNum", 1))
            found[(rule.get("rateLimitType"), window)] = int(rule.get("limit", 0))
        d = self.default_limits
        return Limits(
            weight_per_minute=found.get(("REQUEST_WEIGHT", 60), d.weight_per_minute),
            orders_per_10s=found.get(("ORDERS", 10), d.orders_per_10s),
            orders_per_day=found.get(("ORDERS", 86400), d.orders_per_day),
        )

    def used_weight(self, headers):
        return header_number(headers, "x-mbx-used-weight-1m")

    def ccxt_config(self):
        config = super().ccxt_config()
        config["options"].update({"fetchMarkets": {"types": ["spot"]}, "defaultType": "spot", "fetchMargins": False})
        return config

    def configure(self, client):
        client = super().configure(client)
        if self.base_url():
            # ccxt picks Binance's spot error table by the URL's host; use it on any host.
            errors = client.exceptions
            spot = errors.get("spot", {})
            client.exceptions = {
                **errors,
                "exact": {**errors.get("exact", {}), **spot.get("exact", {})},
                "broad": {**errors.get("broad", {}), **spot.get("broad", {})},
            }
        return client

    def permissions(self):
        raw = self.call("sapi_get_account_apirestrictions")
        return KeyPermissions(
            can_read=bool(raw.get("enableReading")),
            can_trade=bool(raw.get("enableSpotAndMarginTrading")),
            can_withdraw=bool(raw.get("enableWithdrawals") or raw.get("enableInternalTransfer")),
            ip_restricted=bool(raw.get("ipRestrict")),
            verified=True,
            raw={k: v for k, v in raw.items() if isinstance(v, (bool, int, str))},
        )

    # Binance ids: ``^[a-zA-Z0-9-_]{1,36}$`` in newClientOrderId; FULL answers carry the fills.

    def order_params(self, *, client_order_id, bot_id):
        return {"newClientOrderId": client_order_id, "newOrderRespType": "FULL"}

    def request_time_params(self, stamp_ms):
        return {"timestamp": stamp_ms, "recvWindow": self.request_window_ms}

    def order_by_client_id(self, *, symbol, client_order_id):
        try:
            return self.call("fetch_order", None, symbol, {"origClientOrderId": client_order_id})
        except OrderUnknown:
            return None

    # Trade ids are increasing numbers per market: read from the last one seen.

    def trades_after(self, *, symbol, cursor, since_ms):
        last = int(cursor) if cursor else 0
        if last:
            page = self.call("fetch_my_trades", symbol, None, self.trades_page_size, {"fromId": last + 1},
                             bookkeeping=True)
        else:
            # As on Binance, a read by time covers 24 hours from ``since``: the caller
            # moves ``since`` on until the first trade is seen.
            page = self.call("fetch_my_trades", symbol, since_ms, self.trades_page_size, bookkeeping=True)
        full = len(page) >= self.trades_page_size
        page = sorted((t for t in page if int(t["id"]) > last), key=lambda t: int(t["id"]))
        newest = max((int(t["id"]) for t in page), default=last)
        return TradesPage(trades=page, cursor=str(newest) if newest else "", more=full)


class BinanceUS(Binance):
    """Binance's API at Binance.US, which documents no way to read a key's permissions.

    Its ``/api/v3/account`` flags (canTrade, canWithdraw) describe the account,
    not the key; Binance's ``sapi/v1/account/apiRestrictions`` is not served. So
    a Binance.US key's withdraw right is confirmed by its owner, as on Bitvavo.
    """

    name = "binanceus"
    label = "Binance.US"
    ccxt_id = "binanceus"
    quotes = ("USDT", "USDC")
    reports_permissions = False
    # Binance.US publishes 1,200 request weight a minute and 100 orders per 10 s.
    default_limits = Limits(weight_per_minute=1200, orders_per_10s=100, orders_per_day=200_000)

    def permissions(self):
        return Exchange.permissions(self)
