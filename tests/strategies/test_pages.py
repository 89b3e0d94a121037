"""Portal pages: strategies and signals are public to signed-in users; backtests belong to who ran them."""

import csv
import io
from datetime import timedelta

import pytest
from django.conf import settings

from strategies.models import Backtest, Signal
from strategies.services import BACKTEST_TASK, strategy_run
from strategies.tasks import backtest_execute_task

from .conftest import CLOSE, queued_tasks


@pytest.fixture
def signals(paper, trend):
    strategy_run(strategy=trend, candle_close=CLOSE, now=CLOSE + timedelta(seconds=5))
    return list(Signal.objects.filter(strategy=trend).order_by("market"))


def test_pages_need_a_signed_in_user(client, trend):
    for url in ["/strategies/", f"/strategies/{trend.pk}/", "/signals/", "/strategies/backtests/"]:
        response = client.get(url)
        assert response.status_code == 302 and "/accounts/login/" in response.url


def test_strategy_list_shows_public_info_and_recent_signals(client, alice, signals, trend):
    client.force_login(alice)
    page = client.get("/strategies/").content.decode()
    assert trend.name in page and trend.public_key in page and "BTC/USDT, ETH/USDT" in page
    assert f"/signals/{signals[0].pk}/" in page


def test_signal_history_per_strategy_and_per_market(client, alice, signals, trend):
    client.force_login(alice)
    page = client.get("/signals/", {"strategy": trend.pk, "market": "ETH/USDT"}).content.decode()
    eth = next(s for s in signals if s.market == "ETH/USDT")
    btc = next(s for s in signals if s.market == "BTC/USDT")
    assert f"/signals/{eth.pk}/" in page and f"/signals/{btc.pk}/" not in page
    assert client.get("/signals/", {"strategy": 999999}).status_code == 404
    detail = client.get(f"/strategies/{trend.pk}/", {"market": "BTC/USDT"}).content.decode()
    assert f"/signals/{btc.pk}/" in detail and f"/signals/{eth.pk}/" not in detail


def test_signal_page_shows_what_is_needed_to_verify_it(client, alice, signals, trend):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from html import unescape
    import re

    client.force_login(alice)
    signal = signals[0]
    page = client.get(f"/signals/{signal.pk}/").content.decode()
    payload = unescape(re.search(r'<code id="payload">(.*?)</code>', page, re.S).group(1))
    signature = re.search(r'<code id="signature">(.*?)</code>', page).group(1)
    public_key = re.search(r'<code id="public-key">(.*?)</code>', page).group(1)
    assert public_key == trend.public_key
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(public_key)).verify(bytes.fromhex(signature), payload.encode())
    assert "Signature valid" in page
    assert client.get("/signals/999999/").status_code == 404


def test_backtest_runs_in_the_background_and_shows_its_result(client, alice, bob, paper, trend, empty_queue, django_capture_on_commit_callbacks):
    client.force_login(alice)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/strategies/{trend.pk}/backtest/",
            {"market": "BTC/USDT", "start": "2025-04-01", "end": "2025-05-01", "fee": "0.001", "allocation": "1000"},
        )
    backtest = Backtest.objects.get()
    assert response.status_code == 302 and response.url == f"/strategies/backtests/{backtest.pk}/"
    assert backtest.user == alice and backtest.status == Backtest.Status.QUEUED
    # In the backtests' own queue, never in the one orders go through.
    assert queued_tasks(settings.BACKTEST_QUEUE) == [(BACKTEST_TASK, (backtest.pk,))]
    assert queued_tasks() == []
    pending = client.get(response.url).content.decode()
    assert 'http-equiv="refresh"' in pending

    backtest_execute_task(backtest.pk)  # what the worker does with that task
    backtest.refresh_from_db()
    assert backtest.status == Backtest.Status.DONE, backtest.error
    page = client.get(response.url).content.decode()
    for label in ["Total profit %", "CAGR %", "Max % of account underwater", "Sharpe", "Sortino", "Calmar",
                  "Profit factor", "Expectancy", "Win%", "Total trades", "Fees paid", "Market exposure",
                  "Market change (buy and hold)", "Drawdown start"]:
        assert label in page
    assert 'id="equity-data"' in page and "equity.js" in page and "uPlot.iife.min.js" in page
    assert len(backtest.equity) == 30 * 6
    rows = list(csv.DictReader(io.StringIO(client.get(f"{response.url}trades.csv").content.decode())))
    assert len(rows) == len(backtest.trades)
    assert all(row["side"] in ("buy", "sell") for row in rows)

    # Bob cannot see Alice's backtest, nor its trades.
    client.force_login(bob)
    assert client.get(response.url).status_code == 404
    assert client.get(f"{response.url}trades.csv").status_code == 404
    assert f"/strategies/backtests/{backtest.pk}/" not in client.get("/strategies/backtests/").content.decode()


@pytest.mark.parametrize(
    "start, end",
    [("2025-05-01", "2025-05-01"), ("2025-05-10", "2025-05-01")],
    ids=["empty", "reversed"],
)
def test_an_empty_or_reversed_range_is_one_clear_error(client, alice, trend, start, end):
    client.force_login(alice)
    response = client.post(
        f"/strategies/{trend.pk}/backtest/",
        {"market": "BTC/USDT", "start": start, "end": end, "fee": "0.001", "allocation": "1000"},
    )
    assert response.status_code == 200
    assert "The range is empty or reversed" in response.content.decode()
    assert not Backtest.objects.exists()


def _backtest(user, strategy, start="2025-04-01", end="2025-05-01"):
    from datetime import datetime, timezone

    return Backtest.objects.create(
        user=user, strategy=strategy, market="BTC/USDT",
        start=datetime.fromisoformat(start).replace(tzinfo=timezone.utc),
        end=datetime.fromisoformat(end).replace(tzinfo=timezone.utc),
    )


def test_a_backtest_over_its_time_limit_fails_and_says_why(client, alice, bob, paper, trend, monkeypatch):
    from strategies import services

    monkeypatch.setattr(services, "backtest_time_limit", lambda: 0)
    backtest = _backtest(alice, trend)
    assert backtest_execute_task(backtest.pk) == Backtest.Status.FAILED
    backtest.refresh_from_db()
    assert backtest.finished and not backtest.metrics
    client.force_login(alice)
    page = client.get(f"/strategies/backtests/{backtest.pk}/").content.decode()
    assert "The backtest failed: Stopped at 0 % after the 0 s a backtest may take" in page
    assert 'http-equiv="refresh"' not in page
    client.force_login(bob)
    assert client.get(f"/strategies/backtests/{backtest.pk}/").status_code == 404


def test_a_backtest_delivered_again_after_its_worker_died_fails_and_says_why(client, alice, bob, trend):
    backtest = _backtest(alice, trend)
    Backtest.objects.filter(pk=backtest.pk).update(status=Backtest.Status.RUNNING, progress=40)
    assert backtest_execute_task(backtest.pk) == "failed"
    client.force_login(alice)
    page = client.get(f"/strategies/backtests/{backtest.pk}/").content.decode()
    assert "The backtest failed: The worker stopped while running this backtest" in page
    assert 'http-equiv="refresh"' not in page
    client.force_login(bob)
    assert client.get(f"/strategies/backtests/{backtest.pk}/").status_code == 404
