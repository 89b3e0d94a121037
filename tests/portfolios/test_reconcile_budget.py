"""A reconciliation's reads are bookkeeping: they leave the budget's reserve to orders."""

import pytest

from exchanges.budget import Budget
from portfolios.reconcile import key_reconcile
from portfolios.tasks import bot_signal_execute
from tests.portfolios.conftest import issue_signal

pytestmark = pytest.mark.django_db


def test_every_read_of_a_reconciliation_leaves_the_reserve_to_orders(alice_bot, strategy, paper, paper_account,
                                                                     monkeypatch):
    bot_signal_execute(alice_bot.pk, issue_signal(strategy, "BTC/USDT", "buy", "0.2").pk)
    taken = []
    real = Budget.try_acquire

    def recording(self, weight, *, order=False, bookkeeping=False):
        taken.append((weight, order, bookkeeping))
        return real(self, weight, order=order, bookkeeping=bookkeeping)

    monkeypatch.setattr(Budget, "try_acquire", recording)
    paper_before = paper.counters()["requests"]
    report = key_reconcile(key_id=alice_bot.key_id)

    assert report["new_fills"] == 0 and paper.counters()["requests"] > paper_before
    # Balances, permissions, trades, prices: every request it made was counted as bookkeeping.
    assert taken and all(bookkeeping for _weight, _order, bookkeeping in taken), taken
    # The order path is unchanged: an order is never held back as bookkeeping.
    taken.clear()
    bot_signal_execute(alice_bot.pk, issue_signal(strategy, "BTC/USDT", "sell", "0.5").pk)
    assert [(order, bookkeeping) for _weight, order, bookkeeping in taken if order] == [(True, False)]
