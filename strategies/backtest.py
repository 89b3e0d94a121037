"""Backtest engine: replay a strategy over past candles, strictly walk-forward.

At each candle close the strategy sees the candles up to that close only (and,
for the learned kind, a model trained on candles closing no later); the order
it asks for is sized by :func:`strategies.sizing.order_size`, exactly as a bot
sizes it, and filled at the next candle's open, with the fee taken as Binance
takes it: from the asset bought on a buy, from the quote received on a sell. Metrics carry the names Freqtrade users know.

Pure: no database. The services feed it candles and store its result.
"""

import csv
import io
import math
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from exchanges.markets import market_min_notional, market_step
from strategies.registry import FEATURE_WARMUP, HOLD
from strategies.sizing import BUY, SELL, order_size
from strategies.timeframes import from_ms

YEAR_SECONDS = 365 * 86400


class BacktestError(Exception):
    """Bad input or too little data. ``str()`` is safe to show."""


def _dec(value):
    return Decimal(repr(float(value)))


@dataclass
class Fill:
    trade: int
    time_ms: int
    side: str
    price: Decimal
    quantity: Decimal
    fee: Decimal
    reason: str
    profit: Decimal | None = None  # the round trip's profit, on the fill that closes it

    @property
    def notional(self):
        return self.price * self.quantity


@dataclass
class Simulation:
    equity: list = field(default_factory=list)  # (close ms, equity float)
    fills: list = field(default_factory=list)
    decisions: list = field(default_factory=list)  # (close ms, action, fraction, reason)
    refusals: list = field(default_factory=list)  # (close ms, side, reason)
    trade_profits: list = field(default_factory=list)  # closed round trips, Decimal
    fees: Decimal = Decimal(0)
    candles_in_market: int = 0
    start_price: float = 0.0
    end_price: float = 0.0
    open_trade: bool = False


class WalkForwardModels:
    """Models for the learned kind, retrained every ``retrain_days`` on candles closing at or before the decision."""

    def __init__(self, strat, series):
        self.strat = strat
        self.series = series
        self.model = None
        self.trained_at = None
        self.trainings = 0

    def __call__(self, index):
        close_ms = int(self.series.time[index]) + self.series.step_ms
        period = self.strat.params["retrain_days"] * 86400 * 1000
        if self.model is None or close_ms - self.trained_at >= period:
            p = self.strat.params
            window = self.series.upto(index, p["train_candles"] + FEATURE_WARMUP + p["horizon"])
            self.model, _ = self.strat.train([window], close_ms)
            self.trained_at = close_ms
            self.trainings += 1
        return self.model


def simulate(*, strat, series, first_index, fee, allocation, market, position_cap=None, models=None, progress=None):
    """Run ``strat`` on ``series`` deciding at the close of candles ``first_index`` .. end.

    ``models(index)`` gives the model for a decision at candle ``index`` (the
    learned kind); ``progress(done, total)`` is called as it goes.
    """
    fee = Decimal(str(fee))
    allocation = Decimal(str(allocation))
    position_cap = Decimal(str(position_cap)) if position_cap is not None else allocation
    if first_index < 0 or first_index >= len(series):
        raise BacktestError("No candles in the backtest range.")
    cash, qty = allocation, Decimal(0)
    exposure = Decimal(0)
    pending = None
    trade_no = 0
    in_trade = False
    trade_cost = Decimal(0)
    result = Simulation()
    result.start_price = float(series.open[first_index + 1]) if first_index + 1 < len(series) else float(series.close[first_index])
    result.end_price = float(series.close[-1])
    total = len(series) - first_index
    for step, i in enumerate(range(first_index, len(series))):
        # 1. the order decided at the previous close fills at this candle's open
        if pending is not None:
            decision, decided_ms = pending
            pending = None
            price = _dec(series.open[i])
            sized = order_size(
                side=decision.action,
                fraction=decision.fraction,
                allocation=allocation,
                position_qty=qty,
                price=price,
                free_quote=cash,
                free_base=qty,
                position_cap=position_cap,
                market=market,
            )
            if not sized.ok:
                result.refusals.append((decided_ms, decision.action, sized.reason))
            elif decision.action == BUY:
                # As on Binance: a buy's fee is taken from the asset bought.
                cost = sized.quantity * price
                paid = cost * fee
                result.fees += paid
                if not in_trade:
                    trade_no += 1
                    in_trade = True
                    trade_cost = Decimal(0)
                cash -= cost
                qty += sized.quantity * (1 - fee)
                trade_cost += cost
                result.fills.append(Fill(trade_no, int(series.time[i]), BUY, price, sized.quantity, paid, decision.reason))
            else:
                # A sell's fee is taken from the quote received.
                gross = sized.quantity * price
                paid = gross * fee
                result.fees += paid
                basis = trade_cost * sized.quantity / qty
                trade_cost -= basis
                cash += gross - paid
                qty -= sized.quantity
                fill = Fill(trade_no, int(series.time[i]), SELL, price, sized.quantity, paid, decision.reason)
                fill.profit = gross - paid - basis
                result.fills.append(fill)
                if is_dust(qty, price, market):
                    # What is left cannot be sold on its own: the round trip is over.
                    in_trade = False
                    profit = sum((f.profit for f in result.fills if f.trade == trade_no and f.side == SELL), Decimal(0))
                    result.trade_profits.append(profit)
                    trade_cost = Decimal(0)
        # 2. value at this candle's close
        close = series.close[i]
        if in_trade:
            result.candles_in_market += 1
        close_ms = int(series.time[i]) + series.step_ms
        result.equity.append((close_ms, float(cash) + float(qty) * float(close)))
        # 3. decide at this close, on candles up to this close only
        window = series.upto(i, strat.lookback + 1)
        model = models(i) if models is not None else None
        decision = strat.decide(window, exposure, model)
        result.decisions.append((close_ms, decision.action, decision.fraction, decision.reason))
        exposure = decision.exposure_after(exposure)
        if decision.action != HOLD and i + 1 < len(series):
            pending = (decision, close_ms)
        if progress is not None:
            progress(step + 1, total)
    result.open_trade = in_trade
    return result


def is_dust(quantity, price, market):
    """A position too small to sell: under one lot step or under the minimum order value."""
    if quantity <= 0:
        return True
    step = market_step(market)
    if step and quantity < step:
        return True
    min_notional = market_min_notional(market)
    return bool(min_notional and quantity * price < min_notional)


def drawdown_series(values):
    """Drawdown (fraction below the running peak) at each point."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return values
    peaks = np.maximum.accumulate(values)
    return np.where(peaks > 0, (peaks - values) / peaks, 0.0)


def _round(value, places=8):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return round(float(value), places)


def compute_metrics(*, equity, trade_profits, fees, candles_in_market, start_price, end_price, step_seconds):
    """Freqtrade-named metrics of an equity curve ``[(ms, value), ...]`` and closed round trips.

    - total_return: last / first - 1; CAGR: annualised over first..last time;
    - max_drawdown: largest fall from a running peak (fraction and absolute), with its peak and trough times;
    - sharpe / sortino: mean per-candle return over its standard deviation (sample) / downside deviation
      (root mean square of the negative returns), times sqrt(candles per year);
    - calmar: CAGR / max drawdown; profit_factor: gross profit / gross loss;
    - expectancy: mean profit per round trip; expectancy_ratio: (1 + avg win / avg loss) x win rate - 1;
    - exposure: share of candles holding a position; market_change: buy-and-hold over the same period.
    """
    times = [t for t, _ in equity]
    values = np.array([v for _, v in equity], dtype=float)
    first, last = float(values[0]), float(values[-1])
    total_return = last / first - 1 if first else None
    years = (times[-1] - times[0]) / 1000 / YEAR_SECONDS
    cagr = (last / first) ** (1 / years) - 1 if years > 0 and first > 0 and last > 0 else None
    dd = drawdown_series(values)
    trough = int(np.argmax(dd)) if len(dd) else 0
    peak = int(np.argmax(values[: trough + 1])) if len(values) else 0
    max_dd = float(dd[trough]) if len(dd) else 0.0
    returns = values[1:] / values[:-1] - 1 if len(values) > 1 else np.array([])
    per_year = math.sqrt(YEAR_SECONDS / step_seconds)
    sharpe = sortino = None
    if len(returns) > 1:
        std = float(np.std(returns, ddof=1))
        sharpe = float(np.mean(returns)) / std * per_year if std > 0 else None
        downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
        sortino = float(np.mean(returns)) / downside * per_year if downside > 0 else None
    calmar = cagr / max_dd if cagr is not None and max_dd > 0 else None
    profits = [float(p) for p in trade_profits]
    wins = [p for p in profits if p > 0]
    losses = [-p for p in profits if p <= 0]
    gross_loss = sum(losses)
    win_rate = len(wins) / len(profits) if profits else None
    avg_win = sum(wins) / len(wins) if wins else 0.0
    avg_loss = gross_loss / len(losses) if losses else 0.0
    return {
        "start": from_ms(times[0]).isoformat(),
        "end": from_ms(times[-1]).isoformat(),
        "starting_balance": _round(first, 8),
        "final_balance": _round(last, 8),
        "total_profit_abs": _round(last - first, 8),
        "total_return": _round(total_return),
        "cagr": _round(cagr),
        "max_drawdown": _round(max_dd),
        "max_drawdown_abs": _round(float(values[peak] - values[trough]) if len(values) else 0.0, 8),
        "drawdown_start": from_ms(times[peak]).isoformat() if max_dd > 0 else None,
        "drawdown_end": from_ms(times[trough]).isoformat() if max_dd > 0 else None,
        "sharpe": _round(sharpe, 4),
        "sortino": _round(sortino, 4),
        "calmar": _round(calmar, 4),
        "profit_factor": _round(sum(wins) / gross_loss, 4) if gross_loss > 0 else None,
        "expectancy": _round(sum(profits) / len(profits), 8) if profits else None,
        "expectancy_ratio": _round((1 + avg_win / avg_loss) * win_rate - 1, 4) if avg_loss > 0 and profits else None,
        "win_rate": _round(win_rate, 4),
        "trades": len(profits),
        "wins": len(wins),
        "losses": len(losses),
        "fees_paid": _round(fees, 8),
        "exposure": _round(candles_in_market / len(values), 4) if len(values) else None,
        "market_change": _round(end_price / start_price - 1) if start_price else None,
    }


def equity_points(equity):
    """``[[ms, equity, drawdown %], ...]`` for the chart."""
    dd = drawdown_series([v for _, v in equity])
    return [[t, round(v, 8), round(float(d) * 100, 4)] for (t, v), d in zip(equity, dd, strict=True)]


def fills_rows(fills):
    return [
        {
            "trade": f.trade,
            "time": from_ms(f.time_ms).isoformat(),
            "side": f.side,
            "price": str(f.price),
            "quantity": str(f.quantity),
            "notional": str(f.notional.normalize()),
            "fee": str(f.fee.normalize()),
            "profit": str(f.profit.normalize()) if f.profit is not None else "",
            "reason": f.reason,
        }
        for f in fills
    ]


CSV_COLUMNS = ["trade", "time", "side", "price", "quantity", "notional", "fee", "profit", "reason"]


def trades_csv(rows):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    for row in rows:
        writer.writerow({key: row.get(key, "") for key in CSV_COLUMNS})
    return buffer.getvalue()


def first_index_at(series, start):
    """Index of the first candle closing after ``start``."""
    closes = series.time + series.step_ms
    start_ms = int(start.timestamp() * 1000)
    return int(np.searchsorted(closes, start_ms, side="right"))


def warmup_candles(strat):
    if strat.uses_model:
        p = strat.params
        return p["train_candles"] + FEATURE_WARMUP + p["horizon"] + 1
    return strat.lookback + 1

