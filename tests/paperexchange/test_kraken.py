"""The unmodified ccxt kraken class, its URLs pointed at BASE/kraken, trades against the paper exchange.

Kraken counts private calls on a decaying counter per key (15 at most); the tests turn ccxt's own
throttle off so that they meet the server's counter, not ccxt's.
"""

import re
import time
import uuid
from decimal import Decimal

import ccxt
import pytest

KRAKEN_SYMBOLS = {"BTC/EUR", "ETH/EUR", "SOL/EUR", "BTC/USD", "ETH/USD", "SOL/USD", "BTC/USDT", "ETH/USDT", "BTC/USDC",
                  "USDT/EUR", "USDC/EUR", "USDT/USD", "USDC/USD", "USDC/USDT"}
ORDER_ID = re.compile(r"^O[A-Z2-7]{5}-[A-Z2-7]{5}-[A-Z2-7]{6}$")
TRADE_ID = re.compile(r"^T[A-Z2-7]{5}-[A-Z2-7]{5}-[A-Z2-7]{6}$")


def kraken_client(paper_exchange, key, **config):
    exchange = paper_exchange.ccxt(key, enableRateLimit=False, **config)
    exchange.load_markets()
    return exchange


@pytest.fixture
def kraken(paper_exchange):
    """A fresh Kraken account with 10,000 EUR and a trade-only key, its ccxt client; faults and counters reset."""
    paper_exchange.reset()
    account_id = paper_exchange.create_account(venue="kraken", EUR="10000")
    key = paper_exchange.create_key(account_id)
    exchange = kraken_client(paper_exchange, key)
    exchange.paper_account_id = account_id
    exchange.paper_key = key
    return exchange


def test_the_client_is_ccxt_kraken_at_the_venue_prefix(kraken, paper_exchange):
    assert type(kraken) is ccxt.kraken
    assert kraken.urls["api"]["public"] == kraken.urls["api"]["private"] == paper_exchange.url + "/kraken"
    assert abs(kraken.fetch_time() - paper_exchange.server_time()) < 2000


def test_load_markets_lists_the_kraken_pairs_under_kraken_names(kraken):
    assert set(kraken.symbols) == KRAKEN_SYMBOLS
    names = {s: (kraken.market(s)["id"], kraken.market(s)["altname"]) for s in ("BTC/EUR", "ETH/USD", "SOL/EUR",
                                                                                   "BTC/USDT", "USDT/USD", "USDC/EUR")}
    assert names == {"BTC/EUR": ("XXBTZEUR", "XBTEUR"), "ETH/USD": ("XETHZUSD", "ETHUSD"),
                     "SOL/EUR": ("SOLEUR", "SOLEUR"), "BTC/USDT": ("XBTUSDT", "XBTUSDT"),
                     "USDT/USD": ("USDTZUSD", "USDTUSD"), "USDC/EUR": ("USDCEUR", "USDCEUR")}
    btc = kraken.market("BTC/EUR")
    assert (btc["baseId"], btc["quoteId"], btc["active"], btc["wsId"]) == ("BTC", "EUR", True, "XBT/EUR")
    assert btc["info"]["base"] == "XXBT" and btc["info"]["quote"] == "ZEUR"
    assert btc["precision"] == {"amount": 0.00001, "price": 0.01}
    assert btc["limits"]["amount"]["min"] == 0.00001 and btc["limits"]["cost"]["min"] == 5
    assert btc["taker"] == btc["maker"] == 0.001
    assert (kraken.currencies["BTC"]["id"], kraken.currencies["EUR"]["id"], kraken.currencies["SOL"]["id"]) == \
        ("XXBT", "ZEUR", "SOL")


def test_fetch_balance_shows_the_starting_funds_under_kraken_asset_codes(kraken):
    assert kraken.fetch_balance()["EUR"] == {"free": 10000.0, "used": 0.0, "total": 10000.0}
    assert kraken.privatePostBalance()["result"] == {"ZEUR": "10000.0000"}


def test_candles_are_the_shared_price_path_and_since_is_exclusive(kraken, paper_exchange):
    candles = kraken.fetch_ohlcv("BTC/USD", "1h", limit=5)
    assert len(candles) == 5
    assert all(b[0] - a[0] == 3600_000 for a, b in zip(candles, candles[1:]))
    for _, o, h, low, c, v in candles:
        assert low <= min(o, c) <= max(o, c) <= h and v > 0
    us = paper_exchange.ccxt(paper_exchange.create_key(paper_exchange.create_account(venue="binanceus", USD="1")))
    closed = [c[:5] for c in candles[:-1]]
    assert [c[:5] for c in us.fetch_ohlcv("BTC/USD", "1h", limit=5)[:-1]] == closed  # one symbol, one path
    raw = kraken.publicGetOHLC({"pair": "XXBTZEUR", "interval": 15})["result"]
    rows = raw["XXBTZEUR"]
    assert len(rows) == 720 and rows[-1][0] - rows[-2][0] == 900 and raw["last"] == rows[-2][0]
    since = rows[-4][0]
    after = kraken.publicGetOHLC({"pair": "XBTEUR", "interval": 15, "since": since})["result"]["XXBTZEUR"]
    assert [r[0] for r in after][:3] == [r[0] for r in rows[-3:]]


def test_ticker_and_order_book_bracket_the_price(kraken):
    ticker = kraken.fetch_ticker("SOL/EUR")
    assert ticker["bid"] < ticker["ask"] and ticker["low"] <= ticker["last"] <= ticker["high"]
    assert ticker["baseVolume"] > 0 and ticker["vwap"] > 0
    assert set(kraken.fetch_tickers(["BTC/EUR", "USDC/USDT"])) == {"BTC/EUR", "USDC/USDT"}
    book = kraken.fetch_order_book("SOL/EUR", 5)
    bids, asks = [b[0] for b in book["bids"]], [a[0] for a in book["asks"]]
    assert len(bids) == len(asks) == 5 and bids == sorted(bids, reverse=True) and asks == sorted(asks)
    assert bids[0] < asks[0]


def test_market_order_with_cl_ord_id_is_found_by_it_and_by_its_txid(kraken):
    cl_ord_id = str(uuid.uuid4())
    order = kraken.create_order("BTC/EUR", "market", "buy", 0.001, None, {"cl_ord_id": cl_ord_id})
    assert ORDER_ID.match(order["id"])
    found = kraken.fetch_order(order["id"], "BTC/EUR")
    assert (found["id"], found["clientOrderId"], found["status"], found["filled"]) == \
        (order["id"], cl_ord_id, "closed", 0.001)
    assert found["fee"]["currency"] == "EUR"
    assert kraken.fetch_open_orders("BTC/EUR", None, None, {"cl_ord_id": cl_ord_id}) == []
    closed = kraken.fetch_closed_orders("BTC/EUR", None, None, {"cl_ord_id": cl_ord_id})
    assert [(o["id"], o["clientOrderId"]) for o in closed] == [(order["id"], cl_ord_id)]
    balance = kraken.fetch_balance()
    # Kraken charges the fee in the quote: the buyer gets all of the BTC and pays cost plus fee
    assert balance["BTC"]["total"] == 0.001
    assert balance["EUR"]["total"] == pytest.approx(10000 - found["cost"] - float(found["fee"]["cost"]), abs=1e-8)


def test_trades_carry_the_fee_in_euro_and_string_ids(kraken):
    buy = kraken.create_order("BTC/EUR", "market", "buy", 0.001)
    sell = kraken.create_order("BTC/EUR", "market", "sell", 0.001)
    trades = kraken.fetch_my_trades()
    assert [(t["order"], t["side"], t["symbol"]) for t in trades] == \
        [(buy["id"], "buy", "BTC/EUR"), (sell["id"], "sell", "BTC/EUR")]
    for t in trades:
        assert isinstance(t["id"], str) and TRADE_ID.match(t["id"])
        assert t["fee"]["currency"] == "EUR"
        fee = (Decimal(t["info"]["cost"]) * Decimal("0.001")).quantize(Decimal("1e-8"), rounding="ROUND_UP")
        assert Decimal(t["info"]["fee"]) == fee
    assert kraken.fetch_balance()["EUR"]["total"] == pytest.approx(
        10000 - trades[0]["cost"] + trades[1]["cost"] - trades[0]["fee"]["cost"] - trades[1]["fee"]["cost"], abs=1e-8)


def test_trades_history_covers_every_pair_newest_first_fifty_a_page(kraken, paper_exchange):
    account = kraken.paper_account_id
    for i in range(55):
        paper_exchange.foreign_trade(account, "BTCEUR" if i % 2 else "ETHEUR", "0.0001" if i % 2 else "0.001")
    first = kraken.privatePostTradesHistory()["result"]
    assert first["count"] == 55 and len(first["trades"]) == 50
    listed = list(first["trades"].values())
    assert [t["trade_id"] for t in listed] == sorted((t["trade_id"] for t in listed), reverse=True)
    assert {t["pair"] for t in listed} == {"XXBTZEUR", "XETHZEUR"}
    second = kraken.privatePostTradesHistory({"ofs": 50})["result"]
    assert second["count"] == 55 and len(second["trades"]) == 5
    assert max(t["trade_id"] for t in second["trades"].values()) < min(t["trade_id"] for t in listed)
    # ccxt pages the same way, as the platform does: fetch_my_trades(None, since, None, {"ofs": n})
    page0 = kraken.fetch_my_trades(None, None, None, {"ofs": 0})
    page1 = kraken.fetch_my_trades(None, None, None, {"ofs": 50})
    ids = [t["id"] for t in page0 + page1]
    assert len(ids) == len(set(ids)) == 55 and set(ids) == set(first["trades"]) | set(second["trades"])
    # start is exclusive, end inclusive
    everything = {**first["trades"], **second["trades"]}
    pivot = listed[20]["time"]
    newer = kraken.privatePostTradesHistory({"start": pivot})["result"]
    assert set(newer["trades"]) == {i for i, t in everything.items() if t["time"] > pivot}
    older = kraken.privatePostTradesHistory({"end": pivot})["result"]
    assert older["count"] == sum(1 for t in everything.values() if t["time"] <= pivot)
    after_txid = kraken.privatePostTradesHistory({"start": list(first["trades"])[20]})["result"]
    assert set(after_txid["trades"]) == set(list(first["trades"])[:20])


def test_limit_order_rests_locks_cost_and_fee_and_cancels(kraken):
    price = round(kraken.fetch_ticker("ETH/EUR")["last"] * 0.7, 2)
    cl_ord_id = "rest-1"
    order = kraken.create_order("ETH/EUR", "limit", "buy", 0.5, price, {"cl_ord_id": cl_ord_id})
    locked = Decimal(str(price)) * Decimal("0.5")
    locked += (locked * Decimal("0.001")).quantize(Decimal("1e-8"), rounding="ROUND_UP")
    assert kraken.fetch_balance()["EUR"]["used"] == pytest.approx(float(locked), abs=1e-8)
    opened = kraken.fetch_open_orders("ETH/EUR", None, None, {"cl_ord_id": cl_ord_id})
    assert [(o["id"], o["clientOrderId"], o["status"], o["price"]) for o in opened] == \
        [(order["id"], cl_ord_id, "open", price)]
    kraken.cancel_order(order["id"], "ETH/EUR")
    assert kraken.fetch_order(order["id"])["status"] == "canceled"
    assert kraken.fetch_balance()["EUR"] == {"free": 10000.0, "used": 0.0, "total": 10000.0}
    with pytest.raises(ccxt.OrderNotFound):
        kraken.cancel_order(order["id"], "ETH/EUR")


def test_a_cl_ord_id_of_an_open_order_is_refused_until_that_order_closes(kraken, paper_exchange):
    price = round(kraken.fetch_ticker("SOL/EUR")["last"] * 0.5, 2)
    cl_ord_id = uuid.uuid4().hex  # Kraken's short UUID form
    first = kraken.create_order("SOL/EUR", "limit", "buy", 1, price, {"cl_ord_id": cl_ord_id})
    with pytest.raises(ccxt.ExchangeError, match="EOrder:Duplicate order"):
        kraken.create_order("SOL/EUR", "limit", "buy", 1, price, {"cl_ord_id": cl_ord_id})
    kraken.cancel_order(None, "SOL/EUR", {"cl_ord_id": cl_ord_id})
    again = kraken.create_order("SOL/EUR", "limit", "buy", 1, price, {"cl_ord_id": cl_ord_id})
    assert again["id"] != first["id"]
    assert [o["id"] for o in kraken.fetch_open_orders("SOL/EUR", None, None, {"cl_ord_id": cl_ord_id})] == [again["id"]]
    with pytest.raises(ccxt.ExchangeError, match="EGeneral:Invalid arguments:cl_ord_id"):
        kraken.create_order("SOL/EUR", "limit", "buy", 1, price, {"cl_ord_id": "nineteen-characters"})
    assert len(paper_exchange.account(kraken.paper_account_id)["orders"]) == 2


def test_insufficient_funds(kraken, paper_exchange):
    with pytest.raises(ccxt.InsufficientFunds, match="EOrder:Insufficient funds"):
        kraken.create_order("BTC/EUR", "market", "buy", 1)
    assert paper_exchange.account(kraken.paper_account_id)["orders"] == []


def test_unknown_orders_and_another_accounts_orders_are_order_not_found(kraken, paper_exchange):
    with pytest.raises(ccxt.OrderNotFound):
        kraken.fetch_order("OAAAAA-AAAAA-AAAZZZ")
    with pytest.raises(ccxt.OrderNotFound):
        kraken.cancel_order("OAAAAA-AAAAA-AAAZZZ")
    with pytest.raises(ccxt.InvalidOrder, match="EOrder:Invalid order"):
        kraken.fetch_order("12345")  # not a txid at all
    price = round(kraken.fetch_ticker("BTC/EUR")["last"] * 0.5, 2)
    alice_order = kraken.create_order("BTC/EUR", "limit", "buy", 0.001, price)
    bob_key = paper_exchange.create_key(paper_exchange.create_account(venue="kraken", EUR="100"))
    bob = kraken_client(paper_exchange, bob_key)
    with pytest.raises(ccxt.OrderNotFound):
        bob.fetch_order(alice_order["id"])
    with pytest.raises(ccxt.OrderNotFound):
        bob.cancel_order(alice_order["id"])
    assert kraken.fetch_order(alice_order["id"])["status"] == "open"


def test_unknown_key_and_bad_signature_are_authentication_errors(kraken, paper_exchange):
    unknown = kraken_client(paper_exchange, {"api_key": "A" * 56, "secret": kraken.paper_key["secret"],
                                             "venue": "kraken"})
    with pytest.raises(ccxt.AuthenticationError, match="EAPI:Invalid key"):
        unknown.fetch_balance()
    forged = kraken_client(paper_exchange, {**kraken.paper_key, "secret": "c2VjcmV0" * 11})
    with pytest.raises(ccxt.AuthenticationError, match="EAPI:Invalid key"):
        forged.fetch_balance()
    assert kraken.fetch_balance()["EUR"]["total"] == 10000


def test_a_binance_key_is_refused_under_kraken_and_a_kraken_key_by_binance(kraken, paper_exchange):
    binance_key = paper_exchange.create_key(paper_exchange.create_account(USDT="100"))
    with pytest.raises(ccxt.AuthenticationError, match="EAPI:Invalid key"):
        kraken_client(paper_exchange, binance_key, venue="kraken").fetch_balance()
    with pytest.raises(ccxt.AuthenticationError):
        paper_exchange.ccxt(kraken.paper_key, venue="binance").fetch_balance()


def test_a_nonce_not_above_the_keys_last_one_is_invalid_nonce(kraken, paper_exchange):
    ahead = kraken_client(paper_exchange, kraken.paper_key)
    ahead.options["lastNonce"] = ahead.milliseconds() + 10_000_000  # its next nonce is far ahead of the clock
    ahead.fetch_balance()
    with pytest.raises(ccxt.InvalidNonce, match="EAPI:Invalid nonce"):
        kraken.fetch_balance()
    kraken.options["lastNonce"] = ahead.options["lastNonce"]
    assert kraken.fetch_balance()["EUR"]["total"] == 10000


def test_get_api_key_info_names_the_keys_kraken_permissions(kraken, paper_exchange):
    trade_only = {"query_funds", "query_open_trades", "query_closed_trades", "query_ledger", "create_modify_orders",
                  "cancel_close_orders"}
    info = kraken.private_post_getapikeyinfo()
    assert info["error"] == [] and set(info["result"]) >= {"name", "permissions", "restrictions"}
    assert set(info["result"]["permissions"]) == trade_only and info["result"]["restrictions"] == []
    account = kraken.paper_account_id

    def info_of(**options):
        return kraken_client(paper_exchange, paper_exchange.create_key(account, **options)) \
            .private_post_getapikeyinfo()["result"]

    assert set(info_of(can_withdraw=True)["permissions"]) == trade_only | {"withdraw_funds"}
    assert set(info_of(trade=False)["permissions"]) == trade_only - {"create_modify_orders", "cancel_close_orders"}
    assert info_of(ips=["127.0.0.1"])["restrictions"] == ["127.0.0.1"]
    elsewhere = kraken_client(paper_exchange, paper_exchange.create_key(account, ips=["10.9.8.7"]))
    with pytest.raises(ccxt.PermissionDenied, match="EGeneral:Permission denied"):
        elsewhere.private_post_getapikeyinfo()


def test_a_no_trade_key_reads_but_cannot_place_or_cancel(kraken, paper_exchange):
    reader = kraken_client(paper_exchange, paper_exchange.create_key(kraken.paper_account_id, trade=False))
    assert reader.fetch_balance()["EUR"]["total"] == 10000
    with pytest.raises(ccxt.PermissionDenied, match="EGeneral:Permission denied"):
        reader.create_order("BTC/EUR", "market", "buy", 0.001)
    price = round(kraken.fetch_ticker("BTC/EUR")["last"] * 0.5, 2)
    order = kraken.create_order("BTC/EUR", "limit", "buy", 0.001, price)
    with pytest.raises(ccxt.PermissionDenied):
        reader.cancel_order(order["id"])
    assert [o["id"] for o in reader.fetch_open_orders()] == [order["id"]]


def test_the_call_counter_refuses_the_16th_quick_private_call(kraken, paper_exchange):
    for _ in range(15):
        kraken.fetch_balance()
    with pytest.raises(ccxt.DDoSProtection, match="EAPI:Rate limit exceeded"):
        kraken.fetch_balance()
    # orders are counted on their own counter, not on the call counter
    assert kraken.create_order("BTC/EUR", "market", "buy", 0.0001)["id"]
    assert paper_exchange.counters()["http_429"] == 1
    # trade history costs 2: a fresh key gets 7 quick pages, not 8
    history = kraken_client(paper_exchange, paper_exchange.create_key(kraken.paper_account_id))
    for _ in range(7):
        history.fetch_my_trades()
    with pytest.raises(ccxt.DDoSProtection, match="EAPI:Rate limit exceeded"):
        history.fetch_my_trades()
    # the counter decays; a refused call still counted, so the wait is longer than one call's worth
    paper_exchange.limits(venue="kraken", call_decay_per_100s=1000)
    time.sleep(0.5)
    assert kraken.fetch_balance()["EUR"]["total"] < 10000


def test_the_order_counter_is_per_pair_and_a_quick_cancel_costs_more(kraken, paper_exchange):
    paper_exchange.limits(venue="kraken", order_counter_max=9, order_decay_per_100s=0)
    price = round(kraken.fetch_ticker("SOL/EUR")["last"] * 0.5, 2)
    order = kraken.create_order("SOL/EUR", "limit", "buy", 1, price)  # 1
    kraken.cancel_order(order["id"])  # a cancel within 5 seconds of placing: 8 more
    with pytest.raises(ccxt.DDoSProtection, match="EOrder:Rate limit exceeded"):
        kraken.create_order("SOL/EUR", "limit", "buy", 1, price)
    assert kraken.create_order("BTC/EUR", "market", "buy", 0.0001)["id"]  # another pair has its own counter
    assert [o["status"] for o in paper_exchange.account(kraken.paper_account_id)["orders"]] == ["CANCELED", "FILLED"]


def test_a_lost_answer_to_add_order_is_found_by_cl_ord_id(kraken, paper_exchange):
    cl_ord_id = str(uuid.uuid4())
    paper_exchange.fault(lost_response={"count": 1})
    with pytest.raises(ccxt.NetworkError):
        kraken.create_order("ETH/EUR", "market", "buy", 0.01, None, {"cl_ord_id": cl_ord_id})
    assert kraken.fetch_open_orders("ETH/EUR", None, None, {"cl_ord_id": cl_ord_id}) == []
    (found,) = kraken.fetch_closed_orders("ETH/EUR", None, None, {"cl_ord_id": cl_ord_id})
    assert (found["clientOrderId"], found["status"], found["filled"]) == (cl_ord_id, "closed", 0.01)
    counters = paper_exchange.counters()
    assert counters["lost_responses"] == 1 and counters["orders_by_client_order_id"][cl_ord_id] == 1


def test_fault_knobs_answer_in_krakens_shapes(kraken, paper_exchange):
    paper_exchange.fault(force={"status": 429, "count": 1})
    with pytest.raises(ccxt.DDoSProtection, match="EGeneral:Too many requests"):
        kraken.fetch_balance()
    paper_exchange.fault(force={"status": 418, "count": 1})
    with pytest.raises(ccxt.DDoSProtection, match="EGeneral:Temporary lockout"):
        kraken.fetch_balance()
    paper_exchange.fault(error={"count": 1, "status": 503})
    with pytest.raises(ccxt.ExchangeNotAvailable, match="EService:Unavailable"):
        kraken.fetch_balance()
    paper_exchange.fault(error={"count": 1, "status": 502})
    with pytest.raises(ccxt.ExchangeNotAvailable):
        kraken.fetch_balance()
    paper_exchange.fault(reject_order={"count": 1, "msg": "EOrder:Order minimum not met"})
    with pytest.raises(ccxt.InvalidOrder, match="EOrder:Order minimum not met"):
        kraken.create_order("BTC/EUR", "market", "buy", 0.0001)
    paper_exchange.fault(error={"count": 1, "status": 500, "scope": "orders", "execute": True})
    with pytest.raises(ccxt.ExchangeNotAvailable, match="EGeneral:Internal error"):
        kraken.create_order("BTC/EUR", "market", "buy", 0.0001, None, {"cl_ord_id": "executed-then-500"})
    orders = paper_exchange.account(kraken.paper_account_id)["orders"]
    assert [(o["clientOrderId"], o["status"]) for o in orders] == [("executed-then-500", "FILLED")]
    assert paper_exchange.counters()["requests_by_path"]["/kraken/0/private/BalanceEx"] == 4


def test_a_pair_kraken_does_not_list_is_an_unknown_asset_pair(kraken, paper_exchange):
    # ccxt's kraken table has no entry for this string: it raises a plain ExchangeError
    with pytest.raises(ccxt.ExchangeError, match="EQuery:Unknown asset pair") as raised:
        kraken.publicGetTicker({"pair": "PUMPUSDT"})
    assert type(raised.value) is ccxt.ExchangeError
    with pytest.raises(ccxt.ExchangeError, match="EQuery:Unknown asset pair"):
        kraken.privatePostAddOrder({"pair": "BTCUSDTX", "type": "buy", "ordertype": "market", "volume": "1"})
    with pytest.raises(ccxt.BadRequest, match="EGeneral:Invalid arguments"):
        kraken.privatePostQueryOrders()
    with pytest.raises(ccxt.ExchangeError, match="EGeneral:Unknown method"):
        kraken.privatePostDepositMethods({"asset": "XBT"})
    assert paper_exchange.account(kraken.paper_account_id)["orders"] == []


def test_order_checks_answer_krakens_errors_and_validate_places_nothing(kraken, paper_exchange):
    last = kraken.fetch_ticker("BTC/EUR")["last"]
    with pytest.raises(ccxt.InvalidOrder, match="EOrder:Order minimum not met"):
        kraken.privatePostAddOrder({"pair": "XXBTZEUR", "type": "buy", "ordertype": "market", "volume": "0.000001"})
    with pytest.raises(ccxt.InvalidOrder, match="EGeneral:Invalid arguments:volume"):
        kraken.privatePostAddOrder({"pair": "XXBTZEUR", "type": "buy", "ordertype": "market", "volume": "0.000015"})
    with pytest.raises(ccxt.ExchangeError, match="EOrder:Cost minimum not met"):
        kraken.privatePostAddOrder({"pair": "XXBTZEUR", "type": "buy", "ordertype": "market", "volume": "0.00001"})
    with pytest.raises(ccxt.ExchangeError, match="EOrder:Post only order"):
        kraken.create_order("BTC/EUR", "limit", "buy", 0.001, round(last * 1.05, 2), {"postOnly": True})
    checked = kraken.privatePostAddOrder({"pair": "XBTEUR", "type": "buy", "ordertype": "limit", "volume": "0.01",
                                          "price": "1000.00", "validate": "true"})["result"]
    assert checked == {"descr": {"order": "buy 0.01000000 XBTEUR @ limit 1000.00"}}
    assert paper_exchange.account(kraken.paper_account_id)["orders"] == []


def test_a_market_buy_by_cost_spends_that_much_euro_plus_the_fee(kraken):
    order = kraken.create_market_buy_order_with_cost("BTC/EUR", 50)
    found = kraken.fetch_order(order["id"])
    assert found["status"] == "closed" and 49 <= found["cost"] <= 50  # whole lots of 0.00001 BTC
    assert kraken.fetch_balance()["EUR"]["total"] == pytest.approx(
        10000 - found["cost"] - float(found["fee"]["cost"]), abs=1e-8)


def test_closed_orders_filter_by_start_end_and_page_by_offset(kraken):
    first = kraken.create_order("BTC/EUR", "market", "buy", 0.0001)
    time.sleep(0.01)
    second = kraken.create_order("BTC/EUR", "market", "sell", 0.0001)
    closed = kraken.privatePostClosedOrders()["result"]
    assert list(closed["closed"]) == [second["id"], first["id"]] and closed["count"] == 2
    first_close = closed["closed"][first["id"]]["closetm"]
    after = kraken.privatePostClosedOrders({"start": first_close, "closetime": "close"})["result"]
    assert list(after["closed"]) == [second["id"]]
    upto = kraken.privatePostClosedOrders({"end": first_close, "closetime": "close"})["result"]
    assert list(upto["closed"]) == [first["id"]]
    assert list(kraken.privatePostClosedOrders({"ofs": 1})["result"]["closed"]) == [first["id"]]
