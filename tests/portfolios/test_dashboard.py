"""The dashboard: totals per quote asset, bot cards, recent orders, open alerts, the way to the first bot."""

from decimal import Decimal
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from alerts.models import Alert
from portfolios.models import Order, Position
from tests.portfolios.conftest import make_bot

pytestmark = pytest.mark.django_db


def _dashboard(client, user):
    client.force_login(user)
    return unescape(client.get(reverse("dashboard")).content.decode())


def test_a_user_with_a_key_and_no_bot_is_offered_the_first_bot(client, alice, alice_offline_key):
    page = _dashboard(client, alice)
    assert "Create your first bot" in page and reverse("portfolios:bot_create") in page
    assert "Link your first exchange key" not in page


def test_two_factor_is_asked_for_what_it_protects_now(client, bob):
    page = _dashboard(client, bob)  # no key yet: linking one needs it
    assert "Linking an exchange key needs two-factor authentication." in page


def test_a_user_whose_key_is_linked_is_not_told_2fa_is_needed_to_link_one(client, alice, alice_offline_key):
    page = _dashboard(client, alice)  # the demo user: a linked key, 2FA off
    assert "Linking an exchange key needs" not in page
    assert "Your account has no second factor" in page and reverse("two_factor_setup") in page


def test_totals_cards_and_recent_orders(client, alice, bob, alice_offline_key, strategy):
    usdt = make_bot(alice, alice_offline_key, strategy, name="Tether bot", allocation="1000")
    usdc = make_bot(alice, alice_offline_key, strategy, name="Circle bot", markets=("BTC/USDC",), quote="USDC",
                    allocation="2000")
    Position.objects.create(bot=usdt, market="BTC/USDT", quantity=Decimal("1"), average_entry=Decimal("100"),
                            last_price=Decimal("150"), realized_pnl=Decimal("-10"))
    Position.objects.create(bot=usdc, market="BTC/USDC", quantity=Decimal("0"), realized_pnl=Decimal("25"))
    Order.objects.create(bot=usdt, key=alice_offline_key, market="BTC/USDT", side="buy", quantity=Decimal("0.5"),
                         reference_price=Decimal("100"), client_order_id="oc-dash-1", state="filled")
    page = _dashboard(client, alice)
    # USDT: 1000 - 10 + (150 - 100) x 1 = 1,040; USDC: 2000 + 25.
    assert "1,040.00" in page and "+40.00" in page
    assert "2,025.00" in page and "+25.00" in page
    assert "Tether bot" in page and "Circle bot" in page
    assert "Recent orders" in page and "0.5" in page and "Filled" in page
    assert "Tether bot" not in _dashboard(client, bob)


def test_open_alerts_are_shown_until_acknowledged(client, alice, bob, alice_offline_key, strategy):
    make_bot(alice, alice_offline_key, strategy)

    def alert(user, severity, title, acknowledged=False):
        return Alert.objects.create(user=user, kind="bot_paused", severity=severity, title=title, dedupe_key=title,
                                    acknowledged_at=timezone.now() if acknowledged else None)

    critical = alert(alice, "critical", "Trade placed by no bot: bots paused")
    alert(alice, "warning", "Order failed on BTC/USDT")
    alert(alice, "info", "Order filled")
    alert(alice, "critical", "Old news", acknowledged=True)
    alert(bob, "critical", "Bob's trouble")
    page = _dashboard(client, alice)
    assert "Open alerts" in page
    assert "Trade placed by no bot: bots paused" in page and "Order failed on BTC/USDT" in page
    assert reverse("alerts:detail", args=[critical.pk]) in page
    assert "Order filled" not in page and "Old news" not in page and "Bob's trouble" not in page
