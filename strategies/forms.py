import json
from datetime import UTC, datetime, time
from decimal import Decimal

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator

from oneclick.lib.clock import db_now
from strategies import bounds
from strategies.models import Strategy
from strategies.registry import REGISTRY
from strategies.services import strategy_validate
from strategies.timeframes import TIMEFRAMES


class BacktestForm(forms.Form):
    """Types and bounds (:mod:`strategies.bounds`); the range rules and the per-user limits are the service's."""

    market = forms.ChoiceField()
    start = forms.DateField(widget=forms.DateInput(attrs={"type": "date", "min": bounds.EARLIEST.isoformat()}),
                            validators=[MinValueValidator(bounds.EARLIEST)], help_text="UTC, inclusive.")
    end = forms.DateField(widget=forms.DateInput(attrs={"type": "date", "min": bounds.EARLIEST.isoformat()}),
                          validators=[MinValueValidator(bounds.EARLIEST)], help_text="UTC, exclusive.")
    fee = forms.DecimalField(initial=Decimal("0.001"), min_value=bounds.FEE_MIN, max_value=bounds.FEE_MAX,
                             decimal_places=6, help_text="Per order, as a rate: 0.001 is 0.1%.")
    allocation = forms.DecimalField(
        initial=Decimal("1000"), decimal_places=8,
        validators=[MinValueValidator(bounds.ALLOCATION_MIN, message=f"At least {bounds.ALLOCATION_MIN}."),
                    MaxValueValidator(bounds.ALLOCATION_MAX, message=f"At most {bounds.ALLOCATION_MAX:,.0f}.")],
        help_text="The amount of quote currency the simulated bot trades with.")

    def __init__(self, *args, strategy, **kwargs):
        super().__init__(*args, **kwargs)
        self.strategy = strategy
        self.fields["market"].choices = [(m, m) for m in strategy.markets]
        self.latest = bounds.latest_end(db_now()).date()
        for name in ("start", "end"):
            self.fields[name].widget.attrs["max"] = self.latest.isoformat()

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        for name, value in (("start", start), ("end", end)):
            if value and value > self.latest:
                self.add_error(name, f"Choose a date on or before {self.latest:%Y-%m-%d} (UTC).")
        if self.errors:
            return data
        if start and end:
            if end <= start:
                raise ValidationError("The range is empty or reversed: the end must be after the start.")
            data["start_at"] = datetime.combine(start, time(0), tzinfo=UTC)
            data["end_at"] = datetime.combine(end, time(0), tzinfo=UTC)
        return data


class StrategyAdminForm(forms.ModelForm):
    """Params are checked by the strategy's class: a bad value is an error here, never a failed run later."""

    kind = forms.ChoiceField(choices=[(k, cls.label) for k, cls in REGISTRY.items()])
    timeframe = forms.ChoiceField(choices=[(t, t) for t in TIMEFRAMES], initial="4h")

    class Meta:
        model = Strategy
        fields = ["name", "kind", "description", "timeframe", "exchange", "markets", "params", "active", "signal_ttl"]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        params = data.get("params")
        if isinstance(params, str):
            try:
                params = json.loads(params)
            except ValueError:
                raise ValidationError({"params": "Not valid JSON."}) from None
        try:
            data["params"] = strategy_validate(
                kind=data.get("kind"), params=params or {}, timeframe=data.get("timeframe"), markets=data.get("markets")
            )
        except ValidationError as error:
            if hasattr(error, "error_dict"):
                for field, errors in error.message_dict.items():
                    self.add_error(field if field in self.fields else None, errors)
            else:
                raise
        return data
