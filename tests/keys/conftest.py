import pytest
from django.urls import reverse

from tests.conftest import login_verified, totp_code


@pytest.fixture
def alice_client(client, alice_2fa):
    return login_verified(client, alice_2fa, alice_2fa.totp_device)


def link_form(paper_key, **overrides):
    data = {
        "exchange": "paper",
        "label": "Paper main",
        "api_key": paper_key["api_key"],
        "api_secret": paper_key.get("secret", ""),
        "private_key": paper_key.get("private_key", ""),
        "passphrase": "",
    }
    data.update(overrides)
    return data


def post_link(client, user, data, code_offset=0):
    """Submit the link form with a fresh code (offset steps from now)."""
    if "otp_code" not in data:
        data = {**data, "otp_code": totp_code(user.totp_device, code_offset)}
    return client.post(reverse("keys:link"), data)
