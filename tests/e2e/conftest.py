import os
from pathlib import Path

import pytest

from tests.e2e.stack import ROOT, Stack

CHROMIUM = "/usr/bin/chromium"
# Where the journey saves its screenshots (the README shows copies of them from docs/).
SCREENSHOTS = Path(os.environ.get("ONECLICK_SCREENSHOTS", ROOT / "var" / "screenshots"))

# The strategies the journey uses. "Momentum 1m" buys about 30 % of the allocation in a market that rose
# 20 % in one minute, during the next half hour (its volatility window holds the jump).
# The strategies the journey uses, created as staff would (the strategy service), without their
# schedules: the journey runs them by command, so nothing trades behind its back.
STRATEGIES = """
from datetime import timedelta
from django_q.models import Schedule
from strategies.services import strategy_create
strategy_create(name="Momentum 1m", kind="trend", timeframe="1m", markets=["BTC/USDT", "ETH/USDT", "SOL/USDT"],
                params={"fast": 2, "slow": 30, "vol_window": 30, "risk_per_candle": 0.01, "min_trade": 0.0},
                signal_ttl=timedelta(minutes=15), description="Follows a rise within minutes.")
strategy_create(name="Trend Rider", kind="trend", markets=["BTC/USDT", "ETH/USDT", "SOL/USDT"],
                description="In while the 12-candle average is above the 48-candle one, out when it drops below.")
Schedule.objects.filter(name__startswith="strategy-").delete()
"""


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """web, worker and paper as `make run` starts them, on free ports, with a fresh database."""
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make setup` installs it (apt-get install chromium)")
    stack = Stack(tmp_path_factory.mktemp("e2e"))
    try:
        stack.start()
        stack.shell(STRATEGIES)
        yield stack
    finally:
        stack.stop()


@pytest.fixture(scope="package")
def browser():
    """Playwright's sync API keeps an event loop running in this thread: it ends with the e2e tests."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def screenshots():
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
