"""Every venue the product names, against its dialect of the paper exchange, with its unmodified ccxt class.

``venue`` runs a test once per exchange of the platform: Binance, Binance.US,
Kraken, Bitvavo and One Trading (the real adapters, pointed at the paper
exchange's dialect of each through ``EXCHANGE_API_URLS``, as an operator points
one at a testnet) and the built-in paper exchange itself.
"""

from dataclasses import dataclass

import pytest

import exchanges
from exchanges import Credentials, exchange_class
from keys.services import key_link
from paperexchange import ids
from strategies.services import strategy_create

VENUES = ["binance", "binanceus", "kraken", "bitvavo", "onetrading", "paper"]
# The paper exchange is Binance's dialect at its root.
DIALECTS = {"paper": "binance"}
# Bots and accounts of the fault suite's worlds: Kraken counts 15 calls a minute per key.
WORLD_SIZES = {"kraken": (12, 6), "bitvavo": (24, 6), "onetrading": (24, 6)}
QUOTES = {"binance": "USDT", "binanceus": "USDT", "kraken": "EUR", "bitvavo": "EUR", "onetrading": "EUR",
          "paper": "USDT"}


@dataclass
class Venue:
    name: str
    dialect: str
    quote: str
    paper: object
    accounts: dict = None  # key id -> paper account id

    @property
    def adapter(self):
        return exchange_class(self.name)

    @property
    def market(self):
        return f"BTC/{self.quote}"

    @property
    def second_market(self):
        return f"ETH/{self.quote}"

    def engine_symbol(self, market):
        return market.replace("/", "")

    def create_account(self, **balances):
        return self.paper.create_account(venue=self.dialect, **(balances or {self.quote: "10000"}))

    def create_key(self, account_id, **options):
        return self.paper.create_key(account_id, **options)

    def link(self, owner, account_id=None, *, label=None, **key_options):
        account_id = account_id or self.create_account()
        secret = self.create_key(account_id, **key_options)
        key = key_link(owner=owner, exchange=self.name, label=label or f"{self.adapter.label} key",
                       confirmed_no_withdrawals=not self.adapter.reports_permissions,
                       credentials=Credentials(api_key=secret["api_key"], secret=secret.get("secret") or ""))
        self.accounts[key.pk] = account_id
        return key

    def account_of(self, key):
        return self.accounts[key.pk]

    def env(self):
        """What a worker process needs to reach this venue's dialect (a real venue's name pointed at it)."""
        return {} if self.name == "paper" else {"EXCHANGE_API_URLS": f"{self.name}={self.paper.venue_url(self.dialect)}"}

    def order_id(self, engine_id):
        """How the venue shows the paper exchange's order number."""
        return _render(self.dialect, engine_id, "order")

    def trade_id(self, engine_id):
        return _render(self.dialect, engine_id, "trade")

    def exchange_orders(self, account_id):
        return self.paper.account(account_id)["orders"]

    def exchange_trades(self, account_id):
        return self.paper.account(account_id)["trades"]


def _render(dialect, engine_id, kind):
    if dialect == "kraken":
        return ids.kraken_id(int(engine_id), "O" if kind == "order" else "T")
    if dialect in ("bitvavo", "onetrading"):
        return ids.uuid_id(int(engine_id), kind)
    return str(engine_id)


@pytest.fixture(params=VENUES)
def venue(request, paper, settings):
    name = request.param
    dialect = DIALECTS.get(name, name)
    if name != "paper":
        settings.EXCHANGE_API_URLS = {name: paper.venue_url(dialect)}
    exchanges.caches_clear()
    exchanges.clients_forget()
    yield Venue(name=name, dialect=dialect, quote=QUOTES[name], paper=paper, accounts={})
    exchanges.caches_clear()
    exchanges.clients_forget()


@pytest.fixture
def venue_strategy(db, venue):
    return strategy_create(name=f"Trend on {venue.name}", kind="trend", exchange=venue.name,
                           markets=[venue.market, venue.second_market])


@pytest.fixture
def venue_key(alice, venue):
    return venue.link(alice)


@pytest.fixture
def venue_bot(alice, venue, venue_key, venue_strategy):
    from tests.portfolios.conftest import make_bot

    return make_bot(alice, venue_key, venue_strategy, markets=(venue.market, venue.second_market),
                    quote=venue.quote, allocation="1000", cap="800", name=f"{venue.adapter.label} bot")
