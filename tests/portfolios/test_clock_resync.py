"""Our clock out of step with the exchange's beyond recvWindow: resynchronised, nothing lost or sent twice."""

from datetime import timedelta

import pytest
from django_q.models import Schedule

import exchanges
from portfolios.execution import signal_execute
from portfolios.models import Order
from portfolios.tasks import bot_signal_execute
from tests.portfolios.conftest import issue_signal


@pytest.fixture(autouse=True)
def _fresh_clock():
    exchanges.caches_clear()
    exchanges.clients_forget()
    yield
    exchanges.caches_clear()
    exchanges.clients_forget()


@pytest.mark.django_db
@pytest.mark.parametrize("skew_ms", [30_000, -30_000])
def test_a_read_refused_for_its_timestamp_is_made_again_on_the_exchanges_time(skew_ms, alice_paper_key, paper,
                                                                             paper_account):
    from keys.services import key_exchange

    paper.fault(clock_skew={"ms": skew_ms})
    _key, exchange = key_exchange(key_id=alice_paper_key.pk)
    assert exchange.balances()["USDT"]["free"] == 10000
    # Every client of the process signs on the exchange's time from now on, other keys' too.
    _key, another = key_exchange(key_id=alice_paper_key.pk)
    exchanges.clients_forget()
    assert abs(another.client.options["timeDifference"] + skew_ms) < 5_000
    assert paper.counters()["requests_by_path"].get("/api/v3/time") == 1


@pytest.mark.django_db
def test_an_order_refused_for_its_timestamp_is_looked_up_then_sent_once(alice_bot, strategy, paper, paper_account,
                                                                      monkeypatch):
    from portfolios import execution

    signal = issue_signal(strategy, "BTC/USDT", "buy", "0.3")
    send = execution.order_send

    def clock_jumps_then_send(**kwargs):
        kwargs["exchange"].exchange_clock_ms()  # the exchange's clock measured...
        paper.fault(clock_skew={"ms": 30_000})  # ...then it jumps, after the market data, before the order
        return send(**kwargs)

    monkeypatch.setattr(execution, "order_send", clock_jumps_then_send)
    order = signal_execute(bot_id=alice_bot.pk, signal_id=signal.pk)
    order.refresh_from_db()
    # Refused (-1021), resynchronised, looked up and found missing, then sent again with the same id.
    assert order.state == "filled"
    assert order.attempts == 2
    assert [o["clientOrderId"] for o in paper.account(paper_account.id)["orders"]] == [order.client_order_id]
    assert paper.counters()["orders_by_client_order_id"] == {order.client_order_id: 1}


@pytest.mark.django_db
def test_a_second_delivery_failing_alike_keeps_the_one_planned_retry(alice_bot, strategy, paper, monkeypatch):
    signal = issue_signal(strategy, "BTC/USDT", "buy", "0.3")
    paper.fault(error={"count": 4, "status": 503, "scope": "all"})
    assert bot_signal_execute(alice_bot.pk, signal.pk) is None
    assert bot_signal_execute(alice_bot.pk, signal.pk) is None
    [retry] = Schedule.objects.filter(func="portfolios.tasks.bot_signal_execute")
    assert retry.name == f"retry bot {alice_bot.pk} signal {signal.pk} #1"
    assert not Order.objects.exists()
    assert timedelta(0) < retry.next_run - signal.created
