"""Binance accounts that pay their fees in BNB, driven with the unmodified ccxt binance class.

Every expected figure is computed here by hand: the commission is the trade's quote value x 0.1 % x 0.75,
in BNB at the BNB market's price at the trade's millisecond, rounded up to 8 decimals. The price comes
from the server's own price path, a pure function of (seed, symbol, time), rebuilt in this process.
"""

from decimal import ROUND_UP, Decimal

import ccxt
import pytest

EIGHT = Decimal("1e-8")
RATE = Decimal("0.001")


def bnb_commission(cost, bnb_price):
    return (cost * RATE * Decimal("0.75") / bnb_price).quantize(EIGHT, rounding=ROUND_UP)


def client(paper_exchange, account_id):
    exchange = paper_exchange.ccxt(paper_exchange.create_key(account_id))
    exchange.load_markets()
    exchange.paper_account_id = account_id
    return exchange


@pytest.fixture
def bnb_payer(paper_exchange):
    """A Binance account paying its fees in BNB: 10,000 USDT, 10,000 USDC, 1 BNB."""
    paper_exchange.reset()
    yield client(paper_exchange, paper_exchange.create_account(USDT="10000", USDC="10000", BNB="1", bnb_fees=True))
    paper_exchange.reset()


def test_bnb_markets_are_listed_on_binance(bnb_payer):
    assert {"BNB/USDT", "BNB/USDC"} <= set(bnb_payer.symbols)
    bnb = bnb_payer.market("BNB/USDT")
    assert bnb["precision"] == {"amount": 0.001, "price": 0.01, "base": 1e-08, "quote": 1e-08}
    assert bnb["limits"]["amount"]["min"] == 0.001 and bnb["limits"]["cost"]["min"] == 5
    assert bnb_payer.fetch_ticker("BNB/USDC")["last"] > 0


@pytest.mark.parametrize("symbol, quote, bnb_market", [("BTC/USDT", "USDT", "BNBUSDT"),
                                                       ("BTC/USDC", "USDC", "BNBUSDC")])
def test_a_buy_and_a_sell_pay_their_fee_in_bnb_at_a_quarter_off(paper_exchange, bnb_payer, symbol, quote,
                                                                 bnb_market):
    account_id = bnb_payer.paper_account_id
    bought = bnb_payer.create_order(symbol, "market", "buy", 0.01)
    buy, = bnb_payer.fetch_my_trades(symbol)
    cost = Decimal(buy["info"]["price"]) * Decimal("0.01")
    fee = bnb_commission(cost, paper_exchange.price_at(bnb_market, buy["timestamp"]))
    assert Decimal(0) < fee < Decimal("0.01")
    # as Binance reports it: in myTrades and in the FULL order answer's fills
    assert (buy["info"]["commission"], buy["info"]["commissionAsset"]) == (f"{fee:.8f}", "BNB")
    fill, = bought["info"]["fills"]
    assert (fill["commission"], fill["commissionAsset"]) == (f"{fee:.8f}", "BNB")
    # ccxt's unified trade and order
    assert buy["fee"] == {"cost": float(fee), "currency": "BNB"}
    assert bought["fee"] == {"cost": float(fee), "currency": "BNB"}
    # the whole 0.01 BTC arrives; the fee left the BNB, to the last satoshi of it
    assert paper_exchange.free_balances(account_id) == {"USDT": Decimal(10000) - cost if quote == "USDT" else 10000,
                                                "USDC": Decimal(10000) - cost if quote == "USDC" else 10000,
                                                "BTC": Decimal("0.01"), "BNB": Decimal(1) - fee}

    bnb_payer.create_order(symbol, "market", "sell", 0.01)
    _, sell = bnb_payer.fetch_my_trades(symbol)
    proceeds = Decimal(sell["info"]["price"]) * Decimal("0.01")
    sell_fee = bnb_commission(proceeds, paper_exchange.price_at(bnb_market, sell["timestamp"]))
    assert sell["fee"] == {"cost": float(sell_fee), "currency": "BNB"}
    assert (sell["info"]["commission"], sell["info"]["commissionAsset"]) == (f"{sell_fee:.8f}", "BNB")
    balances = paper_exchange.free_balances(account_id)
    assert balances[quote] == Decimal(10000) - cost + proceeds
    assert balances["BTC"] == 0
    assert balances["BNB"] == Decimal(1) - fee - sell_fee


def test_bnb_bought_pays_its_own_fee(paper_exchange):
    paper_exchange.reset()
    account_id = paper_exchange.create_account(USDT="1000", bnb_fees=True)
    trader = client(paper_exchange, account_id)
    trader.create_order("BNB/USDT", "market", "buy", 0.1)
    trade, = trader.fetch_my_trades("BNB/USDT")
    cost = Decimal(trade["info"]["price"]) * Decimal("0.1")
    # priced at the market, not at the trade's own price (which carries the spread and slippage)
    fee = bnb_commission(cost, paper_exchange.price_at("BNBUSDT", trade["timestamp"]))
    assert trade["fee"] == {"cost": float(fee), "currency": "BNB"}
    assert paper_exchange.free_balances(account_id) == {"USDT": Decimal(1000) - cost, "BNB": Decimal("0.1") - fee}


def test_without_enough_bnb_the_fee_is_the_usual_one_in_the_asset_received(paper_exchange):
    paper_exchange.reset()
    account_id = paper_exchange.create_account(USDT="10000", BNB="0.00000001", bnb_fees=True)
    trader = client(paper_exchange, account_id)
    bought = trader.create_order("BTC/USDT", "market", "buy", 0.01)
    assert bought["fee"] == {"cost": 0.00001, "currency": "BTC"}
    buy, = trader.fetch_my_trades("BTC/USDT")
    cost = Decimal(buy["info"]["price"]) * Decimal("0.01")
    assert (buy["info"]["commission"], buy["info"]["commissionAsset"]) == ("0.00001000", "BTC")
    trader.create_order("BTC/USDT", "market", "sell", 0.00999)
    _, sell = trader.fetch_my_trades("BTC/USDT")
    proceeds = Decimal(sell["info"]["price"]) * Decimal("0.00999")
    sell_fee = (proceeds * RATE).quantize(EIGHT, rounding=ROUND_UP)
    assert sell["fee"] == {"cost": float(sell_fee), "currency": "USDT"}
    assert paper_exchange.free_balances(account_id) == {"USDT": Decimal(10000) - cost + proceeds - sell_fee,
                                                "BTC": Decimal(0), "BNB": Decimal("0.00000001")}


def test_an_account_that_does_not_pay_in_bnb_keeps_its_bnb(paper_exchange, paper_account):
    account_id = paper_exchange.create_account(USDT="10000", BNB="5")
    trader = client(paper_exchange, account_id)
    assert paper_exchange.account(account_id)["bnb_fees"] is False
    assert trader.sapiGetBnbBurn() == {"spotBNBBurn": False, "interestBNBBurn": False}
    bought = trader.create_order("BTC/USDT", "market", "buy", 0.01)
    assert bought["fee"] == {"cost": 0.00001, "currency": "BTC"}
    cost = Decimal(bought["info"]["cummulativeQuoteQty"])
    assert paper_exchange.free_balances(account_id) == {"USDT": Decimal(10000) - cost, "BTC": Decimal("0.00999"),
                                                "BNB": Decimal(5)}
    # the fixture's account, which holds no BNB, trades as it always did
    plain = paper_account.ccxt()
    order = plain.create_order("ETH/USDC", "market", "buy", 0.01)
    assert order["fee"] == {"cost": 0.00001, "currency": "ETH"}


def test_the_setting_follows_binances_bnb_burn_route_and_the_control_api(paper_exchange):
    paper_exchange.reset()
    account_id = paper_exchange.create_account(USDT="10000", BNB="5")
    trader = client(paper_exchange, account_id)
    rates = trader.privatePostOrderTest({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001",
                                         "computeCommissionRates": "true"})
    assert rates["discount"] == {"enabledForAccount": False, "enabledForSymbol": True, "discountAsset": "BNB",
                                 "discount": "0.25000000"}

    assert trader.sapiPostBnbBurn({"spotBNBBurn": "true"}) == {"spotBNBBurn": True, "interestBNBBurn": False}
    assert trader.sapiGetBnbBurn() == {"spotBNBBurn": True, "interestBNBBurn": False}
    assert paper_exchange.account(account_id)["bnb_fees"] is True
    rates = trader.privatePostOrderTest({"symbol": "BTCUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.001",
                                         "computeCommissionRates": "true"})
    assert rates["discount"]["enabledForAccount"] is True
    assert trader.create_order("BTC/USDT", "market", "buy", 0.001)["fee"]["currency"] == "BNB"

    assert paper_exchange.set_bnb_fees(account_id, False) == {"account": account_id, "venue": "binance",
                                                               "bnb_fees": False}
    assert trader.create_order("BTC/USDT", "market", "buy", 0.001)["fee"] == {"cost": 0.000001, "currency": "BTC"}
    assert trader.sapiGetBnbBurn()["spotBNBBurn"] is False

    # no margin here, so no interest to burn BNB for; a toggle needs one of the two
    with pytest.raises(ccxt.BadRequest):
        trader.sapiPostBnbBurn({"interestBNBBurn": "true"})
    with pytest.raises(ccxt.BadRequest):
        trader.sapiPostBnbBurn({})
    assert trader.sapiPostBnbBurn({"spotBNBBurn": "false", "interestBNBBurn": "false"})["spotBNBBurn"] is False


def test_only_binance_venues_have_the_setting(paper_exchange):
    with pytest.raises(Exception, match="bnb_fees|BNB"):
        paper_exchange.create_account(venue="kraken", EUR="100", bnb_fees=True)
    us = paper_exchange.create_account(venue="binanceus", USD="100", bnb_fees=True)
    assert paper_exchange.account(us)["bnb_fees"] is True
    kraken = paper_exchange.create_account(venue="kraken", EUR="100")
    with pytest.raises(Exception, match="not on kraken"):
        paper_exchange.set_bnb_fees(kraken, True)
    assert paper_exchange.set_bnb_fees(kraken, False)["bnb_fees"] is False
    with pytest.raises(Exception, match="true or false"):
        paper_exchange.control("PATCH", f"/_paper/accounts/{us}", {"bnb_fees": "yes"})


def test_binance_us_charges_bnb_priced_at_bnb_usd_for_a_usd_pair(paper_exchange):
    paper_exchange.reset()
    account_id = paper_exchange.create_account(venue="binanceus", USD="10000", BNB="1", bnb_fees=True)
    trader = client(paper_exchange, account_id)
    trader.create_order("ETH/USD", "market", "buy", 0.1)
    trade, = trader.fetch_my_trades("ETH/USD")
    cost = Decimal(trade["info"]["price"]) * Decimal("0.1")
    fee = bnb_commission(cost, paper_exchange.price_at("BNBUSD", trade["timestamp"]))
    assert trade["fee"] == {"cost": float(fee), "currency": "BNB"}
    assert paper_exchange.free_balances(account_id) == {"USD": Decimal(10000) - cost, "ETH": Decimal("0.1"),
                                                "BNB": Decimal(1) - fee}
