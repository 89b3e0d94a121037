from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django_q.models import Schedule

from strategies.models import Backtest, Signal, Strategy, StrategyRun


def test_seed_strategies_is_idempotent(db):
    call_command("seed_strategies", stdout=StringIO())
    names = set(Strategy.objects.values_list("name", flat=True))
    keys = dict(Strategy.objects.values_list("name", "public_key"))
    assert {"Trend Rider", "Forest Forecaster"} <= names
    assert all(len(k) == 64 for k in keys.values())
    call_command("seed_strategies", stdout=StringIO())
    assert dict(Strategy.objects.values_list("name", "public_key")) == keys
    assert Schedule.objects.filter(name__startswith="strategy-run:").count() == len(names)


def test_run_strategy_obeys_one_run_per_candle_unless_test(paper, trend):
    out = StringIO()
    call_command("run_strategy", trend.name, "--test", stdout=out)
    assert "test run (nothing signed)" in out.getvalue()
    assert not Signal.objects.exists() and not StrategyRun.objects.exists()
    call_command("run_strategy", trend.name, stdout=out)
    assert Signal.objects.filter(strategy=trend).count() == 2
    again = StringIO()
    call_command("run_strategy", trend.name, stdout=again)
    assert "already ran" in again.getvalue()
    assert StrategyRun.objects.count() == 1
    with pytest.raises(CommandError):
        call_command("run_strategy", "No such strategy")


def test_backtest_command_prints_the_metrics_and_writes_the_trades(paper, trend, tmp_path):
    out, err = StringIO(), StringIO()
    target = tmp_path / "trades.csv"
    call_command("backtest", trend.name, "--market", "BTC/USDT", "--start", "2025-03-01", "--end", "2025-04-01",
                 "--fee", "0.001", "--allocation", "1000", "--csv", str(target), stdout=out, stderr=err)
    text = out.getvalue()
    assert "Total profit %" in text and "Max % of account underwater" in text and "Market change" in text
    assert "100%" in err.getvalue()  # the progress bar reached the end
    assert target.read_text().startswith("trade,time,side,price")
    assert Backtest.objects.get().status == Backtest.Status.DONE


@pytest.mark.parametrize("start, end", [("2025-04-01", "2025-04-01"), ("2025-04-01", "2025-03-01")])
def test_backtest_command_refuses_an_empty_or_reversed_range(trend, start, end):
    with pytest.raises(CommandError, match="empty or reversed"):
        call_command("backtest", trend.name, "--market", "BTC/USDT", "--start", start, "--end", end)
    assert not Backtest.objects.exists()


def test_staff_run_now_action_obeys_one_run_per_candle(paper, trend, staff_client):
    url = "/admin/strategies/strategy/"
    response = staff_client.post(url, {"action": "run_now", "_selected_action": [trend.pk]}, follow=True)
    assert response.status_code == 200
    assert "2 signed signals" in response.content.decode()
    response = staff_client.post(url, {"action": "run_now", "_selected_action": [trend.pk]}, follow=True)
    assert "already ran" in response.content.decode()
    response = staff_client.post(url, {"action": "run_now_test", "_selected_action": [trend.pk]}, follow=True)
    assert "test, nothing signed" in response.content.decode()
    assert StrategyRun.objects.count() == 1 and Signal.objects.count() == 2


def test_admin_shows_failed_runs_and_refuses_bad_params(paper, trend, staff_client):
    StrategyRun.objects.create(strategy=trend, candle_close=trend.created.replace(minute=0, second=0, microsecond=0),
                               started=trend.created, status="failed", error="Exchange unreachable")
    page = staff_client.get("/admin/strategies/strategyrun/").content.decode()
    assert "Exchange unreachable" in page
    response = staff_client.post(f"/admin/strategies/strategy/{trend.pk}/change/", {
        "name": trend.name, "kind": "trend", "description": "", "timeframe": "4h", "exchange": "paper",
        "markets": '["BTC/USDT"]', "params": '{"fast": 50, "slow": 10}', "active": "on", "signal_ttl": "",
    })
    assert response.status_code == 200
    assert "fast must be shorter than slow" in response.content.decode()
    trend.refresh_from_db()
    assert trend.params["fast"] == 5


def test_admin_creates_a_strategy_with_keys_and_a_schedule(staff_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post("/admin/strategies/strategy/add/", {
            "name": "Admin made", "kind": "trend", "description": "", "timeframe": "4h", "exchange": "paper",
            "markets": '["BTC/USDT"]', "params": "{}", "active": "on", "signal_ttl": "",
        })
    assert response.status_code == 302
    strategy = Strategy.objects.get(name="Admin made")
    assert len(strategy.public_key) == 64 and strategy.private_key
    assert strategy.params["fast"] == 12  # defaults filled in by the class
    assert Schedule.objects.filter(name=f"strategy-run:{strategy.pk}").exists()
