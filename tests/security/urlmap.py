"""Every URL pattern of the portal, walked from ``oneclick.urls``, and how to fill in its parameters.

A pattern that takes a parameter must be known here: either as an object of some
user (``OWNED``: the view must answer 404 to anyone else), a shared object every
signed-in user may see (``SHARED``), or a parameter that is not an object id
(``NOT_IDS``, with the reason). A new pattern that is in none of them fails the
sweep, so nothing is skipped silently.
"""

from dataclasses import dataclass
from decimal import Decimal

from django.urls import URLPattern, URLResolver, get_resolver

# URL name -> the kind of object its ``pk`` names, owned by one user.
OWNED = {
    "keys:detail": "key",
    "keys:disable": "key",
    "keys:enable": "key",
    "keys:reprobe": "key",
    "keys:delete": "key",
    "portfolios:bot_detail": "bot",
    "portfolios:bot_edit": "bot",
    "portfolios:bot_pause": "bot",
    "portfolios:bot_resume": "bot",
    "portfolios:bot_stop": "bot",
    "portfolios:bot_report": "bot",
    "portfolios:order_detail": "order",
    "strategy_pages:backtest_detail": "backtest",
    "strategy_pages:backtest_trades_csv": "backtest",
    "alerts:detail": "alert",
    "alerts:acknowledge": "alert",
    "session_end": "usersession",
}
# Published to every signed-in user by design: signals are signed so anyone can verify them, and
# strategies (with their backtest form) are the catalogue bots are built from.
SHARED = {
    "strategies:signal_detail": "signal",
    "strategy_pages:strategy_detail": "strategy",
    "strategy_pages:backtest_new": "strategy",
    # Public even without an account: a track record anyone can check.
    "strategy_pages:track_record": "strategy",
    "strategy_pages:track_record_json": "strategy",
}
# Of those, the ones anyone may read without an account (GET only).
PUBLIC = {"strategy_pages:track_record", "strategy_pages:track_record_json"}
# Parameters that name no object of a user.
NOT_IDS = {
    "keys:guide": ({"exchange": "binance"}, "a public guide per exchange"),
    "alerts:channel_on": ({"channel": "email"}, "the user's own channel setting, by channel name"),
    "account_confirm_email": ({"key": "not-a-valid-key"}, "a signed, single-use token from an email"),
    "account_reset_password_from_key": ({"uidb36": "1", "key": "set-password"}, "a signed token from an email"),
    "invitation_accept": ({"token": "not-a-valid-token"},
                          "a random single-use token from an invitation email (only its hash is stored); "
                          "anyone may open it, a bad one answers 404"),
}
# The staff admin has its own gate (staff + verified second factor), swept in test_admin_refuses_non_staff.
ADMIN_PREFIX = "admin/"


@dataclass(frozen=True)
class Route:
    name: str
    route: str
    params: tuple
    callback: object


def _params(pattern):
    """Named parameters of a ``path()`` or ``re_path()`` pattern (positional groups count too)."""
    regex = pattern.regex
    named = tuple(regex.groupindex)
    return named + tuple(f"group{i}" for i in range(regex.groups - len(named)))


def _walk(patterns, prefix="", namespace=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            ns = namespace
            if pattern.namespace:
                ns = f"{namespace}{pattern.namespace}:"
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern), ns)
        elif isinstance(pattern, URLPattern):
            route = prefix + str(pattern.pattern)
            name = f"{namespace}{pattern.name}" if pattern.name else ""
            yield Route(name, route, _params(pattern.pattern), pattern.callback)


def portal_routes():
    """Every pattern of ROOT_URLCONF (``oneclick.urls``) outside the admin, with its full route and parameters."""
    return [r for r in _walk(get_resolver().url_patterns) if not r.route.startswith(ADMIN_PREFIX)]


def id_routes():
    return [r for r in portal_routes() if r.params]


def unknown_id_routes():
    known = set(OWNED) | set(SHARED) | set(NOT_IDS)
    return sorted(f"{r.name or '(unnamed)'} {r.route}" for r in id_routes() if r.name not in known)


def objects_for(user, key, strategy):
    """One object of each owned kind for ``user`` (their ``key`` and a bot on ``strategy``), plus shared ones."""
    from django.utils import timezone

    from allauth.usersessions.models import UserSession

    from alerts.services import alert_raise
    from portfolios.models import Order
    from strategies.models import Backtest
    from tests.portfolios.conftest import issue_signal, make_bot

    bot = make_bot(user, key, strategy, markets=("BTC/USDT",), name=f"{user.username} bot")
    signal = issue_signal(strategy, "BTC/USDT", "buy", "0.1")
    order = Order.objects.create(
        bot=bot, key=key, signal=signal, market="BTC/USDT", side="buy", quantity=Decimal("0.001"),
        reference_price=Decimal("100"), client_order_id=f"oc-{bot.pk}-{signal.pk}", state="filled",
        exchange_order_id=f"E-{bot.pk}-{signal.pk}", filled_quantity=Decimal("0.001"), average_price=Decimal("100"),
        cost=Decimal("0.1"),
    )
    now = timezone.now()
    backtest = Backtest.objects.create(
        user=user, strategy=strategy, market="BTC/USDT", start=now - timezone.timedelta(days=30), end=now,
        status=Backtest.Status.DONE, metrics={"trades": 0}, equity=[], trades=[],
    )
    alert = alert_raise(user=user, kind="order_failed", severity="warning", title="An order of yours",
                        text="Details", bot=bot, key=key, order=order)
    usersession = UserSession.objects.create(user=user, session_key=f"walk-{user.pk}", ip="198.51.100.1",
                                             user_agent="Firefox")
    return {"key": key, "bot": bot, "order": order, "backtest": backtest, "alert": alert, "signal": signal,
            "strategy": strategy, "usersession": usersession}
