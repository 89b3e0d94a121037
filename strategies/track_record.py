"""A strategy's public, tamper-evident track record: its chained signals and what following them would have made.

Every signal's signed payload names the hash of the strategy's previous
signal (:func:`strategies.services.chain_hash`), so the chain's head (the
newest hash, published on the strategy's public page and in every follower's
daily summary email) commits to the whole history: an altered, removed or
reordered signal breaks it. :func:`track_record_export` is the JSON anyone can
check with ``strategies/track_record_verify.py`` (Python, ``cryptography``
only) or in the browser, on the public page.
"""

import json
from dataclasses import dataclass
from decimal import Decimal

from strategies.models import Signal
from strategies.services import CHAIN_GENESIS, signal_payload_bytes

EXPORT_FORMAT = "oneclick-track-record/1"
# What following the signals costs, as the platform's venues charge a taker: 0.1 % a trade.
FOLLOW_FEE = Decimal("0.001")
FOLLOW_ALLOCATION = Decimal(1000)


def chained_signals(strategy):
    """The strategy's chained signals, in chain order (signals from before the chain are not in it)."""
    return Signal.objects.filter(strategy=strategy).exclude(previous_hash="").order_by("pk")


def track_record_export(strategy):
    """Everything a verifier needs, and nothing secret: the public key, the head and every signed payload."""
    signals = []
    for signal in chained_signals(strategy).select_related("strategy").iterator(chunk_size=2000):
        signals.append({"payload": json.loads(signal_payload_bytes(signal)), "signature": signal.signature,
                        "hash": signal.chain_hash})
    return {
        "format": EXPORT_FORMAT,
        "strategy": {"id": strategy.pk, "name": strategy.name, "exchange": strategy.exchange,
                     "timeframe": strategy.timeframe},
        "public_key": strategy.public_key,
        "genesis": CHAIN_GENESIS,
        "head": strategy.chain_head or CHAIN_GENESIS,
        "signals": signals,
    }


@dataclass
class Following:
    """Following the signals with ``start`` of the quote: buys spend the signal's share of it, sells sell the
    signal's share of the position, at the price each signal saw (its candle's close), fees included."""

    start: Decimal
    end: Decimal
    trades: int
    fees: Decimal
    max_drawdown: Decimal  # a fraction of the peak

    @property
    def total_return(self):
        return self.end / self.start - 1 if self.start else Decimal(0)


def follow(signals, *, allocation=FOLLOW_ALLOCATION, fee=FOLLOW_FEE):
    cash, fees, trades = allocation, Decimal(0), 0
    held, last = {}, {}
    peak, worst = allocation, Decimal(0)
    for signal in signals:
        price = signal.price
        last[signal.market] = price
        if signal.action == "buy" and price > 0:
            spend = min(cash, signal.fraction * allocation)
            if spend > 0:
                cost = spend * fee
                held[signal.market] = held.get(signal.market, Decimal(0)) + (spend - cost) / price
                cash -= spend
                fees += cost
                trades += 1
        elif signal.action == "sell" and held.get(signal.market):
            quantity = held[signal.market] * signal.fraction
            proceeds = quantity * price
            held[signal.market] -= quantity
            cash += proceeds * (1 - fee)
            fees += proceeds * fee
            trades += 1
        equity = cash + sum(quantity * last[market] for market, quantity in held.items())
        peak = max(peak, equity)
        worst = max(worst, (peak - equity) / peak if peak else Decimal(0))
    end = cash + sum(quantity * last[market] for market, quantity in held.items())
    return Following(start=allocation, end=end, trades=trades, fees=fees, max_drawdown=worst)
