"""Kraken fee credits (KFEE), driven with the unmodified ccxt kraken class.

While an account holds KFEE, a trade's fee is paid with it, 1 KFEE per 0.01 USD, rounded up to 0.01 KFEE;
the trade still reports its fee in the quote, as Kraken's TradesHistory does, and the ledger shows what
moved. Every expected figure is computed here by hand; an EUR fee is valued in USD through USDT/EUR and
USDT/USD at the trade's millisecond, from the server's own price path rebuilt in this process.
"""

from decimal import ROUND_UP, Decimal

import pytest

EIGHT = Decimal("1e-8")
CENT = Decimal("0.01")
RATE = Decimal("0.001")


def kraken_account(paper_exchange, **balances):
    account_id = paper_exchange.create_account(venue="kraken", **balances)
    exchange = paper_exchange.ccxt(paper_exchange.create_key(account_id), enableRateLimit=False)
    exchange.load_markets()
    exchange.paper_account_id = account_id
    return exchange


@pytest.fixture
def kraken_exchange(paper_exchange):
    paper_exchange.reset()
    yield paper_exchange
    paper_exchange.reset()


def quote_fee(trade):
    """The trade's usual fee in its quote: its cost x 0.1 %, rounded up to 8 decimals."""
    return (Decimal(trade["info"]["cost"]) * RATE).quantize(EIGHT, rounding=ROUND_UP)


def kfee_for(usd):
    return (usd / CENT).quantize(CENT, rounding=ROUND_UP)


def test_kfee_pays_a_usd_trades_fee_which_the_trade_still_reports_in_usd(kraken_exchange):
    kraken = kraken_account(kraken_exchange, USD="1000", KFEE="1000")
    assert kraken.fetch_balance()["KFEE"] == {"free": 1000.0, "used": 0.0, "total": 1000.0}
    assert kraken.privatePostBalance()["result"]["KFEE"] == "1000.00"
    assert kraken.currencies["KFEE"]["id"] == "KFEE" and kraken.currencies["KFEE"]["info"]["altname"] == "FEE"
    order = kraken.create_order("BTC/USD", "market", "buy", 0.001)
    trade, = kraken.fetch_my_trades("BTC/USD")
    cost, fee = Decimal(trade["info"]["cost"]), quote_fee(trade)
    credits = kfee_for(fee)  # USD: the fee is its own USD value
    assert Decimal(0) < credits < 1000
    # what Kraken's TradesHistory shows, and so what ccxt's unified trade shows: the fee in the quote
    assert Decimal(trade["info"]["fee"]) == fee
    assert trade["fee"] == {"cost": float(fee), "currency": "USD"}
    assert trade["order"] == order["id"]
    # what actually moved: all of the cost and none of the fee in USD, the credits in KFEE
    balances = kraken_exchange.free_balances(kraken.paper_account_id)
    assert balances == {"USD": Decimal(1000) - cost, "BTC": Decimal("0.001"), "KFEE": Decimal(1000) - credits}
    assert kraken.fetch_balance()["KFEE"]["total"] == float(Decimal(1000) - credits)
    booked, = kraken_exchange.account(kraken.paper_account_id)["trades"]
    assert (booked["commission"], booked["commissionAsset"]) == (f"{fee:.8f}", "USD")
    assert (booked["creditAsset"], booked["credit"], booked["creditCovers"]) == ("KFEE", f"{credits:.8f}",
                                                                                 f"{fee:.8f}")

    # the ledger: a KFEE entry of amount 0 whose fee is the credits used, as Kraken books it
    kfee, = kraken.fetch_ledger("KFEE")
    assert (kfee["currency"], kfee["amount"], kfee["fee"], kfee["after"]) == \
        ("KFEE", 0.0, {"cost": float(credits), "currency": "KFEE"}, float(Decimal(1000) - credits))
    assert (kfee["referenceId"], kfee["type"], kfee["timestamp"]) == (trade["id"], "trade", trade["timestamp"])
    assert kfee["info"]["amount"] == "0.00" and kfee["info"]["fee"] == f"{credits:.2f}"
    usd, = kraken.fetch_ledger("USD")
    assert (usd["direction"], usd["amount"], usd["fee"]["cost"], usd["after"]) == \
        ("out", float(cost), 0.0, float(Decimal(1000) - cost))
    assert usd["info"]["fee"] == "0.0000"
    assert kraken.fetch_ledger_entry(kfee["id"])["fee"] == kfee["fee"]
    assert {e["currency"] for e in kraken.fetch_ledger()} == {"BTC", "USD", "KFEE"}


def test_kfee_pays_a_eur_trades_fee_valued_in_usd(kraken_exchange):
    kraken = kraken_account(kraken_exchange, EUR="1000", KFEE="1000")
    kraken.create_order("BTC/EUR", "market", "buy", 0.001)
    trade, = kraken.fetch_my_trades("BTC/EUR")
    cost, fee = Decimal(trade["info"]["cost"]), quote_fee(trade)
    at = trade["timestamp"]
    usd = fee / kraken_exchange.price_at("USDTEUR", at) * kraken_exchange.price_at("USDTUSD", at)
    credits = kfee_for(usd)
    assert trade["fee"] == {"cost": float(fee), "currency": "EUR"}
    balances = kraken_exchange.free_balances(kraken.paper_account_id)
    assert balances == {"EUR": Decimal(1000) - cost, "BTC": Decimal("0.001"), "KFEE": Decimal(1000) - credits}


def test_credits_short_of_the_fee_are_spent_and_the_quote_pays_the_rest(kraken_exchange):
    kraken = kraken_account(kraken_exchange, USD="1000", KFEE="0.05")
    kraken.create_order("BTC/USD", "market", "buy", 0.001)
    trade, = kraken.fetch_my_trades("BTC/USD")
    cost, fee = Decimal(trade["info"]["cost"]), quote_fee(trade)
    needed = kfee_for(fee)
    assert needed > Decimal("0.05")
    rest = (fee * (needed - Decimal("0.05")) / needed).quantize(EIGHT, rounding=ROUND_UP)
    assert trade["fee"] == {"cost": float(fee), "currency": "USD"}
    balances = kraken_exchange.free_balances(kraken.paper_account_id)
    assert balances == {"USD": Decimal(1000) - cost - rest, "BTC": Decimal("0.001"), "KFEE": Decimal(0)}
    kfee, = kraken.fetch_ledger("KFEE")
    usd, = kraken.fetch_ledger("USD")
    assert (kfee["fee"]["cost"], kfee["after"]) == (0.05, 0.0)
    assert Decimal(usd["info"]["fee"]) == rest
    # the next trade finds no credits: the whole fee in USD
    kraken.create_order("BTC/USD", "market", "sell", 0.001)
    sell = kraken.fetch_my_trades("BTC/USD")[-1]
    assert sell["side"] == "sell"
    assert kraken_exchange.free_balances(kraken.paper_account_id)["USD"] == \
        Decimal(1000) - cost - rest + Decimal(sell["info"]["cost"]) - quote_fee(sell)
    assert len(kraken.fetch_ledger("KFEE")) == 1


def test_a_resting_buy_gets_back_the_fee_it_locked_when_kfee_pays(kraken_exchange):
    kraken = kraken_account(kraken_exchange, USD="1000", KFEE="1000")
    limit = round(kraken.fetch_ticker("BTC/USD")["ask"] * 0.95, 1)
    order = kraken.create_order("BTC/USD", "limit", "buy", 0.001, limit)
    cost = Decimal(str(limit)) * Decimal("0.001")
    fee = (cost * RATE).quantize(EIGHT, rounding=ROUND_UP)
    balances = kraken_exchange.account(kraken.paper_account_id)["balances"]
    assert Decimal(balances["USD"]["locked"]) == cost + fee
    kraken_exchange.move_price("BTCUSD", factor=0.9)
    trade, = kraken.fetch_my_trades("BTC/USD")
    assert (trade["order"], trade["takerOrMaker"], trade["fee"]) == (order["id"], "maker",
                                                                     {"cost": float(fee), "currency": "USD"})
    balances = kraken_exchange.account(kraken.paper_account_id)["balances"]
    assert balances["USD"] == {"free": f"{Decimal(1000) - cost:.8f}", "locked": "0.00000000"}
    assert Decimal(balances["KFEE"]["free"]) == Decimal(1000) - kfee_for(fee)


def test_an_account_without_kfee_pays_its_fee_in_the_quote_as_before(kraken_exchange):
    kraken = kraken_account(kraken_exchange, EUR="1000")
    kraken.create_order("ETH/EUR", "market", "buy", 0.01)
    trade, = kraken.fetch_my_trades("ETH/EUR")
    cost, fee = Decimal(trade["info"]["cost"]), quote_fee(trade)
    assert trade["fee"] == {"cost": float(fee), "currency": "EUR"}
    balances = kraken_exchange.free_balances(kraken.paper_account_id)
    assert balances == {"EUR": Decimal(1000) - cost - fee, "ETH": Decimal("0.01")}
    eur, eth = sorted(kraken.fetch_ledger(), key=lambda e: e["currency"] != "EUR")
    assert (eur["currency"], eur["amount"], eur["fee"]["cost"]) == ("EUR", float(cost), float(fee))
    assert Decimal(eur["info"]["balance"]) == Decimal(1000) - cost - fee
    assert (eth["currency"], eth["direction"], eth["amount"]) == ("ETH", "in", 0.01)
    snapshot = kraken_exchange.account(kraken.paper_account_id)
    assert "creditAsset" not in snapshot["trades"][0]
