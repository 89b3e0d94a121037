"""Anomaly rules: run after every reconciliation and on a schedule; each raises alerts.

- Trades no bot placed (foreign): a warning; a trade in a market no bot
  trades, or a buy in a thin market, is critical and pauses every bot of the
  account (:func:`foreign_trades_judge`, called by reconciliation; the alert
  says so, once).
- Daily traded volume of a market on the account above 10x a bot's position
  size. The position size is the bot's *position cap* (the most it may hold
  in one market, in its quote asset): 24 h of fills (bots' and foreign) in a
  bot's market costing more than 10x that cap is critical and pauses the bot.
- Unusual market volume: the exchange's 24 h quote volume of a bot's market
  above ``ALERTS_UNUSUAL_VOLUME_FACTOR`` times its usual daily volume. Usual
  is the stored candle history (``strategies.Candle``, the week before the
  last 24 h) when it covers at least a day, else a running mean of the
  volumes seen by earlier runs (a :class:`RuleMark`).
- Drawdown of a bot's equity (``EquitySnapshot``) from its peak beyond the
  user's threshold: one warning per excursion.
- Digests and summaries: ignored signals grouped per user since the last
  digest; the opt-in daily summary.
"""

import logging
from collections import Counter
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count, Max, Sum

from alerts.channels import CHANNELS
from alerts.models import AlertPreference, Kind, RuleMark, Severity
from alerts.services import alert_raise, page_link
from exchanges import ExchangeError
from keys.models import ExchangeKey
from keys.services import KeyNotActive, key_exchange
from oneclick.lib.clock import db_now
from portfolios import pnl
from portfolios.models import Bot, EquitySnapshot, Fill, SignalDecision
from portfolios.services import bot_pause
from strategies.models import Candle, Strategy
from strategies.timeframes import timeframe_delta

log = logging.getLogger(__name__)

VOLUME_CAP_FACTOR = Decimal(10)
BASELINE_MAX_SAMPLES = 48
BASELINE_HISTORY = timedelta(days=7)
# A market whose 24 h volume (in its quote asset) is below this is thin.
THIN_MARKET_QUOTE_VOLUME = Decimal("250000")


def _mark(name):
    mark, _ = RuleMark.objects.get_or_create(name=name)
    return mark


def _mark_set(mark, value):
    mark.value = value
    mark.save(update_fields=["value", "updated"])


def _bot_link(bot):
    return page_link("portfolios:bot_detail", bot.pk, fallback="portfolios:bot_list")


def market_is_thin(exchange, symbol):
    return exchange.ticker(symbol)["quoteVolume"] < THIN_MARKET_QUOTE_VOLUME


def foreign_trades_judge(*, key, exchange, fills, bots):
    """Foreign fills: severe ones pause every bot of the account."""
    traded = {m for bot in bots for m in (bot.markets or [])}
    severe = []
    for fill in fills:
        if not fill.foreign:
            continue
        if fill.market not in traded:
            severe.append(f"a {fill.side} of {fill.quantity} {fill.market}, a market no bot trades")
        elif fill.side == "buy" and market_is_thin(exchange, fill.market):
            severe.append(f"a buy of {fill.quantity} {fill.market}, a thin market")
    if severe:
        reason = "Trade placed by no bot: " + "; ".join(severe)
        for bot in Bot.objects.filter(key=key, state=Bot.State.RUNNING):
            bot_pause(bot=bot, reason=reason[:300])
    return severe


def rules_run_for_key(*, key, new_fills=(), severe=None, exchange=None):
    """Every rule for one exchange key (its account and its bots). Returns the alerts raised."""
    bots = list(Bot.objects.filter(key=key).exclude(state=Bot.State.STOPPED))
    raised = []
    raised += foreign_trade_rule(key=key, new_fills=new_fills, severe=severe or [])
    raised += volume_cap_rule(key=key, bots=bots)
    if exchange is None:
        exchange = _exchange_for(key)
    if exchange is not None:
        raised += unusual_volume_rule(key=key, bots=bots, exchange=exchange)
    raised += drawdown_rule(user=key.owner, bots=bots)
    return [alert for alert in raised if alert is not None]


def _exchange_for(key):
    try:
        return key_exchange(key_id=key.pk)[1]
    except KeyNotActive:
        return None


def foreign_trade_rule(*, key, new_fills, severe):
    foreign = [fill for fill in new_fills if fill.foreign]
    if not foreign:
        return []
    lines = "\n".join(f"- {f.side} {f.quantity.normalize():f} {f.market} at {f.price.normalize():f}" for f in foreign)
    link = page_link("keys:detail", key.pk, fallback="keys:list")
    first = min(fill.pk for fill in foreign)
    if severe:
        paused = list(Bot.objects.filter(key=key, state=Bot.State.PAUSED).values_list("name", flat=True))
        text = (
            "Trades on your account that no bot placed look like the 2022 key-leak attack (buying thin or unrelated "
            f"markets from the attacker): {'; '.join(severe)}.\n{lines}\n"
            f"Bots paused: {', '.join(paused) or 'none running'}. Check your exchange account, delete the key there "
            "if you did not make these trades, and restrict your keys to OneClick's IP addresses."
        )
        return [alert_raise(user=key.owner, key=key, kind=Kind.FOREIGN_TRADE_SEVERE, severity=Severity.CRITICAL,
                            title=f"Suspicious trades on {key.label}: bots paused", text=text, link=link,
                            dedupe_key=f"foreign_severe:{key.pk}:{first}")]
    text = (f"{len(foreign)} trade(s) on your account were placed by no OneClick bot. They are recorded and never "
            f"counted in a bot's position.\n{lines}")
    return [alert_raise(user=key.owner, key=key, kind=Kind.FOREIGN_TRADE, severity=Severity.WARNING,
                        title=f"Trade placed by no bot on {key.label}", text=text, link=link,
                        dedupe_key=f"foreign:{key.pk}:{first}")]


def volume_cap_rule(*, key, bots, now=None):
    """24 h traded value of a bot's market over 10x the bot's position cap: critical, the bot is paused."""
    now = now or db_now()
    markets = {market for bot in bots for market in (bot.markets or [])}
    if not markets:
        return []
    traded = dict(
        Fill.objects.filter(key=key, market__in=markets, traded_at__gte=now - timedelta(hours=24))
        .values_list("market").annotate(total=Sum("cost")).values_list("market", "total")
    )
    raised = []
    for bot in bots:
        for market in bot.markets or []:
            volume = traded.get(market) or Decimal(0)
            limit = VOLUME_CAP_FACTOR * bot.position_cap
            if volume <= limit:
                continue
            alert = alert_raise(
                user=bot.owner, bot=bot, key=key, kind=Kind.VOLUME_10X, severity=Severity.CRITICAL,
                title=f"{market}: 24 h volume over 10x the position cap of {bot.name}",
                text=(f"{volume.normalize():f} {market.split('/')[-1]} traded in {market} on this account in 24 h, "
                      f"more than 10 x the bot's position cap ({bot.position_cap.normalize():f}). "
                      "The bot is paused; check the account's trades before resuming it."),
                dedupe_key=f"volume_10x:{bot.pk}:{market}", window=timedelta(hours=24), link=_bot_link(bot),
            )
            raised.append(alert)
            if not alert.merged:
                # Once per 24 h window: an owner who resumed the bot after checking is not overruled.
                bot_pause(bot=bot, reason=f"24 h volume in {market} over 10x the position cap")
    return raised


def candle_baseline(*, exchange_name, market, now):
    """Usual daily quote volume from stored candles of the week before the last 24 h, or None."""
    end = now - timedelta(hours=24)
    rows = (Candle.objects.filter(exchange=exchange_name, symbol=market, open_time__gte=end - BASELINE_HISTORY,
                                  open_time__lt=end)
            .values("timeframe").annotate(n=Count("id")))
    best = None
    for row in rows:
        covered = timeframe_delta(row["timeframe"]) * row["n"]
        if covered >= timedelta(days=1) and (best is None or covered > best[1]):
            best = (row["timeframe"], covered)
    if best is None:
        return None
    total = Decimal(0)
    for volume, close in Candle.objects.filter(
        exchange=exchange_name, symbol=market, timeframe=best[0], open_time__gte=end - BASELINE_HISTORY,
        open_time__lt=end,
    ).values_list("volume", "close"):
        total += volume * close
    return total / Decimal(best[1] / timedelta(days=1))


def unusual_volume_rule(*, key, bots, exchange, now=None):
    now = now or db_now()
    factor = Decimal(str(settings.ALERTS_UNUSUAL_VOLUME_FACTOR))
    raised = []
    by_market = {}
    for bot in bots:
        for market in bot.markets or []:
            by_market.setdefault(market, bot)
    for market, bot in sorted(by_market.items()):
        try:
            current = exchange.ticker(market)["quoteVolume"]
        except ExchangeError as error:
            log.warning("volume rule: no ticker for %s: %s", market, error.reason)
            continue
        baseline = candle_baseline(exchange_name=key.exchange, market=market, now=now)
        with transaction.atomic():
            mark = RuleMark.objects.select_for_update().filter(pk=_mark(f"volume:{key.exchange}:{market}").pk).get()
            samples = int(mark.value.get("samples", 0))
            stored = Decimal(mark.value["mean"]) if samples else None
            usual = baseline if baseline is not None else stored
            unusual = usual is not None and usual > 0 and current > factor * usual
            if not unusual:
                n = min(samples + 1, BASELINE_MAX_SAMPLES)
                mean = current if stored is None else stored + (current - stored) / n
                _mark_set(mark, {"mean": str(mean), "samples": n})
        if unusual:
            raised.append(alert_raise(
                user=bot.owner, bot=bot, key=key, kind=Kind.VOLUME_UNUSUAL, severity=Severity.WARNING,
                title=f"Unusual volume in {market}",
                text=(f"{market} traded {current.normalize():f} {market.split('/')[-1]} in the last 24 h, "
                      f"{(current / usual).quantize(Decimal('0.1'))} x its usual daily volume "
                      f"({usual.quantize(Decimal('1'))}). Prices can move sharply; your bots keep their limits."),
                dedupe_key=f"volume_unusual:{key.exchange}:{market}", link=_bot_link(bot),
            ))
    return raised


def drawdown_rule(*, user, bots):
    """A bot's equity this far below its peak (the user's threshold, in percent): one alert per excursion."""
    pref = AlertPreference.objects.filter(user=user).first()
    if pref is None or not pref.drawdown_threshold or not bots:
        return []
    threshold = pref.drawdown_threshold
    peaks = dict(EquitySnapshot.objects.filter(bot__in=bots).values_list("bot").annotate(peak=Max("equity"))
                 .values_list("bot", "peak"))
    raised = []
    for bot in bots:
        peak = peaks.get(bot.pk)
        latest = EquitySnapshot.objects.filter(bot=bot).order_by("-taken", "-id").first()
        if not peak or latest is None or peak <= 0:
            continue
        drawdown = (peak - latest.equity) / peak * 100
        mark = _mark(f"drawdown:{bot.pk}")
        alerted = mark.value.get("alerted", False)
        if drawdown >= threshold and not alerted:
            _mark_set(mark, {"alerted": True})
            raised.append(alert_raise(
                user=user, bot=bot, kind=Kind.DRAWDOWN, severity=Severity.WARNING,
                title=f"{bot.name}: drawdown {drawdown.quantize(Decimal('0.1'))} %",
                text=(f"Equity {latest.equity.quantize(Decimal('0.01'))} {bot.quote_asset} is "
                      f"{drawdown.quantize(Decimal('0.1'))} % below its peak of {peak.quantize(Decimal('0.01'))} "
                      f"(your threshold: {threshold.normalize():f} %)."),
                dedupe_key=f"drawdown:{bot.pk}:{latest.pk}", link=_bot_link(bot),
            ))
        elif drawdown < threshold and alerted:
            _mark_set(mark, {"alerted": False})
    return raised


def rules_run_all():
    """The scheduled pass: every rule for every active key that has bots."""
    count = 0
    for key in ExchangeKey.objects.filter(status=ExchangeKey.Status.ACTIVE, bots__isnull=False).distinct():
        count += len(rules_run_for_key(key=key))
    return count


def signals_ignored_digest(*, user):
    """One alert for the signals the user's bots ignored since the last digest (or none)."""
    mark = _mark(f"digest:ignored:{user.pk}")
    last_id = int(mark.value.get("last_id", 0))
    decisions = list(SignalDecision.objects.filter(bot__owner=user, outcome=SignalDecision.Outcome.IGNORED,
                                                   pk__gt=last_id).select_related("bot", "signal").order_by("id"))
    if not decisions:
        return None
    reasons = Counter((d.bot.name, d.signal.market, d.reason) for d in decisions)
    lines = [f"- {bot}, {market}: {reason}" + (f" (x{n})" if n > 1 else "")
             for (bot, market, reason), n in reasons.most_common(20)]
    if len(reasons) > 20:
        lines.append(f"- and {len(reasons) - 20} more")
    last = decisions[-1].pk
    alert = alert_raise(
        user=user, kind=Kind.SIGNALS_IGNORED, severity=Severity.INFO,
        title=f"{len(decisions)} signal(s) ignored", text="Your bots ignored these signals:\n" + "\n".join(lines),
        dedupe_key=f"signals_ignored:{last}", link=page_link("strategies:signal_list"),
    )
    _mark_set(mark, {"last_id": last})
    return alert


def signals_ignored_digest_all():
    users = get_user_model().objects.filter(is_active=True, bots__isnull=False).distinct()
    return sum(1 for user in users if signals_ignored_digest(user=user) is not None)


CENT = Decimal("0.01")


def daily_summary(*, user, now=None):
    """Equity, today's PnL (UTC, :mod:`portfolios.pnl`, as the portal and Telegram show it) and trades of one
    user: an info alert on every linked channel."""
    now = now or db_now()
    since = now - timedelta(hours=24)
    equity = {}
    for key in ExchangeKey.objects.filter(owner=user, status=ExchangeKey.Status.ACTIVE):
        latest = EquitySnapshot.objects.filter(key=key, bot__isnull=True).order_by("-taken", "-id").first()
        if latest:
            equity[latest.quote_asset] = equity.get(latest.quote_asset, Decimal(0)) + latest.equity
    bots = list(Bot.objects.filter(owner=user).exclude(state=Bot.State.STOPPED).prefetch_related("positions")
                .order_by("name"))
    figures = pnl.bots_pnl(bots, now=now)
    lines = [f"- {bot.name} ({bot.get_state_display().lower()}): equity {figures[bot.pk].equity.quantize(CENT)} "
             f"{bot.quote_asset}, today {figures[bot.pk].today.quantize(CENT):+}" for bot in bots]
    totals = pnl.totals_by_quote(bots, figures)
    today = ", ".join(f"{total.today.quantize(CENT):+} {quote}" for quote, total in totals.items()) or "0"
    trades = Fill.objects.filter(key__owner=user, traded_at__gte=since).count()
    held = ", ".join(f"{amount.quantize(CENT)} {quote}" for quote, amount in sorted(equity.items())) or "0"
    text = (f"Account equity: {held}\nPnL of your bots today ({now:%Y-%m-%d} UTC): "
            f"{today}\nTrades in 24 h: {trades}\n" + "\n".join(lines))
    heads = chain_heads_followed(user=user)
    if heads:
        # An outside copy of each followed strategy's track record: a history rewritten later would not end here.
        text += "\nTrack record heads (keep them: the public track record must end at these):\n" + "\n".join(
            f"- {name}: {head}" for name, head in heads)
    return alert_raise(
        user=user, kind=Kind.DAILY_SUMMARY, severity=Severity.INFO, title=f"Daily summary {now:%Y-%m-%d}",
        text=text, dedupe_key=f"daily_summary:{now:%Y-%m-%d}", channels=list(CHANNELS),
        link=page_link("portfolios:bot_list"),
    )


def chain_heads_followed(*, user):
    """(strategy name, chain head) of each strategy the user's bots follow."""
    return list(Strategy.objects.filter(bots__owner=user, bots__state__in=[Bot.State.RUNNING, Bot.State.PAUSED])
                .exclude(chain_head="").distinct().order_by("name").values_list("name", "chain_head"))


def daily_summaries(now=None):
    prefs = AlertPreference.objects.filter(daily_summary=True, user__is_active=True).select_related("user")
    return sum(1 for pref in prefs if daily_summary(user=pref.user, now=now) is not None)
