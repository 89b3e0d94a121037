"""Order sizing: rounded down to the lot step, refused (never trimmed) when a rule would break."""

from decimal import Decimal

import pytest

from strategies.sizing import order_size

# A ccxt market dict as Binance reports BTC/USDT (floats, like ccxt gives them).
BTC = {
    "symbol": "BTC/USDT",
    "precision": {"amount": 1e-05, "price": 0.01},
    "limits": {"amount": {"min": 1e-05, "max": 9000.0}, "cost": {"min": 5.0}},
    "info": {
        "filters": [
            {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000", "stepSize": "0.00001000"},
            {"filterType": "MARKET_LOT_SIZE", "minQty": "0.00000000", "maxQty": "306.00000000", "stepSize": "0.00000000"},
            {"filterType": "NOTIONAL", "minNotional": "5.00000000"},
        ]
    },
}


def size(**overrides):
    args = dict(
        side="buy", fraction="0.5", allocation="1000", position_qty="0", price="30000", free_quote="10000",
        free_base="0", position_cap="2000", market=BTC,
    )
    args.update(overrides)
    return order_size(**args)


def test_a_buy_spends_its_fraction_of_the_allocation_rounded_down_to_the_step():
    result = size()
    assert result.ok
    # 500 / 30000 = 0.0166666... -> 0.01666 (down, never up)
    assert result.quantity == Decimal("0.01666")
    assert isinstance(result.quantity, Decimal)
    assert result.notional <= Decimal("500")


def test_a_sell_sells_its_fraction_of_the_position():
    result = size(side="sell", fraction="0.5", position_qty="0.03333", free_base="0.03333")
    assert result.ok and result.quantity == Decimal("0.01666")
    assert size(side="sell", fraction="1", position_qty="0.03333", free_base="0.03333").quantity == Decimal("0.03333")


def test_below_min_notional_is_refused():
    result = size(fraction="0.004")  # 4 USDT < 5
    assert not result.ok and result.refusal == "below_min_notional"
    assert result.quantity == 0


def test_below_min_quantity_is_refused():
    market = {**BTC, "limits": {**BTC["limits"], "amount": {"min": 0.1, "max": 9000.0}}}
    assert size(market=market).refusal == "below_min_amount"


def test_oversize_beyond_the_position_cap_is_refused_not_trimmed():
    result = size(fraction="1", allocation="1000", position_qty="0.04", position_cap="2000")
    # 0.04 BTC held (1200) + 1000 more = 2200 > 2000
    assert not result.ok and result.refusal == "over_position_cap"
    assert result.quantity == 0
    assert "cap" in result.reason


def test_beyond_the_largest_market_order_is_refused_the_306_btc_rule():
    result = size(fraction="1", allocation="10000000", price="30000", free_quote="100000000", position_cap="100000000")
    # 10,000,000 / 30,000 = 333.33 BTC > MARKET_LOT_SIZE maxQty 306
    assert not result.ok and result.refusal == "over_market_max"
    assert "306" in result.reason


def test_beyond_the_free_balance_is_refused():
    assert size(free_quote="100").refusal == "over_free_balance"
    assert size(side="sell", fraction="1", position_qty="0.02", free_base="0.01").refusal == "over_free_balance"


def test_nothing_to_sell_and_invalid_requests():
    assert size(side="sell", position_qty="0").refusal == "nothing_to_trade"
    assert size(fraction="0").refusal == "invalid"
    assert size(fraction="1.5").refusal == "invalid"
    assert size(price="0").refusal == "invalid"
    assert size(side="short").refusal == "invalid"


@pytest.mark.parametrize("step, expected", [(0.001, "0.016"), (1, "0"), (1e-08, "0.01666666")])
def test_steps_from_ccxt_precision_when_there_is_no_lot_filter(step, expected):
    market = {"precision": {"amount": step}, "limits": {"cost": {"min": 0.0}}, "info": {}}
    result = size(market=market)
    if expected == "0":
        assert result.refusal == "nothing_to_trade"
    else:
        assert result.ok and result.quantity == Decimal(expected)


def test_a_decimal_places_precision_is_understood():
    market = {"precision": {"amount": 3}, "precisionMode": "decimal_places", "limits": {}, "info": {}}
    assert size(market=market).quantity == Decimal("0.016")
