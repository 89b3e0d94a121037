import subprocess
import sys

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from oneclick.demo import DEMO_EMAIL

pytestmark = pytest.mark.django_db


def test_every_portal_page_needs_login(client):
    for name in ("dashboard", "security", "keys:list", "portfolios:bot_list", "strategies:signal_list", "alerts:list"):
        response = client.get(reverse(name))
        assert response.status_code == 302
        assert response.url.startswith(reverse("account_login"))


def test_shell_has_navigation_and_empty_states(client, alice):
    client.force_login(alice)
    page = client.get(reverse("dashboard")).content.decode()
    for label in ("Dashboard", "Keys", "Bots", "Signals", "Alerts", "Security"):
        assert f">{label}" in page
    assert "Link your first exchange key" in page
    assert "Turn on two-factor authentication" in page
    assert alice.email in page
    bots = client.get(reverse("portfolios:bot_list")).content.decode()
    assert "No bots yet" in bots


def test_security_headers_and_csp_without_inline_script(client, alice):
    client.force_login(alice)
    response = client.get(reverse("dashboard"))
    csp = response["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "<script>" not in response.content.decode()


def test_not_found_page_is_in_portal_style(client, alice):
    client.force_login(alice)
    response = client.get("/no/such/page/")
    assert response.status_code == 404
    assert b"Page not found" in response.content
    assert b"pico.min.css" in response.content


def test_static_files_are_served_with_debug_off(client, settings):
    assert settings.DEBUG is False
    response = client.get("/static/oneclick/portal.css")
    assert response.status_code == 200


def test_demo_seeding_twice_creates_one_demo_user(transactional_db):
    from tests.conftest import subprocess_env

    env = subprocess_env(ONECLICK_DEMO_PASSWORD="demo-password-for-tests", LOG_LEVEL="WARNING")
    for _ in range(2):
        result = subprocess.run(
            [sys.executable, "manage.py", "seed_demo", "--user-only"], env=env, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, result.stderr
    assert "Found demo user demo@example.com" in result.stdout
    assert get_user_model().objects.filter(email=DEMO_EMAIL).count() == 1
    demo = get_user_model().objects.get(email=DEMO_EMAIL)
    assert demo.check_password("demo-password-for-tests")
    assert demo.emailaddress_set.get().verified


def test_demo_seeding_links_a_paper_key_starts_bots_and_runs_strategies_once(
    paper, settings, q_sync, django_capture_on_commit_callbacks
):
    from oneclick.demo import demo_seed
    from portfolios.models import Bot, SignalDecision
    from strategies.models import Signal, StrategyRun

    settings.PAPEREXCHANGE_DATA = str(paper.data_dir)
    with django_capture_on_commit_callbacks(execute=True):
        first = demo_seed(password="demo-password-for-tests")
    demo = first.user
    # Two venues of the paper exchange: Binance's dialect (USDT) and Kraken's (EUR).
    assert {(k.exchange, k.status) for k in demo.exchange_keys.all()} == {("paper", "active"),
                                                                          ("paper_kraken", "active")}
    bots = list(Bot.objects.filter(owner=demo))
    assert {(bot.strategy.name, bot.key.exchange, bot.quote_asset) for bot in bots} == {
        ("Trend Rider", "paper", "USDT"), ("Forest Forecaster", "paper", "USDT"),
        ("Euro Trend Rider", "paper_kraken", "EUR")}
    assert all(bot.state == "running" for bot in bots)
    runs = StrategyRun.objects.filter(trigger="demo").count()
    assert runs == 3
    # Every signal in a bot's markets was acted on (ordered, held or ignored with a reason).
    for bot in bots:
        expected = Signal.objects.filter(strategy=bot.strategy, market__in=bot.markets).count()
        assert SignalDecision.objects.filter(bot=bot).count() == expected > 0
    # The bots' caps fit their strategies: none of them turns down its own strategy's buy for its size.
    assert not SignalDecision.objects.filter(bot__owner=demo, reason__contains="position cap").exists()

    with django_capture_on_commit_callbacks(execute=True):
        again = demo_seed(password="demo-password-for-tests")
    assert again.user == demo and not again.created
    assert demo.exchange_keys.count() == 2 and Bot.objects.filter(owner=demo).count() == 3
    assert StrategyRun.objects.filter(trigger="demo").count() == runs
    assert any("already ran" in note for note in again.notes)
