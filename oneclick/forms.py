from django import forms

from oneclick.services import SecondFactorError, stepup_verify


class OneTimeCodeForm(forms.Form):
    code = forms.CharField(
        label="One-time code",
        max_length=32,
        help_text="The 6-digit code from your authenticator app, or one of your backup codes.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}),
    )


class StepUpFormMixin(forms.Form):
    """Adds a one-time code field checked only when the rest of the form is valid.

    The form must be built with ``request=`` and ``user=``. A valid code is
    consumed (it cannot be reused), so it is checked last: a form that fails
    for another reason leaves the code usable.
    """

    otp_code = forms.CharField(
        label="One-time code",
        max_length=32,
        help_text="A fresh code from your authenticator app confirms this action.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code"}),
    )

    def __init__(self, *args, request, user, **kwargs):
        self.request = request
        self.user = user
        super().__init__(*args, **kwargs)

    def clean(self):
        cleaned = super().clean()
        if not self.errors:
            try:
                stepup_verify(request=self.request, user=self.user, code=cleaned.get("otp_code"))
            except SecondFactorError as error:
                self.add_error("otp_code", str(error))
        return cleaned


class StepUpForm(StepUpFormMixin):
    """A sensitive action with nothing to fill in but the code."""
