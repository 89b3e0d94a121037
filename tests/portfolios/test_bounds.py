"""Every number a bot takes, a report's dates and an alert threshold are bounded: on the form (a readable error,
nothing changed) and in the database (a row outside the bounds cannot be stored)."""

from datetime import timedelta
from decimal import Decimal
from html import unescape

import pytest
from django.db import DataError, IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from alerts.models import AlertPreference
from portfolios.models import Bot
from tests.portfolios.conftest import make_bot

pytestmark = pytest.mark.django_db


def _bot_form(key, strategy, **changes):
    return {"name": "Trend on BTC", "key": key.pk, "strategy": strategy.pk, "quote_asset": "USDT",
            "markets": ["BTC/USDT"], "allocation": "1000", "position_cap": "400", **changes}


@pytest.mark.parametrize("changes, message", [
    ({"allocation": "1e40"}, "The allocation must be at most 1,000,000,000,000."),
    ({"allocation": "1000000000000.01"}, "The allocation must be at most 1,000,000,000,000."),
    ({"allocation": "-1e40"}, "The allocation must be more than 0."),
    ({"allocation": "Infinity"}, "Enter a number."),
    ({"allocation": "NaN"}, "Enter a number."),
    ({"position_cap": "1e13"}, "The position cap must be at most 1,000,000,000,000."),
    ({"position_cap": "0.000000001"}, "Ensure that there are no more than 8 decimal places."),
    ({"position_cap": "-0"}, "The position cap must be more than 0."),
])
def test_out_of_bounds_bot_amounts_are_refused_on_create_and_edit(client, alice, bob, alice_offline_key, strategy,
                                                                   changes, message):
    bot = make_bot(alice, alice_offline_key, strategy, allocation="500", cap="400")
    client.force_login(alice)
    for url in (reverse("portfolios:bot_create"), reverse("portfolios:bot_edit", args=[bot.pk])):
        response = client.post(url, _bot_form(alice_offline_key, strategy, **changes))
        assert response.status_code == 200 and message in unescape(response.content.decode())
    assert list(Bot.objects.values_list("pk", "allocation", "position_cap")) == [
        (bot.pk, Decimal("500"), Decimal("400"))]
    client.force_login(bob)
    response = client.post(reverse("portfolios:bot_edit", args=[bot.pk]), _bot_form(alice_offline_key, strategy))
    assert response.status_code == 404


@pytest.mark.parametrize("field, value", [
    ("allocation", Decimal("1000000000000.01")), ("allocation", Decimal("0")),
    ("position_cap", Decimal("1000000000001")), ("position_cap", Decimal("-1")),
])
def test_a_bot_outside_the_bounds_cannot_be_stored(alice, alice_offline_key, strategy, field, value):
    with pytest.raises((IntegrityError, DataError)), transaction.atomic():
        make_bot(alice, alice_offline_key, strategy, **{"allocation" if field == "allocation" else "cap": value})
    assert not Bot.objects.exists()


def test_a_bot_at_the_bounds_shows_everywhere(client, alice, alice_offline_key, strategy):
    bot = make_bot(alice, alice_offline_key, strategy, allocation="1000000000000", cap="0.00000001")
    client.force_login(alice)
    for url in (reverse("portfolios:bot_detail", args=[bot.pk]), reverse("portfolios:bot_edit", args=[bot.pk]),
                reverse("portfolios:bot_list"), reverse("dashboard")):
        assert client.get(url).status_code == 200, url


@pytest.mark.parametrize("start, end, field_message", [
    ("2026-01-01", "9999-12-31", "Choose a date on or before"),
    ("9999-12-31", "9999-12-31", "Choose a date on or before"),
    ("0001-01-01", "2026-01-01", "Ensure this value is greater than or equal to 2009-01-01."),
    ("2008-12-31", "2009-01-02", "Ensure this value is greater than or equal to 2009-01-01."),
    ("99999-01-01", "2026-01-01", "Enter a valid date."),
])
@pytest.mark.parametrize("kind", ["orders", "fills", "daily"])
def test_a_report_period_out_of_range_is_a_readable_error(client, alice, bob, alice_offline_key, strategy, kind,
                                                          start, end, field_message):
    bot = make_bot(alice, alice_offline_key, strategy)
    client.force_login(alice)
    for url in (reverse("portfolios:account_report"), reverse("portfolios:bot_report", args=[bot.pk])):
        response = client.get(url, {"kind": kind, "start": start, "end": end})
        assert response.status_code == 200 and not response.streaming
        assert field_message in unescape(response.content.decode())
    client.force_login(bob)
    assert client.get(reverse("portfolios:bot_report", args=[bot.pk]),
                      {"kind": kind, "start": start, "end": end}).status_code == 404


def test_a_report_up_to_tomorrow_is_served(client, alice, alice_offline_key, strategy):
    bot = make_bot(alice, alice_offline_key, strategy)
    client.force_login(alice)
    tomorrow = timezone.localdate() + timedelta(days=1)
    for kind in ("orders", "fills", "daily"):
        response = client.get(reverse("portfolios:bot_report", args=[bot.pk]),
                              {"kind": kind, "start": "2009-01-01", "end": str(tomorrow)})
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
        b"".join(response.streaming_content)


@pytest.mark.parametrize("value", [Decimal("0"), Decimal("100"), Decimal("-5"), Decimal("999.99")])
def test_a_drawdown_threshold_outside_the_bounds_cannot_be_stored(alice, value):
    with pytest.raises((IntegrityError, DataError)), transaction.atomic():
        AlertPreference.objects.create(user=alice, drawdown_threshold=value)
    AlertPreference.objects.create(user=alice, drawdown_threshold=Decimal("99.99"))
