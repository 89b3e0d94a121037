"""The backtest engine against a small series computed by hand."""

import math
from decimal import Decimal

import pytest

from strategies.backtest import compute_metrics, simulate, trades_csv, fills_rows
from strategies.timeframes import from_ms
from strategies.registry import BUY, HOLD, SELL, BaseStrategy, Decision, Series

H4 = 4 * 3600 * 1000
MARKET = {
    "precision": {"amount": 0.001},
    "limits": {"amount": {"min": 0.001, "max": 9000}, "cost": {"min": 5}},
    "info": {"filters": []},
}


class Scripted(BaseStrategy):
    """Decides from a script keyed by the number of candles it is shown (test only)."""

    kind = "scripted"
    param_spec = {}

    def __init__(self, script):
        super().__init__({})
        self.script = script

    @property
    def lookback(self):
        return 1

    def decide(self, series, exposure, model=None):
        index = int((series.time[-1] - T0) // H4)
        action, fraction = self.script.get(index, (HOLD, "0"))
        return Decision(action, Decimal(fraction), f"step {index}")


T0 = 1_700_000_000_000 // H4 * H4
OPENS = [100, 100, 110, 125, 125, 125, 120]
CLOSES = [100, 110, 105, 125, 125, 125, 100]


def series():
    rows = [(T0 + i * H4, o, max(o, c), min(o, c), c, 10) for i, (o, c) in enumerate(zip(OPENS, CLOSES))]
    return Series.from_rows(rows, H4)


def run():
    script = {0: (BUY, "1"), 2: (SELL, "1"), 4: (BUY, "0.5"), 5: (SELL, "1")}
    return simulate(strat=Scripted(script), series=series(), first_index=0, fee="0.001", allocation="1000", market=MARKET)


def test_fills_follow_the_sizing_and_binance_fees():
    sim = run()
    sides = [(f.side, f.price, f.quantity, f.fee) for f in sim.fills]
    assert sides == [
        ("buy", Decimal("100.0"), Decimal("10.000"), Decimal("1.0000")),
        ("sell", Decimal("125.0"), Decimal("9.990"), Decimal("1.24875")),
        ("buy", Decimal("125.0"), Decimal("4.000"), Decimal("0.5")),
        ("sell", Decimal("120.0"), Decimal("3.996"), Decimal("0.47952")),
    ]
    assert sim.trade_profits == [Decimal("247.50125"), Decimal("-20.95952")]
    equity = [round(v, 6) for _, v in sim.equity]
    assert equity == [1000.0, 1098.9, 1048.95, 1247.50125, 1247.50125, 1247.00125, 1226.54173]


def test_metrics_match_the_hand_computation():
    sim = run()
    m = compute_metrics(
        equity=sim.equity, trade_profits=sim.trade_profits, fees=sim.fees, candles_in_market=sim.candles_in_market,
        start_price=sim.start_price, end_price=sim.end_price, step_seconds=4 * 3600,
    )
    e = [1000.0, 1098.9, 1048.95, 1247.50125, 1247.50125, 1247.00125, 1226.54173]
    assert m["total_return"] == pytest.approx(1226.54173 / 1000 - 1)
    assert m["total_profit_abs"] == pytest.approx(226.54173)
    years = 6 * 4 / 24 / 365
    assert m["cagr"] == pytest.approx((1226.54173 / 1000) ** (1 / years) - 1, rel=1e-5)
    assert m["max_drawdown"] == pytest.approx((1098.9 - 1048.95) / 1098.9, abs=1e-6)
    assert m["max_drawdown_abs"] == pytest.approx(49.95)
    # From the peak at the close of candle 1 to the trough at the close of candle 2.
    assert m["drawdown_start"] == from_ms(T0 + 2 * H4).isoformat()
    assert m["drawdown_end"] == from_ms(T0 + 3 * H4).isoformat()
    returns = [e[i] / e[i - 1] - 1 for i in range(1, len(e))]
    mean = sum(returns) / len(returns)
    std = math.sqrt(sum((r - mean) ** 2 for r in returns) / (len(returns) - 1))
    downside = math.sqrt(sum(min(r, 0) ** 2 for r in returns) / len(returns))
    per_year = math.sqrt(365 * 6)
    assert m["sharpe"] == pytest.approx(mean / std * per_year, abs=1e-4)
    assert m["sortino"] == pytest.approx(mean / downside * per_year, abs=1e-4)
    assert m["calmar"] == pytest.approx(m["cagr"] / m["max_drawdown"], rel=1e-3)
    assert m["trades"] == 2 and m["wins"] == 1 and m["losses"] == 1
    assert m["win_rate"] == 0.5
    assert m["profit_factor"] == pytest.approx(247.50125 / 20.95952, abs=1e-4)
    assert m["expectancy"] == pytest.approx((247.50125 - 20.95952) / 2)
    assert m["expectancy_ratio"] == pytest.approx((1 + 247.50125 / 20.95952) * 0.5 - 1, abs=1e-4)
    assert m["fees_paid"] == pytest.approx(1 + 1.24875 + 0.5 + 0.47952)
    assert m["exposure"] == pytest.approx(3 / 7, abs=1e-4)
    assert m["market_change"] == pytest.approx(100 / 100 - 1)


def test_trades_csv_lists_every_simulated_fill():
    text = trades_csv(fills_rows(run().fills))
    lines = text.strip().splitlines()
    assert lines[0] == "trade,time,side,price,quantity,notional,fee,profit,reason"
    assert len(lines) == 5
    assert lines[2].startswith("1,") and ",sell,125.0,9.99," in lines[2] and ",247.50125," in lines[2]


def test_an_oversize_order_is_refused_not_trimmed():
    # Buying the whole allocation twice would hold twice the cap.
    script = {0: (BUY, "1"), 1: (BUY, "1")}
    sim = simulate(strat=Scripted(script), series=series(), first_index=0, fee="0", allocation="1000", market=MARKET)
    assert [f.side for f in sim.fills] == ["buy"]
    assert len(sim.refusals) == 1 and "position cap" in sim.refusals[0][2]
