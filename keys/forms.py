from django import forms

from oneclick.forms import StepUpFormMixin
from exchanges import EXCHANGES, Credentials

ALL_CREDENTIAL_FIELDS = ("api_key", "api_secret", "passphrase", "private_key")


class SecretTextarea(forms.Textarea):
    """A textarea for a secret (a private key): like a password field, it never renders its value back."""

    def format_value(self, value):
        return None


class KeyLinkForm(StepUpFormMixin):
    exchange = forms.ChoiceField(choices=[(name, cls.label) for name, cls in EXCHANGES.items()])
    label = forms.CharField(max_length=60, help_text="A name for you, e.g. “Main account”.")
    # Never rendered back into a page, even when the form has errors.
    api_key = forms.CharField(
        label="API key", max_length=512, widget=forms.PasswordInput(attrs={"autocomplete": "off"}, render_value=False)
    )
    api_secret = forms.CharField(
        label="API secret", max_length=512, required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}, render_value=False),
    )
    passphrase = forms.CharField(
        label="Passphrase", max_length=256, required=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}, render_value=False),
        help_text="Only for exchanges that give keys a passphrase.",
    )
    private_key = forms.CharField(
        label="Ed25519 private key (PEM)", max_length=4096, required=False,
        widget=SecretTextarea(attrs={"rows": 4, "autocomplete": "off"}),
        help_text="Binance and the paper exchange only, for a self-generated Ed25519 key instead of a secret.",
    )
    confirm_no_withdrawals = forms.BooleanField(
        required=False, label="I confirm this key cannot withdraw funds.",
        help_text="Needed for exchanges that do not report a key's permissions.",
    )
    field_order = ["exchange", "label", "api_key", "api_secret", "passphrase", "private_key",
                   "confirm_no_withdrawals", "otp_code"]

    def clean(self):
        data = self.cleaned_data
        exchange = EXCHANGES.get(data.get("exchange"))
        if exchange is not None:
            for name in ALL_CREDENTIAL_FIELDS:
                data[name] = (data.get(name) or "").strip()
            declared = {f.name: f for f in exchange.credential_fields}
            for name, spec in declared.items():
                if spec.required and not data.get(name):
                    self.add_error(name, f"{exchange.label} keys need this field.")
            for name in ALL_CREDENTIAL_FIELDS:
                if data.get(name) and name not in declared:
                    self.add_error(name, f"{exchange.label} keys do not use this field; leave it empty.")
            if not exchange.reports_permissions and not data.get("confirm_no_withdrawals"):
                self.add_error(
                    "confirm_no_withdrawals",
                    f"{exchange.label} does not report a key's permissions: confirm that withdrawals are off.",
                )
            if "api_secret" in declared and "private_key" in declared:
                if bool(data.get("api_secret")) == bool(data.get("private_key")):
                    self.add_error("api_secret", "Give either the API secret or the Ed25519 private key.")
        return super().clean()

    def credentials(self):
        data = self.cleaned_data
        return Credentials(
            api_key=data["api_key"], secret=data["api_secret"], passphrase=data["passphrase"],
            private_key=data["private_key"],
        )


class KeyEnableForm(StepUpFormMixin):
    """Re-enabling a disabled key: a fresh code, then a new probe."""
