"""The books: balances, fills, positions and equity as the exchange reports them.

Pure bookkeeping on our own tables (no exchange call): execution records an
order's fills here as soon as it is answered, reconciliation everything else.
"""

from datetime import datetime, timezone as dt_timezone
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from oneclick.lib.money import to_decimal
from portfolios.models import Balance, Fill, Order, Position


def fill_mark(*, key):
    """The newest fill of the key stored so far: take it *before* reading balances (see :func:`balances_store`)."""
    return Fill.objects.filter(key=key).order_by("-pk").values_list("pk", flat=True).first() or 0


def balances_store(*, key, balances, mark):
    """Replace the stored balances of a key by what the exchange reports.

    ``mark`` (:func:`fill_mark`, taken before the read) says which fills the
    read already includes: :func:`free_balances` adds only the ones after it.
    """
    with transaction.atomic():
        for asset, amounts in balances.items():
            Balance.objects.update_or_create(
                key=key, asset=asset,
                defaults={"free": amounts["free"], "used": amounts["used"], "total": amounts["total"],
                          "fill_mark": mark},
            )
        Balance.objects.filter(key=key).exclude(asset__in=list(balances)).update(free=0, used=0, total=0,
                                                                                 fill_mark=mark)


def balances_read(*, key, exchange):
    """Read the account's balances from the exchange, store them and return them."""
    mark = fill_mark(key=key)
    balances = exchange.balances()
    balances_store(key=key, balances=balances, mark=mark)
    return balances


def free_balances(*, key, assets):
    """What the account has free of each asset now by our books, or None when its balances were never read.

    The last balances read, plus the fills stored since (a buy's base in, its
    cost out, fees in whichever asset they were charged), less what orders in
    flight (written or sent, answer not recorded) may take. A sell right after
    a buy so sees what the buy got, without asking the exchange again.
    """
    rows = list(Balance.objects.filter(key=key))
    if not rows:
        return None
    free = {asset: Decimal(0) for asset in assets}
    for row in rows:
        if row.asset in free:
            free[row.asset] = row.free
    mark = min(row.fill_mark for row in rows)
    for fill in Fill.objects.filter(key=key, pk__gt=mark).only(
            "market", "side", "quantity", "cost", "fee", "fee_asset"):
        base, quote = fill.market.split("/")
        sign = 1 if fill.side == "buy" else -1
        if base in free:
            free[base] += sign * fill.quantity
        if quote in free:
            free[quote] -= sign * fill.cost
        if fill.fee and fill.fee_asset in free:
            free[fill.fee_asset] -= fill.fee
    in_flight = Order.objects.filter(key=key, state__in=Order.UNRESOLVED).only(
        "market", "side", "quantity", "reference_price")
    for order in in_flight:
        base, quote = order.market.split("/")
        if order.side == "buy" and quote in free:
            free[quote] -= order.quantity * order.reference_price
        elif order.side == "sell" and base in free:
            free[base] -= order.quantity
    return {asset: max(amount, Decimal(0)) for asset, amount in free.items()}


def _fee_in_quote(fee, fee_asset, base, quote, price):
    """The fee in the quote when the fill tells it (charged in the quote or the base); else (0, "")."""
    if not fee:
        return Decimal(0), ""
    if fee_asset == quote:
        return fee, "charged in the quote"
    if fee_asset == base:
        return fee * price, "base at the fill's price"
    return Decimal(0), "not valued"


def fills_store(*, key, market, trades, orders, value_fee=None):
    """Store trades as fills (a trade already stored is skipped). Returns the new ones.

    ``orders`` maps exchange order ids to our orders; a trade of any other
    order is foreign. ``value_fee(fee, fee_asset, price, traded_at_ms)`` values
    a fee charged in a third asset (BNB, KFEE) in the quote and says how
    (:func:`portfolios.valuation.fee_value`); without it such a fee is stored
    as not valued.
    """
    base, quote = market.split("/")
    created = []
    ids = {str(trade.get("id") or "") for trade in trades} - {""}
    stored = set(Fill.objects.filter(key=key, market=market, exchange_trade_id__in=ids)
                 .values_list("exchange_trade_id", flat=True)) if ids else set()
    for trade in trades:
        trade_id = str(trade.get("id") or "")
        if not trade_id or trade_id in stored:
            continue  # read before: harmless
        stored.add(trade_id)
        order_id = str(trade.get("order") or "")
        order = orders.get(order_id)
        price = to_decimal(trade.get("price"), Decimal(0))
        quantity = to_decimal(trade.get("amount"), Decimal(0))
        fee = trade.get("fee") or {}
        fee_cost = to_decimal(fee.get("cost"), Decimal(0))
        fee_asset = fee.get("currency") or ""
        timestamp = trade.get("timestamp")
        traded_at = (
            datetime.fromtimestamp(timestamp / 1000, tz=dt_timezone.utc) if timestamp else timezone.now()
        )
        fee_in_quote, valued_by = _fee_in_quote(fee_cost, fee_asset, base, quote, price)
        if fee_cost and fee_asset not in (base, quote) and value_fee is not None:
            fee_in_quote, valued_by = value_fee(fee_cost, fee_asset, price, int(traded_at.timestamp() * 1000))
        try:
            with transaction.atomic():
                fill = Fill.objects.create(
                    key=key, bot_id=order.bot_id if order else None, order=order, market=market,
                    side=trade.get("side") or (order.side if order else "buy"),
                    price=price, quantity=quantity,
                    cost=to_decimal(trade.get("cost"), price * quantity),
                    fee=fee_cost, fee_asset=fee_asset, fee_in_quote=fee_in_quote, fee_valued_by=valued_by[:120],
                    exchange_trade_id=trade_id, exchange_order_id=order_id, foreign=order is None,
                    traded_at=traded_at,
                )
        except IntegrityError:
            continue  # read before: harmless
        created.append(fill)
    return created


def position_recompute(*, bot, market, last_price=None):
    """A bot's position in a market from its fills: average cost, fees included.

    Only fills not applied yet are read (in the order they were recorded), so a
    pass costs the same however long the history is.
    """
    base, quote = market.split("/")
    with transaction.atomic(savepoint=False):  # inside a caller's transaction, part of it
        position, _ = Position.objects.select_for_update().get_or_create(bot=bot, market=market)
        quantity, cost_basis = position.quantity, position.cost_basis
        realized, fees = position.realized_pnl, position.fees_paid
        fills = Fill.objects.filter(bot=bot, market=market, foreign=False, pk__gt=position.last_fill_id).order_by("pk")
        for fill in fills:
            fees += fill.fee_in_quote
            fee_base = fill.fee if fill.fee_asset == base else Decimal(0)
            # Charged in the quote, or in a third asset (BNB, KFEE) valued in the quote: a cost all the same.
            fee_quote = fill.fee if fill.fee_asset == quote else (
                Decimal(0) if fill.fee_asset == base else fill.fee_in_quote)
            if fill.side == "buy":
                quantity += fill.quantity - fee_base
                cost_basis += fill.cost + fee_quote
            else:
                sold = min(fill.quantity + fee_base, quantity)
                average = cost_basis / quantity if quantity else Decimal(0)
                realized += fill.cost - fee_quote - average * sold
                cost_basis -= average * sold
                quantity -= sold
            position.last_fill_id = fill.pk
        position.quantity, position.cost_basis = quantity, cost_basis
        position.realized_pnl, position.fees_paid = realized, fees
        position.average_entry = cost_basis / quantity if quantity > 0 else Decimal(0)
        if last_price is not None:
            position.last_price = last_price
        position.save()
    return position


def bot_equity(*, bot):
    """Allocation plus realized and unrealized PnL over the bot's positions."""
    realized = unrealized = Decimal(0)
    for position in Position.objects.filter(bot=bot):
        realized += position.realized_pnl
        unrealized += position.unrealized_pnl
    return bot.allocation + realized + unrealized, realized, unrealized
