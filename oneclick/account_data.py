"""What the platform holds about one user: export it, or delete the account.

The export is a zip with one JSON and one CSV file per table, written table by
table from ``values()`` queries that name their columns: a secret column (API
secret, passphrase, private key, TOTP seed, backup codes, password hash) is
never read, so it cannot end up in the file. The zip is built in a spooled
temporary file (memory up to 16 MB, then a private temporary file), which
suits the sizes expected here: years of one user's orders, fills and equity
snapshots are a few megabytes compressed.

Deleting an account stops the bots (through the bots' own stop, so orders in
flight are recorded as usual), erases the exchange keys (through the keys'
own delete), tells the owner by email, and then removes everything that names
the person. The trade history (orders, fills, positions, equity snapshots)
goes too, or stays detached from any person, as ``ONECLICK_RETENTION`` says.
"""

import csv
import io
import json
import logging
import secrets
import tempfile
import zipfile

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import CharField, F, Value
from django.db.models.functions import Cast, Concat
from django.template.loader import render_to_string
from django.utils import timezone
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken

from alerts.models import Alert, AlertPreference, Delivery, TelegramLink, TelegramLinkToken
from keys.models import ExchangeKey, KeyEvent
from keys.services import key_delete
from oneclick.models import AccountClosure, LoginEvent, TOTPDevice
from oneclick.services import user_has_two_factor
from portfolios.models import (
    Balance, Bot, BotStateChange, EquitySnapshot, Fill, Order, Position, SignalDecision, TradeCursor,
)
from portfolios.services import bot_stop
from strategies.models import Backtest

log = logging.getLogger(__name__)

EXPORT_MEMORY_LIMIT = 16 * 1024 * 1024
CHUNK = 2000


# --- export ------------------------------------------------------------------------------------


def _account_rows(user):
    yield {
        "email": user.email,
        "date_joined": user.date_joined,
        "last_login": user.last_login,
        "two_factor": user_has_two_factor(user=user),
        "backup_codes_left": StaticToken.objects.filter(device__user=user).count(),
    }


def _telegram_rows(user):
    link = TelegramLink.objects.filter(user=user).first()
    yield {
        "linked": link is not None,
        "active": bool(link and link.active),
        "chat_name": link.chat_name if link else "",
        "off_reason": link.off_reason if link else "",
        "linked_at": link.linked_at if link else None,
    }


def _rows(queryset, *fields, **renamed):
    """The rows of a query, only the columns named, in a stable order, read in chunks."""
    return queryset.order_by("pk").values(*fields, **renamed).iterator(chunk_size=CHUNK)


def export_tables(user):
    """(table name, what it holds, rows) for every table of the export; rows are dicts, read lazily."""
    own_bots = Bot.objects.filter(owner=user)
    return [
        ("account", "your account: email, dates, whether two-factor authentication is on",
         lambda: _account_rows(user)),
        ("email_addresses", "your email addresses",
         lambda: _rows(EmailAddress.objects.filter(user=user), "email", "verified", "primary")),
        ("alert_preferences", "how you want to be alerted",
         lambda: _rows(AlertPreference.objects.filter(user=user), "email_min_severity", "telegram_min_severity",
                       "email_off_reason", "daily_summary", "drawdown_threshold")),
        ("telegram", "whether a Telegram chat is linked", lambda: _telegram_rows(user)),
        ("exchange_keys", "your exchange keys: exchange, label, the API key masked as the portal shows it, "
                          "permissions, status (never the key, secret or passphrase)",
         lambda: _rows(ExchangeKey.objects.filter(owner=user), "id", "exchange", "label", "status", "status_reason",
                       "permissions", "permissions_verified", "ip_restricted", "auth_failures", "created",
                       "probed_at", "last_used_at", api_key_masked=F("api_key_hint"))),
        ("key_events", "the history of your keys",
         lambda: _rows(KeyEvent.objects.filter(owner=user), "id", "key_id", "kind", "ip_address", "detail",
                       "created")),
        ("bots", "your bots: settings and status",
         lambda: _rows(own_bots, "id", "name", "key_id", "markets", "quote_asset", "allocation", "position_cap",
                       "state", "state_reason", "state_changed_at", "created", strategy_name=F("strategy__name"))),
        ("bot_history", "who changed your bots, when and why",
         lambda: _rows(BotStateChange.objects.filter(bot__owner=user), "bot_id", "from_state", "to_state",
                       "reason", "created")),
        ("signal_decisions", "what your bots did with each signal",
         lambda: _rows(SignalDecision.objects.filter(bot__owner=user), "bot_id", "signal_id", "outcome", "reason",
                       "created", market=F("signal__market"), action=F("signal__action"))),
        ("orders", "every order your bots wrote and what the exchange answered",
         lambda: _rows(Order.objects.filter(bot__owner=user), "id", "bot_id", "key_id", "signal_id", "purpose",
                       "market", "side", "order_type", "quantity", "reference_price", "signal_price",
                       "client_order_id", "exchange_order_id", "state", "filled_quantity", "average_price", "cost",
                       "attempts", "error", "created", "sent_at", "filled_at", "updated")),
        ("fills", "every trade on your accounts as the exchange reported it (foreign: placed by no bot)",
         lambda: _rows(Fill.objects.filter(key__owner=user), "id", "key_id", "bot_id", "order_id", "market", "side",
                       "price", "quantity", "cost", "fee", "fee_asset", "fee_in_quote", "fee_valued_by",
                       "exchange_trade_id", "exchange_order_id", "foreign", "traded_at", "recorded")),
        ("positions", "what each bot holds per market",
         lambda: _rows(Position.objects.filter(bot__owner=user), "bot_id", "market", "quantity", "average_entry",
                       "cost_basis", "realized_pnl", "fees_paid", "last_price", "updated")),
        ("balances", "your accounts' balances as last read",
         lambda: _rows(Balance.objects.filter(key__owner=user), "key_id", "asset", "free", "used", "total",
                       "updated")),
        ("equity_snapshots", "equity and PnL of each bot (and of each account: bot_id empty) over time",
         lambda: _rows(EquitySnapshot.objects.filter(key__owner=user), "key_id", "bot_id", "quote_asset", "equity",
                       "realized_pnl", "unrealized_pnl", "unvalued", "pegs_off", "valued_by", "taken")),
        ("alerts", "the alerts you were sent",
         lambda: _rows(Alert.objects.filter(user=user), "id", "kind", "severity", "title", "text", "link", "bot_id",
                       "key_id", "order_id", "count", "created", "last_seen", "acknowledged_at")),
        ("alert_deliveries", "each alert's delivery by email and Telegram",
         lambda: _rows(Delivery.objects.filter(alert__user=user), "alert_id", "channel", "state", "attempts",
                       "last_error", "sent_at", "created")),
        ("login_events", "sign-ins and security events, with IP address and browser",
         lambda: _rows(LoginEvent.objects.filter(user=user), "kind", "ip_address", "user_agent", "created")),
        ("backtests", "your backtests",
         lambda: _rows(Backtest.objects.filter(user=user), "id", "market", "start", "end", "fee", "allocation",
                       "status", "error", "metrics", "equity", "trades", "created", "finished",
                       strategy_name=F("strategy__name"))),
    ]


_encoder = DjangoJSONEncoder()


def _cell(value):
    """One CSV cell: JSON for lists and dicts, ISO times, decimals as written, empty for none."""
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, cls=DjangoJSONEncoder, sort_keys=True)
    if isinstance(value, (str, bool, int)):
        return value
    return _encoder.default(value)


def account_export(*, user):
    """The user's data as a zip (a file object at its start) and its suggested file name."""
    spool = tempfile.SpooledTemporaryFile(max_size=EXPORT_MEMORY_LIMIT)
    contents = []
    with zipfile.ZipFile(spool, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, about, rows in export_tables(user):
            count = _write_json(archive, name, rows())
            _write_csv(archive, name, rows())
            contents.append(f"{name}.json, {name}.csv ({count} rows): {about}")
        archive.writestr("README.txt", _readme(user, contents))
    spool.seek(0)
    return spool, f"oneclick-data-{timezone.now():%Y-%m-%d}.zip"


def _write_json(archive, name, rows):
    count = 0
    with archive.open(f"{name}.json", "w") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="\n") as out:
        out.write("[")
        for row in rows:
            out.write(",\n" if count else "\n")
            out.write(json.dumps(row, cls=DjangoJSONEncoder, sort_keys=True, ensure_ascii=False))
            count += 1
        out.write("\n]\n" if count else "]\n")
    return count


def _write_csv(archive, name, rows):
    with archive.open(f"{name}.csv", "w") as raw, io.TextIOWrapper(raw, encoding="utf-8", newline="") as out:
        writer = None
        for row in rows:
            if writer is None:
                writer = csv.writer(out)
                writer.writerow(list(row))
            writer.writerow([_cell(value) for value in row.values()])


def _readme(user, contents):
    lines = [
        f"Your data on OneClick ({settings.ONECLICK_SITE_URL}), exported {timezone.now():%Y-%m-%d %H:%M} UTC.",
        "",
        "Each table is here twice: as JSON (a list of objects) and as CSV (a header line, then one line a row;",
        "a table without rows is an empty CSV file). Lists and objects inside a CSV cell are JSON.",
        "Times are UTC (ISO 8601); amounts are decimals as stored. Ids link the tables (key_id, bot_id, order_id).",
        "Not included, by design: your password, your exchange keys' API key, secret, passphrase and private key,",
        "your two-factor seed and backup codes, Telegram link tokens.",
        "",
        *contents,
        "",
    ]
    return "\n".join(lines)


# --- deleting an account -----------------------------------------------------------------------


class AccountDeleteRefused(Exception):
    """The account cannot be deleted now; the message is safe to show the user."""


STOP_REASON = "The owner deleted the account"


def account_delete_check(*, user):
    """Refuse what can never be deleted here: staff must first be made ordinary users by another admin."""
    if user.is_staff or user.is_superuser:
        raise AccountDeleteRefused(
            "Staff accounts cannot be deleted here. Ask another administrator to remove your staff status "
            "first; then you can delete your account."
        )


def account_delete(*, user, retention=None):
    """Stop the bots, tell the owner, erase the keys and every personal row; returns the :class:`AccountClosure`.

    Raises :class:`AccountDeleteRefused` (having changed nothing but the bots'
    state) while an order is still on its way to the exchange, or when the
    notice email cannot be sent. ``retention`` defaults to ``ONECLICK_RETENTION``.
    """
    retention = retention or settings.ONECLICK_RETENTION
    if retention not in AccountClosure.Retention.values:
        raise ValueError(f"unknown retention {retention!r}")
    account_delete_check(user=user)
    stopped = 0
    for bot in Bot.objects.filter(owner=user).exclude(state=Bot.State.STOPPED):
        changed, _ = bot_stop(bot=bot, by=user, reason=STOP_REASON)
        stopped += changed
    in_flight = Order.objects.filter(bot__owner=user, state__in=Order.UNRESOLVED).count()
    if in_flight:
        raise AccountDeleteRefused(
            f"Your bots are stopped, but {in_flight} order{'s are' if in_flight > 1 else ' is'} still on the way "
            "to your exchange. Its outcome is recorded within a few minutes; delete your account then. "
            "Nothing else was changed."
        )
    _notice_send(user=user, retention=retention)
    with transaction.atomic():
        closure = _remove(user=user, retention=retention, stopped=stopped)
    log.info("account closed", extra={"retention": retention, "bots_stopped": closure.bots_stopped,
                                      "keys_deleted": closure.keys_deleted, "orders": closure.orders,
                                      "fills": closure.fills, "closure": closure.pk})
    return closure


def _notice_send(*, user, retention):
    """The owner hears of it at the address they signed in with, before anything is removed."""
    if not user.email:
        return
    context = {"email": user.email, "when": timezone.now(), "retention": retention,
               "two_factor": user_has_two_factor(user=user), "site_url": settings.ONECLICK_SITE_URL}
    subject = render_to_string("account/email/account_deleted_subject.txt", context).strip()
    body = render_to_string("account/email/account_deleted_message.txt", context)
    try:
        send_mail(settings.ACCOUNT_EMAIL_SUBJECT_PREFIX + subject, body, None, [user.email])
    except OSError:
        raise AccountDeleteRefused(
            "The email that confirms the deletion could not be sent, so nothing was deleted. Try again later."
        ) from None


def _remove(*, user, retention, stopped):
    locked = get_user_model().objects.select_for_update().get(pk=user.pk)
    keys = list(ExchangeKey.objects.filter(owner=locked).exclude(status=ExchangeKey.Status.REVOKED))
    for key in keys:
        key_delete(key=key, by=locked)
    orders = Order.objects.filter(bot__owner=locked)
    fills = Fill.objects.filter(key__owner=locked)
    closure = AccountClosure.objects.create(retention=retention, bots_stopped=stopped, keys_deleted=len(keys),
                                            orders=orders.count(), fills=fills.count())

    # What names or reaches the person goes in both cases.
    Alert.objects.filter(user=locked).delete()
    AlertPreference.objects.filter(user=locked).delete()
    TelegramLink.objects.filter(user=locked).delete()
    TelegramLinkToken.objects.filter(user=locked).delete()
    KeyEvent.objects.filter(owner=locked).delete()
    LoginEvent.objects.filter(user=locked).delete()
    TOTPDevice.objects.filter(user=locked).delete()
    StaticDevice.objects.filter(user=locked).delete()
    EmailAddress.objects.filter(user=locked).delete()
    Backtest.objects.filter(user=locked).delete()  # an ownerless backtest would be shown to everyone
    Balance.objects.filter(key__owner=locked).delete()
    TradeCursor.objects.filter(key__owner=locked).delete()
    BotStateChange.objects.filter(bot__owner=locked).delete()  # reasons quote the bots' names

    if retention == AccountClosure.Retention.DELETE:
        # Orders, bots and fills protect the key they used: they go first, then the keys, then the user.
        fills.delete()
        orders.delete()
        Bot.objects.filter(owner=locked).delete()
        ExchangeKey.objects.filter(owner=locked).delete()
        locked.delete()
        return closure

    # Anonymous: the rows stay for the figures, the person goes. The user row is kept so foreign
    # keys hold, with nothing left that names or reaches anyone, and no way to sign in.
    tag = secrets.token_hex(8)
    locked.username = f"deleted-{tag}"
    locked.email = ""
    locked.first_name = locked.last_name = ""
    locked.set_unusable_password()  # also ends every session: Django checks a hash of the password
    locked.is_active = locked.is_staff = locked.is_superuser = False
    locked.last_login = None
    locked.date_joined = timezone.now()
    locked.save()
    locked.groups.clear()
    locked.user_permissions.clear()
    ExchangeKey.objects.filter(owner=locked).update(label="Deleted key", api_key_hint="", status_reason="Deleted")
    Bot.objects.filter(owner=locked).update(name=Concat(Value("Bot "), Cast("pk", CharField())),
                                            state_reason=STOP_REASON)
    # Ids the exchange knows the account by are replaced: they could be matched to the person there.
    orders.update(client_order_id=Concat(Value("deleted-"), Cast("pk", CharField())), exchange_order_id="",
                  error="")
    fills.update(exchange_trade_id=Concat(Value("deleted-"), Cast("pk", CharField())), exchange_order_id="")
    return closure
