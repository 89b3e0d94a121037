"""Fees in any asset: a fee paid in BNB (Binance's "pay fees with BNB") valued in the bot's quote at the fill's
time and counted in the position, PnL and fee figures; older fills at their candle's close; KFEE at its fixed
rate; a fee no market values said so, never silently zero."""

from datetime import timedelta
from decimal import Decimal

import pytest

from exchanges import Credentials, exchange_class
from keys.services import key_exchange, key_link
from portfolios import pnl
from portfolios.execution import signal_execute
from portfolios.ledger import fills_store
from portfolios.models import Fill, Order, Position
from portfolios.valuation import fee_valuer, price_in
from tests.portfolios.conftest import issue_signal, make_bot

pytestmark = pytest.mark.django_db


@pytest.fixture
def bnb_key(alice, paper):
    account = paper.create_account(venue="binance", USDT="10000", USDC="10000", BNB="2", bnb_fees=True)
    secret = paper.create_key(account)
    key = key_link(owner=alice, exchange="paper", label="Pays fees in BNB", confirmed_no_withdrawals=True,
                   credentials=Credentials(api_key=secret["api_key"], secret=secret["secret"]))
    key.paper_account = account
    return key


@pytest.mark.parametrize("quote", ["USDT", "USDC"])
def test_a_bnb_fee_is_valued_in_the_bots_quote_and_counted_in_its_position(quote, alice, bnb_key, strategy, paper):
    bot = make_bot(alice, bnb_key, strategy, markets=(f"BTC/{quote}",), quote=quote)
    order = signal_execute(bot_id=bot.pk, signal_id=issue_signal(strategy, f"BTC/{quote}", "buy", "0.5").pk)
    order = Order.objects.get(pk=order.pk)
    [fill] = Fill.objects.filter(order=order)
    [trade] = paper.account(bnb_key.paper_account)["trades"]
    assert (fill.fee_asset, fill.fee) == ("BNB", Decimal(trade["commission"]))
    _key, exchange = key_exchange(key_id=bnb_key.pk)
    bnb_price = Decimal(str(exchange.ticker_price(f"BNB/{quote}")))
    assert fill.fee_valued_by == f"BNB/{quote}"
    assert fill.fee_in_quote == fill.fee * bnb_price
    # Binance charges 0.075 % of the trade's value in BNB (0.1 % less its 25 % discount).
    assert fill.fee_in_quote == pytest.approx(fill.cost * Decimal("0.00075"), rel=Decimal("0.002"))

    # The bot received the whole quantity; the BNB fee is part of what the position cost.
    position = Position.objects.get(bot=bot, market=f"BTC/{quote}")
    assert position.quantity == fill.quantity
    assert position.cost_basis == fill.cost + fill.fee_in_quote
    assert position.fees_paid == fill.fee_in_quote
    figures = pnl.bots_pnl([bot], now=fill.traded_at)[bot.pk]
    assert figures.fees == fill.fee_in_quote
    assert figures.unrealized == (position.last_price - position.average_entry) * position.quantity


def test_an_older_fill_is_valued_at_its_candles_close(alice_paper_key, paper, paper_account):
    _key, exchange = key_exchange(key_id=alice_paper_key.pk)
    an_hour_ago = exchange.exchange_clock_ms() - 3600_000
    value = fee_valuer(exchange, "BTC/USDT")
    worth, how = value(Decimal("0.01"), "BNB", Decimal("90000"), an_hour_ago)
    close = Decimal(str(exchange.candle_close("BNB/USDT", an_hour_ago)))
    assert how == "BNB/USDT candle close"
    assert worth == Decimal("0.01") * close


def test_a_fee_no_market_values_is_stored_as_not_valued(alice, alice_paper_key, paper, paper_account):
    _key, exchange = key_exchange(key_id=alice_paper_key.pk)
    trade = {"id": "t-1", "order": "", "price": 100, "amount": 1, "cost": 100, "side": "buy",
             "timestamp": exchange.exchange_clock_ms(), "fee": {"cost": 3, "currency": "XYZ"}}
    [fill] = fills_store(key=alice_paper_key, market="BTC/USDT", trades=[trade], orders={},
                         value_fee=fee_valuer(exchange, "BTC/USDT"))
    assert (fill.fee_in_quote, fill.fee_valued_by) == (Decimal(0), "not valued: no market from XYZ to USDT")


def test_kraken_fee_credits_count_at_their_fixed_rate(paper, settings):
    kraken = exchange_class("paper_kraken")()
    usd_in_eur, how = price_in(kraken, "USD", "EUR")
    price, how = price_in(kraken, "KFEE", "EUR")
    assert price == Decimal("0.01") * usd_in_eur
    assert how.startswith("KFEE = 0.01 USD; ")


def test_an_old_fill_read_by_reconciliation_a_day_later_is_still_valued(alice_paper_key, paper, paper_account):
    _key, exchange = key_exchange(key_id=alice_paper_key.pk)
    yesterday = exchange.exchange_clock_ms() - int(timedelta(days=1).total_seconds() * 1000)
    trade = {"id": "t-2", "order": "", "price": 90000, "amount": "0.01", "cost": 900, "side": "buy",
             "timestamp": yesterday, "fee": {"cost": "0.002", "currency": "BNB"}}
    [fill] = fills_store(key=alice_paper_key, market="BTC/USDT", trades=[trade], orders={},
                         value_fee=fee_valuer(exchange, "BTC/USDT"))
    assert fill.fee_valued_by == "BNB/USDT candle close"
    assert fill.fee_in_quote == Decimal("0.002") * Decimal(str(exchange.candle_close("BNB/USDT", yesterday)))
