from strategies.models import Signal, StrategyRun
from strategies.services import strategy_run, signal_verify

from .conftest import CLOSE


def test_trend_run_writes_one_signed_signal_per_market(paper, trend):
    outcome = strategy_run(strategy=trend, candle_close=CLOSE)
    assert outcome.status == "succeeded", outcome.error
    signals = Signal.objects.filter(strategy=trend).order_by("market")
    assert [s.market for s in signals] == ["BTC/USDT", "ETH/USDT"]
    for signal in signals:
        assert signal.candle_close == CLOSE
        assert signal.expires == CLOSE + trend.timeframe_delta
        assert signal.model_version.startswith("trend-1-")
        assert signal.reason
    run = StrategyRun.objects.get(strategy=trend)
    assert run.status == StrategyRun.Status.SUCCEEDED
