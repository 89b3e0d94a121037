from django import forms

from alerts import bounds
from alerts.models import AlertPreference


class AlertPreferenceForm(forms.ModelForm):
    class Meta:
        model = AlertPreference
        fields = ["email_min_severity", "telegram_min_severity", "daily_summary", "drawdown_threshold"]
        labels = {
            "email_min_severity": "Email: alerts from this severity up",
            "telegram_min_severity": "Telegram: alerts from this severity up",
            "daily_summary": "Send me a daily summary (equity, PnL, trades)",
            "drawdown_threshold": "Drawdown alert threshold (%)",
        }
        help_texts = {
            "email_min_severity": "Critical alerts always go to every linked channel.",
            "drawdown_threshold": "Alert when a bot's equity falls this many percent below its peak. Empty: never.",
        }

    def clean_drawdown_threshold(self):
        value = self.cleaned_data["drawdown_threshold"]
        if value is not None and not (bounds.DRAWDOWN_MIN < value < bounds.DRAWDOWN_MAX):
            raise forms.ValidationError(
                f"Enter a percentage between {bounds.DRAWDOWN_MIN} and {bounds.DRAWDOWN_MAX}, or leave it empty.")
        return value


class KindFilterForm(forms.Form):
    kind = forms.ChoiceField(required=False)

    def __init__(self, *args, kinds=(), **kwargs):
        super().__init__(*args, **kwargs)
        from alerts.models import Kind

        labels = dict(Kind.choices)
        self.fields["kind"].choices = [("", "All kinds")] + [(k, labels.get(k, k)) for k in kinds]
