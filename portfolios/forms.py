from datetime import timedelta

from django import forms
from django.core.validators import MaxValueValidator, MinValueValidator
from django.utils import timezone

from exchanges import exchange_class
from keys.selectors import keys_for_owner
from oneclick.lib.clock import db_now
from portfolios import bounds
from portfolios.models import Bot
from strategies.models import Strategy



def amount_field(what, **kwargs):
    """An amount in the quote asset within :mod:`portfolios.bounds`, each bound with its own message."""
    return forms.DecimalField(decimal_places=8, validators=[
        MinValueValidator(bounds.AMOUNT_MIN, message=f"The {what} must be more than 0."),
        MaxValueValidator(bounds.AMOUNT_MAX, message=f"The {what} must be at most {bounds.AMOUNT_MAX:,.0f}."),
    ], **kwargs)



class BotForm(forms.Form):
    """A bot's settings. Types are checked here; the rules (balance, markets, key) by the services."""

    name = forms.CharField(max_length=60)
    key = forms.ModelChoiceField(queryset=None, label="Exchange key", empty_label=None,
                                 help_text="One of your keys: active and trade-only.")
    strategy = forms.ModelChoiceField(queryset=None, empty_label=None)
    quote_asset = forms.ChoiceField(choices=Bot.Quote.choices, label="Quote asset",
                                    help_text="The bot buys with it and sells back to it: one of the quotes "
                                              "the key's exchange lists its markets in.")
    markets = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple,
                                        help_text="Some of the strategy's markets, quoted in the chosen asset.")
    allocation = amount_field("allocation", help_text="How much of the quote asset the bot may use. "
                              "At most the free balance on the exchange now, less what your other "
                              "bots on the same key may still spend.")
    position_cap = amount_field("position cap", label="Position cap per market",
                                help_text="The most the bot may hold in one market, in the quote asset.")

    def __init__(self, *args, user, bot=None, **kwargs):
        self.bot = bot
        if bot is not None:
            kwargs.setdefault("initial", {
                "name": bot.name, "key": bot.key_id, "strategy": bot.strategy_id, "quote_asset": bot.quote_asset,
                "markets": list(bot.markets), "allocation": bot.allocation.normalize(),
                "position_cap": bot.position_cap.normalize(),
            })
        super().__init__(*args, **kwargs)
        self.fields["key"].queryset = keys_for_owner(owner=user)
        # The quotes each key's venue lists its markets in (the page offers only those).
        self.key_quotes = {str(k.pk): list(exchange_class(k.exchange).quotes) for k in self.fields["key"].queryset}
        strategies = Strategy.objects.filter(active=True).order_by("name")
        if bot is not None:
            strategies = Strategy.objects.filter(pk=bot.strategy_id)
            for name in ("key", "strategy", "quote_asset"):
                self.fields[name].disabled = True
                self.fields[name].help_text = "Fixed when the bot was created."
        self.fields["strategy"].queryset = strategies
        # The markets of every strategy offered; the service checks they belong to the chosen one.
        self.strategy_markets = {str(s.pk): list(s.markets or []) for s in strategies}
        offered = {m for ms in self.strategy_markets.values() for m in ms} | set(bot.markets if bot else [])
        markets = sorted(offered, key=lambda m: m.split("/")[::-1])
        self.fields["markets"].choices = [(m, m) for m in markets]


class ReportForm(forms.Form):
    """The period of a report, in calendar days of the portal's time zone (both ends included)."""

    KINDS = [("orders", "Orders"), ("fills", "Fills (with fees)"), ("daily", "Daily PnL and equity")]

    kind = forms.ChoiceField(choices=KINDS, label="Report")
    start = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}),
                            validators=[MinValueValidator(bounds.REPORT_EARLIEST)])
    end = forms.DateField(label="To (included)", widget=forms.DateInput(attrs={"type": "date"}),
                          validators=[MinValueValidator(bounds.REPORT_EARLIEST)])

    def __init__(self, *args, **kwargs):
        today = timezone.localdate(db_now())
        kwargs.setdefault("initial", {"kind": "orders", "start": today - timedelta(days=30), "end": today})
        super().__init__(*args, **kwargs)
        # Up to tomorrow, by the database's clock: a later date (9999-12-31) is an error, never an overflow.
        self.latest = today + bounds.REPORT_AHEAD
        for name in ("start", "end"):
            self.fields[name].widget.attrs.update(min=bounds.REPORT_EARLIEST.isoformat(), max=self.latest.isoformat())

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        for name, value in (("start", start), ("end", end)):
            if value and value > self.latest:
                self.add_error(name, f"Choose a date on or before {self.latest:%Y-%m-%d}.")
        if start and end and start > end:
            self.add_error("end", "The end comes before the start.")
        return data


class StopForm(forms.Form):
    sell_positions = forms.BooleanField(
        required=False, label="Also sell the bot's positions back to the quote asset (market orders, now)"
    )


class KillSwitchForm(forms.Form):
    cancel_orders = forms.BooleanField(required=False, label="Also cancel open orders on the exchange")
    disable_keys = forms.BooleanField(
        required=False, label="Also disable every exchange key (re-enabling one needs a fresh two-factor code)"
    )
