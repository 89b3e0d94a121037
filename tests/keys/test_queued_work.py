"""Disabling a key stops work that was already queued for it."""

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils.module_loading import import_string

from portfolios.models import Order, SignalDecision
from portfolios.services import signals_fan_out
from tests.conftest import login_verified
from tests.portfolios.conftest import alice_bot, alice_paper_key, issue_signal, strategy  # noqa: F401 (fixtures)
from tests.strategies.conftest import empty_queue, queued_tasks  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db


def test_disable_stops_an_order_attempt_already_in_the_queue(
    client, alice_2fa, alice_bot, strategy, paper, paper_account, empty_queue
):
    signal = issue_signal(strategy, "BTC/USDT", "buy", "0.3")
    signals_fan_out(signal_ids=[signal.pk])  # the order task is now waiting in the queue

    login_verified(client, alice_2fa, alice_2fa.totp_device)
    client.post(reverse("keys:disable", args=[alice_bot.key_id]))

    tasks = queued_tasks(settings.ORDERS_QUEUE)
    assert ("portfolios.tasks.signal_bots_execute", (signal.pk, [alice_bot.pk])) in tasks
    for func, args in tasks:  # what a worker does with each queued task
        import_string(func)(*args)

    assert not Order.objects.filter(signal=signal).exists()
    assert paper.account(paper_account.id)["orders"] == []
    decision = SignalDecision.objects.get(bot=alice_bot, signal=signal)
    assert decision.outcome == "ignored"
    assert "paused" in decision.reason or "disabled" in decision.reason
