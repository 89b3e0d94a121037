"""Bots paused and a key disabled mid fan-out: nothing of theirs is sent after that moment, what was written
and not sent is cancelled saying why, what was in flight is found, and the disabled key's account is still read."""

from datetime import timedelta

import pytest
from django.utils import timezone

from alerts.models import Kind
from keys.models import KeyEvent
from keys.services import key_disable
from portfolios.models import Bot, BotStateChange, Order, SignalDecision
from portfolios.services import bot_pause, signals_fan_out
from tests.faults.harness import (
    exchange_orders,
    assert_alerts,
    assert_orders_at_exchange,
    assert_positions_from_trades,
    positions_true_within,
    wait_settled,
    wait_until,
    world_build,
)
from tests.portfolios.conftest import issue_signal

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]


def _stop_mid_fan_out(world, signal):
    """Pause a few bots of four accounts and disable the fifth account's key, among the bots at work now.

    Returns {bot id: the moment it stopped}: when the pause (or the key's disabling) had committed.
    """
    orders = Order.objects.filter(signal=signal)
    wait_until(lambda: (orders.count() >= 6, f"{orders.count()} orders written"), interval=0.05,
               what="the fan-out under way")
    in_flight = list(orders.filter(state__in=Order.UNRESOLVED).values_list("bot_id", "key_id"))
    decided = set(SignalDecision.objects.filter(signal=signal).values_list("bot_id", flat=True))
    # The fan-out queues the bots newest first: the first undecided ones are being worked on now.
    undecided = [bot for bot in Bot.objects.filter(pk__in=world.bot_ids()).order_by("-created")
                 if bot.pk not in decided]
    key = next((k for _, k in in_flight), world.accounts[0].key.pk)
    in_flight_bots = [bot_id for bot_id, k in in_flight if k != key][:2]
    chosen = in_flight_bots + [bot.pk for bot in undecided if bot.key_id != key][:4]

    stopped = {}
    for bot in Bot.objects.filter(pk__in=chosen):
        bot_pause(bot=bot, by=bot.owner, reason="Paused by the owner")
        stopped[bot.pk] = timezone.now()
    account = next(a for a in world.accounts if a.key.pk == key)
    running = list(Bot.objects.filter(key_id=key, state=Bot.State.RUNNING).values_list("pk", flat=True))
    key_disable(key=account.key, by=account.key.owner, reason="Disabled by the owner")
    now = timezone.now()
    stopped.update(dict.fromkeys(running, now))
    return stopped, account


def test_bots_paused_and_a_key_disabled_mid_fan_out_send_nothing_after(clusters, paper, alice, bob):
    world = world_build(paper=paper, owners=[alice, bob], bots=40, accounts=5)
    clusters.start("a", workers=4)
    clusters.start("b", workers=4)
    clusters.wait_ready()
    paper.fault(latency={"ms": 300, "jitter_ms": 500})
    signal = issue_signal(world.strategy, "BTC/USDT", "buy", "0.3")
    assert len(signals_fan_out(signal_ids=[signal.pk])) == len(world.bots)

    stopped, disabled = _stop_mid_fan_out(world, signal)
    settled = wait_settled(world, [signal.pk], clusters=clusters)

    orders = list(Order.objects.filter(bot__in=world.bots))
    at_exchange = exchange_orders(world)
    # Nothing of a paused bot or a disabled key sent after that moment: an order the exchange took later
    # was in flight already (its row sent before the moment).
    late = []
    for order in orders:
        moment = stopped.get(order.bot_id)
        if moment is None or order.client_order_id not in at_exchange:
            continue
        if order.sent_at is None or order.sent_at > moment:
            [theirs] = at_exchange[order.client_order_id][:1]
            late.append((order.bot.name, order.state, order.sent_at and (order.sent_at - moment) / timedelta(seconds=1),
                         theirs["time"] - int(moment.timestamp() * 1000)))
    assert late == [], ("sent after the pause or the disabling (bot, state, seconds sent after, "
                        f"ms taken by the exchange after): {late[:5]}")
    # What was written and not sent is cancelled, saying why; no refusal, no failure, nothing left open.
    unsent = [(o.bot.name, o.state, o.error) for o in orders if o.client_order_id not in at_exchange]
    wrong = [(name, state, error) for name, state, error in unsent
             if state != Order.State.CANCELED or not any(word in error.lower() for word in ("paused", "disabled"))]
    assert wrong == [], f"orders not sent and not cancelled with the reason: {wrong[:5]}"
    assert not [o for o in orders if o.client_order_id not in at_exchange and o.bot_id not in stopped]
    # The disabled key's account is still read: its balances equal the exchange's like every other account's.
    positions_true_within(world, clusters, since=settled)

    # Every other bot ordered once, filled; a stopped bot ordered at most once, or ignored the signal saying why.
    decisions = {d.bot_id: d for d in SignalDecision.objects.filter(bot__in=world.bots, signal=signal)}
    ordered = {o.bot_id for o in orders}
    assert sorted(set(world.bot_ids()) - set(stopped) - ordered) == []
    assert {d.bot_id for d in decisions.values() if d.outcome == SignalDecision.Outcome.ORDERED} == ordered
    ignored = [(d.bot.name, d.reason) for d in decisions.values() if d.outcome != SignalDecision.Outcome.ORDERED]
    assert [(name, reason) for name, reason in ignored if "paused" not in reason.lower()
            and "disabled" not in reason.lower()] == []
    assert_orders_at_exchange(world, orders)
    assert_positions_from_trades(world, orders)

    # Alerts: each fill, each order not sent (its owner is told why), each pause (the owner's, and the key's
    # bots'), the key disabled; nothing else.
    filled = [o.pk for o in orders if o.state == Order.State.FILLED]
    canceled = [o.pk for o in orders if o.state == Order.State.CANCELED]
    assert_alerts(world, [(Kind.ORDER_FILLED, pk) for pk in filled] + [(Kind.ORDER_NOT_SENT, pk) for pk in canceled]
                  + [(Kind.BOT_PAUSED, pk) for pk in stopped] + [(Kind.KEY_DISABLED, disabled.key.pk)])
    changes = BotStateChange.objects.filter(bot__in=world.bots)
    assert sorted(changes.values_list("bot_id", "to_state")) == sorted((pk, Bot.State.PAUSED) for pk in stopped)
    events = KeyEvent.objects.exclude(pk__in=world.key_events_before)
    assert list(events.values_list("key_id", "kind")) == [(disabled.key.pk, KeyEvent.Kind.DISABLED)]
