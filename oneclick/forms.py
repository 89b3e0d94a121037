from allauth.account.adapter import get_adapter
from allauth.account.forms import AddEmailForm as AllauthAddEmailForm
from allauth.account.forms import ChangePasswordForm as AllauthChangePasswordForm
from allauth.account.forms import SignupForm as AllauthSignupForm
from allauth.core import context
from django import forms

from oneclick.services import INVITATION_OTHER_EMAIL, SecondFactorError, stepup_verify, user_has_two_factor


class OneTimeCodeForm(forms.Form):
    code = forms.CharField(
        label="One-time code",
        max_length=32,
        help_text="The 6-digit code from your authenticator app, or one of your backup codes.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True}),
    )


def _otp_code_field():
    return forms.CharField(
        label="One-time code",
        max_length=32,
        help_text="A fresh code from your authenticator app confirms this action.",
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code"}),
    )


def _check_code(form, request, user):
    """Consume the form's one-time code, last, when nothing else is wrong (a form that fails otherwise leaves it usable)."""
    if not form.errors:
        try:
            stepup_verify(request=request, user=user, code=form.cleaned_data.get("otp_code"))
        except SecondFactorError as error:
            form.add_error("otp_code", str(error))


class StepUpFormMixin(forms.Form):
    """Adds a one-time code field checked only when the rest of the form is valid.

    The form must be built with ``request=`` and ``user=``. A valid code is
    consumed (it cannot be reused), so it is checked last: a form that fails
    for another reason leaves the code usable.
    """

    otp_code = _otp_code_field()

    def __init__(self, *args, request, user, **kwargs):
        self.request = request
        self.user = user
        super().__init__(*args, **kwargs)

    def clean(self):
        cleaned = super().clean()
        _check_code(self, self.request, self.user)
        return cleaned


class StepUpForm(StepUpFormMixin):
    """A sensitive action with nothing to fill in but the code."""


class AccountStepUpMixin:
    """For allauth's account forms (built by allauth with ``user=``): a fresh one-time code when 2FA is on."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if user_has_two_factor(user=self.user):
            self.fields["otp_code"] = _otp_code_field()

    def clean(self):
        cleaned = super().clean()
        if "otp_code" in self.fields:
            _check_code(self, context.request, self.user)
        return cleaned


class AddEmailForm(AccountStepUpMixin, AllauthAddEmailForm):
    """Adding an email address (``ACCOUNT_FORMS["add_email"]``)."""


class ChangePasswordForm(AccountStepUpMixin, AllauthChangePasswordForm):
    """Changing the password (``ACCOUNT_FORMS["change_password"]``): the current one, and the code when 2FA is on."""


DELETE_CONFIRMATION = "delete my account"


class AccountDeleteForm(StepUpFormMixin):
    """Deleting an account: the password, a typed confirmation and, when 2FA is on, a fresh one-time code.

    The password goes through allauth's check (with its rate limit on wrong
    passwords); the code is checked last, so it is spent only when all else is right.
    """

    password = forms.CharField(
        label="Password", strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )
    confirmation = forms.CharField(
        label=f"Type “{DELETE_CONFIRMATION}” to confirm", max_length=100,
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "none"}),
    )
    field_order = ["password", "otp_code", "confirmation"]

    def __init__(self, *args, two_factor, **kwargs):
        super().__init__(*args, **kwargs)
        self.two_factor = two_factor
        if not two_factor:
            del self.fields["otp_code"]

    def clean_password(self):
        password = self.cleaned_data["password"]
        if not get_adapter().reauthenticate(self.user, password):
            raise get_adapter().validation_error("incorrect_password")
        return password

    def clean_confirmation(self):
        typed = " ".join(self.cleaned_data["confirmation"].split()).lower()
        if typed != DELETE_CONFIRMATION:
            raise forms.ValidationError(f"Type “{DELETE_CONFIRMATION}” exactly, to show you mean it.")
        return typed

    def clean(self):
        if self.two_factor:
            return super().clean()
        return forms.Form.clean(self)


class SignupForm(AllauthSignupForm):
    """allauth's sign-up form; after an invitation link, the email address is the invited one and stays so."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        request = context.request
        invitation = get_adapter().invitation_pending(request) if request is not None else None
        self.invited_email = invitation.email if invitation is not None else None
        if self.invited_email:
            field = self.fields["email"]
            field.initial = self.invited_email
            field.widget.attrs["readonly"] = True
            field.help_text = "The address your invitation was sent to."

    def clean_email(self):
        email = super().clean_email()
        if self.invited_email and email.lower() != self.invited_email.lower():
            raise forms.ValidationError(f"{INVITATION_OTHER_EMAIL} Sign up with {self.invited_email}.")
        return email


class WaitlistForm(forms.Form):
    email = forms.EmailField(label="Email address", widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    note = forms.CharField(
        label="A word about you (optional)", max_length=300, required=False,
        help_text="What you would like to trade, or who told you about OneClick.",
        widget=forms.Textarea(attrs={"rows": 3, "maxlength": 300}),
    )
