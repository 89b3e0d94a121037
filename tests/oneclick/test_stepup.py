import pytest
from django import forms
from django.test import RequestFactory
from django_otp.plugins.otp_static.models import StaticToken

from oneclick.forms import StepUpFormMixin
from oneclick.services import backup_code_digest
from tests.conftest import totp_code

pytestmark = pytest.mark.django_db


class RenameForm(StepUpFormMixin):
    """A stand-in for a sensitive form (linking a key) using the mixin."""

    label = forms.CharField(max_length=20)


def _form(user, data):
    request = RequestFactory().post("/", REMOTE_ADDR="127.0.0.1")
    request.user = user
    return RenameForm(data, request=request, user=user)


def test_sensitive_action_fails_without_a_fresh_code(alice_2fa):
    assert not _form(alice_2fa, {"label": "main"}).is_valid()
    form = _form(alice_2fa, {"label": "main", "otp_code": "000000"})
    assert not form.is_valid()
    assert "not valid" in form.errors["otp_code"][0]


def test_sensitive_action_succeeds_with_a_fresh_code_once(alice_2fa):
    code = totp_code(alice_2fa.totp_device)
    assert _form(alice_2fa, {"label": "main", "otp_code": code}).is_valid()
    reused = _form(alice_2fa, {"label": "main", "otp_code": code})
    assert not reused.is_valid()


def test_code_is_not_spent_when_the_rest_of_the_form_is_invalid(alice_2fa):
    code = alice_2fa.backup_codes[0]
    bad = _form(alice_2fa, {"label": "x" * 50, "otp_code": code})
    assert not bad.is_valid()
    assert "otp_code" not in bad.errors
    assert StaticToken.objects.filter(device__user=alice_2fa, token=backup_code_digest(code)).exists()
    assert _form(alice_2fa, {"label": "main", "otp_code": code}).is_valid()


def test_user_without_two_factor_is_told_to_turn_it_on(alice):
    form = _form(alice, {"label": "main", "otp_code": "123456"})
    assert not form.is_valid()
    assert "Turn on two-factor authentication" in form.errors["otp_code"][0]
