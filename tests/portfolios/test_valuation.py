"""Equity in one currency: every held asset valued through the exchange's markets (USDC at its USDC/USDT price,
an asset with no market against the reference through a bridge), what no market values shown apart, and a
stablecoin off its peg shown on the dashboard."""

from decimal import Decimal

import pytest

from exchanges import Credentials
from keys.services import key_exchange, key_link
from portfolios.models import EquitySnapshot
from portfolios.reconcile import key_reconcile
from portfolios.valuation import price_in, value_balances
from tests.portfolios.conftest import make_bot

pytestmark = pytest.mark.django_db


def _price(exchange, symbol):
    return Decimal(str(exchange.ticker_price(symbol)))


def test_usdc_counts_at_its_market_price_in_an_account_valued_in_usdt(client, bob, alice, alice_paper_key, strategy,
                                                                       paper, paper_account):
    # A USDC bot on a venue whose main quote is USDT; the account holds 10,000 of each.
    make_bot(alice, alice_paper_key, strategy, markets=("BTC/USDC",), quote="USDC")
    paper.move_price("USDCUSDT", price="0.9995")
    key_reconcile(key_id=alice_paper_key.pk)
    _key, exchange = key_exchange(key_id=alice_paper_key.pk)
    snapshot = EquitySnapshot.objects.get(key=alice_paper_key, bot=None)
    assert snapshot.quote_asset == "USDT"
    # 10,000 USDC at the market's price (about 0.9995, a tick or two apart between the two reads), not 1:1.
    assert abs(snapshot.equity - (Decimal("10000") + Decimal("10000") * _price(exchange, "USDC/USDT"))) <= 2
    assert snapshot.equity < Decimal("19999")
    assert snapshot.valued_by == {"USDC": "USDC/USDT", "USDT": "itself"}
    assert snapshot.unvalued == {} and snapshot.pegs_off == {}

    client.force_login(alice)
    page = client.get("/").content.decode()
    assert "Accounts" in page and "off its peg" not in page
    client.force_login(bob)
    assert "Accounts" not in client.get("/").content.decode()


def test_an_asset_with_no_market_to_the_reference_goes_through_a_bridge(alice_paper_key, paper, paper_account):
    _key, exchange = key_exchange(key_id=alice_paper_key.pk)
    price, how = price_in(exchange, "SOL", "USDC")  # no SOL/USDC on this venue
    assert how == "SOL/USDT x 1/USDC/USDT"
    # The price path moves between the two reads: the bridge's product, not its last digit, is what counts.
    expected = _price(exchange, "SOL/USDT") / _price(exchange, "USDC/USDT")
    assert abs(price / expected - 1) < Decimal("0.002")
    valuation = value_balances(exchange, {"SOL": Decimal("2"), "USDC": Decimal("5")}, "USDC")
    assert abs(valuation.total - (2 * price + 5)) / (2 * price + 5) < Decimal("0.002")
    assert valuation.unvalued == {}


def test_an_asset_no_market_values_is_shown_with_its_amount_never_counted_as_zero(client, alice, paper):
    account = paper.create_account(USDT="1000", XYZ="12.5")
    secret = paper.create_key(account)
    key = key_link(owner=alice, exchange="paper", label="With XYZ", confirmed_no_withdrawals=True,
                   credentials=Credentials(api_key=secret["api_key"], secret=secret["secret"]))
    key_reconcile(key_id=key.pk)
    snapshot = EquitySnapshot.objects.get(key=key, bot=None)
    assert snapshot.equity == Decimal("1000")
    assert snapshot.unvalued == {"XYZ": "12.500000000000"}
    client.force_login(alice)
    page = client.get("/").content.decode()
    assert "12.5 XYZ" in page


def test_a_stablecoin_off_its_peg_is_shown_on_the_dashboard(client, alice, alice_paper_key, strategy, paper,
                                                           paper_account):
    make_bot(alice, alice_paper_key, strategy, markets=("BTC/USDC",), quote="USDC")
    paper.move_price("USDCUSDT", price="0.97")
    key_reconcile(key_id=alice_paper_key.pk)
    snapshot = EquitySnapshot.objects.get(key=alice_paper_key, bot=None)
    price, against = snapshot.pegs_off["USDC"]
    assert against == "USDT" and abs(Decimal(price) - Decimal("0.97")) < Decimal("0.005")
    client.force_login(alice)
    page = client.get("/").content.decode()
    assert "USDC is off its peg: 1 USDC = 0.97" in page
