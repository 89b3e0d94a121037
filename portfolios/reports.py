"""CSV reports of a bot or of the whole account for a period, streamed row by row.

Orders and fills are read with a chunked iterator, so a long history never sits
in memory; the daily PnL/equity rows are one per day and quote asset.
"""

import csv
from datetime import timedelta
from decimal import Decimal

from django.http import StreamingHttpResponse
from django.utils.text import slugify

from portfolios import pnl, selectors

ORDER_COLUMNS = [
    "created", "bot", "market", "side", "type", "quantity", "state", "filled_quantity", "average_price", "cost",
    "purpose", "signal_id", "client_order_id", "exchange_order_id", "error", "signal_price", "slippage_bps",
    "filled_at", "signal_to_fill_seconds",
]
FILL_COLUMNS = [
    "traded_at", "bot", "market", "side", "price", "quantity", "cost", "fee", "fee_asset", "fee_in_quote",
    "foreign", "exchange_trade_id", "exchange_order_id", "fee_valued_by",
]
DAILY_COLUMNS = ["day", "quote_asset", "equity", "realized_pnl", "unrealized_pnl", "total_pnl", "daily_pnl",
                 "time_weighted_return"]
CHUNK = 2000


class _Echo:
    """A file-like object whose write returns the line, for ``csv.writer`` in a stream."""

    def write(self, value):
        return value


def text(value):
    """Free text (a bot name, an exchange message) that a spreadsheet must not run as a formula."""
    value = str(value or "")
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def number(value):
    return "" if value is None else format(value.normalize(), "f")


def when(value):
    return value.isoformat() if value else ""


def seconds(value):
    return "" if value is None else f"{value.total_seconds():.3f}"


def order_rows(orders):
    yield ORDER_COLUMNS
    for o in orders.iterator(chunk_size=CHUNK):
        yield [
            when(o.created), text(o.bot.name), o.market, o.side, o.order_type, number(o.quantity), o.state,
            number(o.filled_quantity), number(o.average_price), number(o.cost), o.purpose, o.signal_id or "",
            o.client_order_id, o.exchange_order_id, text(o.error), number(o.signal_price), number(o.slippage_bps),
            when(o.filled_at), seconds(o.signal_to_fill),
        ]


def fill_rows(fills):
    yield FILL_COLUMNS
    for f in fills.iterator(chunk_size=CHUNK):
        yield [
            when(f.traded_at), text(f.bot.name if f.bot else ""), f.market, f.side, number(f.price),
            number(f.quantity), number(f.cost), number(f.fee), f.fee_asset, number(f.fee_in_quote),
            "yes" if f.foreign else "no", f.exchange_trade_id, f.exchange_order_id, text(f.fee_valued_by),
        ]


def daily_rows(days):
    yield DAILY_COLUMNS
    for d in days:
        yield [d.day.isoformat(), d.quote, number(d.equity), number(d.realized), number(d.unrealized),
               number(d.pnl), number(d.daily_pnl), number(d.twr.quantize(Decimal("0.000001")))]


def report_rows(*, owner, bot, kind, start, end):
    begin, stop = pnl.day_start(start), pnl.day_start(end + timedelta(days=1))
    if kind == "orders":
        return order_rows(selectors.orders_for_report(owner=owner, bot=bot, start=begin, end=stop))
    if kind == "fills":
        return fill_rows(selectors.fills_for_report(owner=owner, bot=bot, start=begin, end=stop))
    bots = [bot] if bot is not None else selectors.bots_for_daily(owner=owner)
    return daily_rows(pnl.daily(bots=bots, start=start, end=end))


def report_response(*, owner, bot=None, kind, start, end):
    writer = csv.writer(_Echo())
    rows = report_rows(owner=owner, bot=bot, kind=kind, start=start, end=end)
    response = StreamingHttpResponse((writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8")
    scope = f"bot-{bot.pk}-{slugify(bot.name) or 'bot'}" if bot is not None else "account"
    response["Content-Disposition"] = f'attachment; filename="oneclick-{scope}-{kind}-{start}-to-{end}.csv"'
    return response
