"""The embedded demo's data, created idempotently by `manage.py seed_demo`.

- the demo user (email verified, 2FA off);
- the built-in strategies with their signing keys and schedules;
- two paper-exchange accounts with trade-only keys, made with the paper
  exchange's own CLI and linked through the same probe as any key: one on
  its Binance dialect (USDT, USDC), one on its Kraken dialect (EUR);
- a running bot on each built-in strategy, on the key whose quotes it trades;
- one strategy run for the last closed candle, whose signals wait in the task
  queue until the worker starts, so the demo shows orders within a minute.

When no paper exchange is listening yet (``make run`` seeds before it starts
the processes) a temporary one is started on the configured port.
"""

import json
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlsplit

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from exchanges import Credentials, exchange_class
from keys.models import ExchangeKey
from keys.services import key_link
from portfolios.models import Bot
from strategies.models import Strategy
from strategies.services import strategies_seed, strategy_run

DEMO_EMAIL = "demo@example.com"
# The demo's paper accounts: exchange -> (label, balances).
DEMO_KEYS = {
    "paper": ("Paper account", ("USDT=10000", "USDC=10000")),
    "paper_kraken": ("Paper account (Kraken, EUR)", ("EUR=10000",)),
}
# One demo bot per built-in strategy: name -> (strategy, exchange of its key, quote).
DEMO_BOTS = {
    "Demo trend bot": ("Trend Rider", "paper", "USDT"),
    "Demo forest bot": ("Forest Forecaster", "paper", "USDT"),
    "Demo euro bot": ("Euro Trend Rider", "paper_kraken", "EUR"),
}


@dataclass
class DemoSeed:
    user: object
    created: bool
    notes: list = field(default_factory=list)


class DemoError(Exception):
    pass


@transaction.atomic
def demo_user(*, password):
    User = get_user_model()
    user = User.objects.filter(email__iexact=DEMO_EMAIL).first()
    created = user is None
    if created:
        user = User.objects.create_user(username="demo", email=DEMO_EMAIL, password=password)
    EmailAddress.objects.update_or_create(user=user, email=DEMO_EMAIL, defaults={"verified": True, "primary": True})
    return user, created


def _paper_up(url):
    try:
        with urllib.request.urlopen(f"{url}/api/v3/ping", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


@contextmanager
def paper_exchange_running(url=None):
    """Use the paper exchange at ``url``, starting a temporary one there if none answers."""
    url = url or settings.PAPEREXCHANGE_URL
    if _paper_up(url):
        yield url
        return
    parts = urlsplit(url)
    process = subprocess.Popen(
        [sys.executable, "-m", "paperexchange", "serve", "--host", parts.hostname or "127.0.0.1",
         "--port", str(parts.port or 8100), "--data", settings.PAPEREXCHANGE_DATA],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not _paper_up(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise DemoError(f"The paper exchange did not start at {url}.")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


def _paper_cli(*args):
    result = subprocess.run(
        [sys.executable, "-m", "paperexchange", "--data", settings.PAPEREXCHANGE_DATA, *args],
        capture_output=True, text=True, timeout=60,
    )
    if result.returncode != 0:
        raise DemoError(f"paperexchange {args[0]} {args[1]} failed: {result.stderr.strip()}")
    return result.stdout.strip()


def demo_paper_key(*, user, exchange="paper"):
    """The demo user's linked paper key on one of the paper exchange's venues, created and linked once."""
    key = ExchangeKey.objects.filter(owner=user, exchange=exchange, status=ExchangeKey.Status.ACTIVE).first()
    if key is not None:
        return key, False
    label, balances = DEMO_KEYS[exchange]
    venue = exchange.removeprefix("paper_") if exchange != "paper" else "binance"
    account = _paper_cli("account", "create", "--venue", venue,
                         *[arg for balance in balances for arg in ("--balance", balance)])
    made = json.loads(_paper_cli("key", "create", "--account", account, "--ip", "127.0.0.1", "--json"))
    key = key_link(
        owner=user, exchange=exchange, label=label,
        credentials=Credentials(api_key=made["api_key"], secret=made.get("secret") or ""),
        confirmed_no_withdrawals=not exchange_class(exchange).reports_permissions,
    )
    return key, True


def demo_bot(*, user, key, name, strategy_name, quote):
    bot = Bot.objects.filter(owner=user, name=name).first()
    if bot is not None:
        return bot, False
    strategy = Strategy.objects.get(name=strategy_name)
    markets = [m for m in strategy.markets if m.endswith(f"/{quote}")]
    bot = Bot.objects.create(
        owner=user, name=name, key=key, strategy=strategy, markets=markets, quote_asset=quote,
        # The cap fits the strategy: a buy signal may spend the whole allocation.
        allocation=Decimal("3000"), position_cap=Decimal("3000"),
    )
    return bot, True


def demo_seed(*, password, with_trading=True):
    user, created = demo_user(password=password)
    seed = DemoSeed(user=user, created=created)
    if not with_trading:
        return seed
    strategies_seed()
    with paper_exchange_running():
        keys = {}
        for exchange in DEMO_KEYS:
            key, key_created = demo_paper_key(user=user, exchange=exchange)
            keys[exchange] = key
            seed.notes.append(f"{'Linked' if key_created else 'Found'} {key.get_exchange_display()} key "
                              f"{key.api_key_hint}")
        for name, (strategy_name, exchange, quote) in DEMO_BOTS.items():
            bot, bot_created = demo_bot(user=user, key=keys[exchange], name=name, strategy_name=strategy_name,
                                        quote=quote)
            seed.notes.append(f"{'Created' if bot_created else 'Found'} bot “{bot.name}”")
        for strategy in Strategy.objects.filter(active=True).order_by("name"):
            outcome = strategy_run(strategy=strategy, trigger="demo")
            if outcome.status == "skipped":
                seed.notes.append(f"{strategy.name}: already ran for the last closed candle")
            elif outcome.status == "failed":
                seed.notes.append(f"{strategy.name}: run failed: {outcome.error}")
            else:
                actions = ", ".join(f"{s.market} {s.action}" for s in outcome.signals)
                seed.notes.append(f"{strategy.name}: {len(outcome.signals)} signals ({actions})")
    return seed
