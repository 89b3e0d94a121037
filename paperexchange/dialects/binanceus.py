"""Binance.US: Binance's API shape at ``BASE/binanceus``, with Binance.US's routes, weights and limits.

What differs from Binance (docs.binance.us, and ccxt's ``binanceus`` class):

- weights: exchangeInfo 10, account 10, order query 2, openOrders 3 (40
  without a symbol), allOrders and myTrades 10, klines 1, depth 1/5/10/50 by
  limit, tickers 1 for one symbol (ticker/24hr 40, price and bookTicker 2 for
  all); one request weight of 1,200 a minute per IP, sapi routes included;
  100 orders per 10 seconds and 200,000 a day per account;
- no ``sapi/v1/account/apiRestrictions`` (ccxt's ``binanceus`` inherits the
  method from ``binance``, but Binance.US does not serve it): a key's
  permissions show in ``api/v3/account`` (``canTrade``, ``canWithdraw``); the
  account and API trading status are ``sapi/v3/accountStatus`` and
  ``sapi/v3/apiTradingStatus``; the fee rates ``sapi/v1/asset/query/trading-fee``;
- no margin, so no ``margin/allPairs`` routes, and no ``uiKlines``.
"""

from ..plumbing import Route
from . import binance as b

LIMITS = {"weight_per_minute": 1200, "orders_per_10s": 100, "orders_per_day": 200000}


def h_account_status(ctx):
    return {"msg": "Normal", "success": True}


def h_api_trading_status(ctx):
    return {"success": True, "status": {
        "isLocked": False, "plannedRecoverTime": 0, "triggerCondition": {"GCR": 150, "IFER": 150, "UFR": 300},
        "indicators": {}, "updateTime": ctx.now}}


def _depth_weight(params):
    raw = params.get("limit") or "100"
    limit = int(raw) if raw.isdigit() else 100
    return 1 if limit <= 100 else 5 if limit <= 500 else 10 if limit <= 1000 else 50


ROUTES = [
    Route("GET", "/api/v3/ping", b.h_ping, 1),
    Route("GET", "/api/v3/time", b.h_time, 1),
    Route("GET", "/api/v3/exchangeInfo", b.h_exchange_info, 10),
    Route("GET", "/api/v3/klines", b.h_klines, 1),
    Route("GET", "/api/v3/ticker/24hr", b.h_ticker_24hr, b.ticker_weight(1, 40)),
    Route("GET", "/api/v3/ticker/price", b.h_ticker_price, b.ticker_weight(1, 2)),
    Route("GET", "/api/v3/ticker/bookTicker", b.h_book_ticker, b.ticker_weight(1, 2)),
    Route("GET", "/api/v3/avgPrice", b.h_avg_price, 1),
    Route("GET", "/api/v3/depth", b.h_depth, _depth_weight),
    Route("GET", "/sapi/v1/system/status", b.h_system_status, 1),
    Route("GET", "/api/v3/account", b.h_account, 10, signed="read"),
    Route("POST", "/api/v3/order", b.h_order_new, 1, signed="trade", is_order=True),
    Route("POST", "/api/v3/order/test", b.h_order_test, 1, signed="trade"),
    Route("GET", "/api/v3/order", b.h_order_get, 2, signed="read"),
    Route("DELETE", "/api/v3/order", b.h_order_cancel, 1, signed="trade"),
    Route("GET", "/api/v3/openOrders", b.h_open_orders, lambda p: 3 if p.get("symbol") else 40, signed="read"),
    Route("DELETE", "/api/v3/openOrders", b.h_cancel_open_orders, 1, signed="trade"),
    Route("GET", "/api/v3/allOrders", b.h_all_orders, 10, signed="read"),
    Route("GET", "/api/v3/myTrades", b.h_my_trades, 10, signed="read"),
    Route("GET", "/sapi/v3/accountStatus", h_account_status, 1, signed="read"),
    Route("GET", "/sapi/v3/apiTradingStatus", h_api_trading_status, 1, signed="read"),
    Route("GET", "/sapi/v1/asset/query/trading-fee", b.h_trade_fee, 1, signed="read"),
]

DIALECT = b.BinanceDialect("binanceus", "/binanceus", ROUTES, limits=LIMITS, separate_sapi_weight=False)
