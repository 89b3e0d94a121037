import subprocess
import sys
import textwrap

import pytest

from exchanges import Credentials, RateLimited, exchange_class
from exchanges.budget import Budget, BudgetExhausted, Limits, process_share
from tests.conftest import subprocess_env

SECOND_WORKER = textwrap.dedent(
    """
    import django
    django.setup()
    from exchanges import Credentials, exchange_class
    import sys
    exchange = exchange_class("paper")(Credentials(api_key=sys.argv[1], secret=sys.argv[2]))
    print("ready", flush=True)
    sys.stdin.readline()  # the other worker has just been told 429
    print("blocked", exchange.budget().blocked_for() > 0, flush=True)
    print("usdt", exchange.balances()["USDT"]["free"], flush=True)
    """
)


@pytest.mark.django_db(transaction=True)
def test_a_429_makes_every_worker_on_the_ip_back_off(paper, paper_account):
    exchange = exchange_class("paper")(Credentials(api_key=paper_account.api_key, secret=paper_account.secret))
    exchange.balances()
    other = subprocess.Popen(
        [sys.executable, "-c", SECOND_WORKER, paper_account.api_key, paper_account.secret],
        env=subprocess_env(PAPEREXCHANGE_URL=paper.url, LOG_LEVEL="WARNING"),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert other.stdout.readline().strip() == "ready"
    paper.fault(force={"status": 429, "count": 1})
    with pytest.raises(RateLimited):
        exchange.balances()
    assert paper.counters()["http_429"] == 1
    out, err = other.communicate("go\n", timeout=120)
    assert other.returncode == 0, err[-2000:]
    assert "blocked True" in out  # the other process saw the shared mark
    assert "usdt 10000" in out  # and succeeded after waiting
    assert paper.counters()["http_429"] == 1
    assert paper.counters().get("http_418", 0) == 0


@pytest.mark.django_db
def test_weight_reported_by_the_exchange_is_never_undercounted(paper, paper_account):
    paper.fresh_window()  # the exchange counts weight per calendar minute
    exchange = exchange_class("paper")(Credentials(api_key=paper_account.api_key, secret=paper_account.secret))
    exchange.markets()
    # Another client on the same IP spends weight we did not count.
    outsider = paper_account.ccxt()
    for _ in range(3):
        outsider.fetch_balance()
    budget = exchange.budget()
    before = budget.used_weight()
    exchange.call("fetch_ticker", "BTC/USDT")
    reported = int(exchange.client.last_response_headers["X-MBX-USED-WEIGHT-1M"])
    assert reported >= before + 60
    assert budget.used_weight() >= int(reported * process_share())


@pytest.mark.django_db
def test_orders_are_served_before_bookkeeping_when_the_budget_is_tight(settings):
    budget = Budget(exchange="paper", host="test-host", limits=Limits(100, 10, 1000), account="acct")
    share_limit = budget.weight.amount
    budget.acquire(int(share_limit * 0.85))
    with pytest.raises(BudgetExhausted):
        budget.acquire(1, bookkeeping=True, max_wait=0)
    budget.acquire(1, order=True, max_wait=0)  # an order still fits


@pytest.mark.django_db
def test_order_counts_per_account_are_budgeted():
    budget = Budget(exchange="paper", host="test-host-2", limits=Limits(100000, 30, 1000), account="acct")
    allowed = budget.orders_10s.amount
    for _ in range(allowed):
        budget.acquire(1, order=True, max_wait=0)
    with pytest.raises(BudgetExhausted) as caught:
        budget.acquire(1, order=True, max_wait=0)
    assert 0 < caught.value.retry_after <= 10
    other_account = Budget(exchange="paper", host="test-host-2", limits=Limits(100000, 30, 1000), account="other")
    other_account.acquire(1, order=True, max_wait=0)


@pytest.mark.django_db
def test_limits_come_from_exchange_info(paper, paper_account):
    paper.limits(weight_per_minute=1200, orders_per_10s=50, orders_per_day=160000)
    try:
        import exchanges

        exchanges.caches_clear()
        exchange = exchange_class("paper")(Credentials(api_key=paper_account.api_key, secret=paper_account.secret))
        exchange.markets()
        assert exchange.limits() == Limits(1200, 50, 160000)
    finally:
        paper.reset()
        exchanges.caches_clear()
