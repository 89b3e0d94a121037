import pytest
from django.urls import reverse

from keys.models import ExchangeKey, KeyEvent
from tests.conftest import login_verified, totp_code
from tests.keys.conftest import link_form, post_link

pytestmark = pytest.mark.django_db


def test_trade_only_key_is_linked_encrypted_and_shown_masked(alice_client, alice_2fa, paper, paper_account):
    response = post_link(alice_client, alice_2fa, link_form(paper_account.key))
    key = ExchangeKey.objects.get(owner=alice_2fa)
    assert response.status_code == 302
    assert response.url == reverse("keys:detail", args=[key.pk])
    assert key.status == "active"
    assert key.permissions["can_trade"] is True
    assert key.permissions["can_withdraw"] is False
    assert key.permissions_verified is True
    assert key.api_secret == paper_account.secret  # decrypts for the process that uses it

    page = alice_client.get(response.url).content.decode()
    api_key = paper_account.api_key
    assert f"{api_key[:4]}…{api_key[-4:]}" in page
    assert api_key not in page
    assert paper_account.secret not in page
    # Not IP-restricted: the user is told to whitelist the platform's IPs.
    assert "Not restricted to OneClick" in page
    assert "203.0.113.10" in page

    listing = alice_client.get(reverse("keys:list")).content.decode()
    assert "Paper main" in listing and f"{api_key[:4]}…{api_key[-4:]}" in listing
    kinds = set(KeyEvent.objects.filter(key=key).values_list("kind", flat=True))
    assert kinds == {"linked", "probed"}


def test_ip_restricted_key_gets_no_warning(alice_client, alice_2fa, paper, paper_account):
    restricted = paper.create_key(paper_account.id, ips=["127.0.0.1"])
    response = post_link(alice_client, alice_2fa, link_form(restricted))
    page = alice_client.get(response.url).content.decode()
    assert "Restricted to whitelisted IP addresses" in page
    assert ExchangeKey.objects.get(owner=alice_2fa).ip_restricted is True


def test_ed25519_key_is_linked(alice_client, alice_2fa, paper, paper_account):
    ed_key = paper.create_key(paper_account.id, ed25519=True)
    response = post_link(alice_client, alice_2fa, link_form(ed_key, api_secret=""))
    assert response.status_code == 302, response.content.decode()[:3000]
    key = ExchangeKey.objects.get(owner=alice_2fa)
    assert key.private_key.startswith("-----BEGIN PRIVATE KEY-----")
    assert key.api_secret == ""


def _refused(response, alice_2fa, text):
    assert response.status_code == 200
    assert text in response.content.decode()
    assert not ExchangeKey.objects.filter(owner=alice_2fa).exists()


def test_key_that_can_withdraw_is_refused(alice_client, alice_2fa, paper, paper_account):
    withdrawing = paper.create_key(paper_account.id, can_withdraw=True)
    response = post_link(alice_client, alice_2fa, link_form(withdrawing))
    _refused(response, alice_2fa, "This key can withdraw funds")
    assert KeyEvent.objects.filter(owner=alice_2fa, kind="link_refused").count() == 1


def test_key_without_trading_permission_is_refused(alice_client, alice_2fa, paper, paper_account):
    read_only = paper.create_key(paper_account.id, trade=False)
    response = post_link(alice_client, alice_2fa, link_form(read_only))
    _refused(response, alice_2fa, "This key cannot trade spot")


def test_wrong_secret_is_refused(alice_client, alice_2fa, paper, paper_account):
    response = post_link(alice_client, alice_2fa, link_form(paper_account.key, api_secret="0" * 64))
    _refused(response, alice_2fa, "did not accept this key and secret")


def test_key_used_from_an_ip_it_refuses_is_refused(alice_client, alice_2fa, paper, paper_account):
    elsewhere = paper.create_key(paper_account.id, ips=["127.0.0.2"])
    response = post_link(alice_client, alice_2fa, link_form(elsewhere))
    _refused(response, alice_2fa, "restricted to other IP addresses than OneClick")


def test_exchange_unreachable_saves_nothing(alice_client, alice_2fa, paper_account, settings):
    settings.PAPEREXCHANGE_URL = "http://127.0.0.1:9"
    response = post_link(alice_client, alice_2fa, link_form(paper_account.key))
    _refused(response, alice_2fa, "Could not reach Paper exchange")


def test_missing_wrong_and_reused_codes_are_refused(alice_client, alice_2fa, paper, paper_account):
    missing = alice_client.post(reverse("keys:link"), link_form(paper_account.key))
    _refused(missing, alice_2fa, "This field is required")
    wrong = post_link(alice_client, alice_2fa, {**link_form(paper_account.key), "otp_code": "000000"})
    _refused(wrong, alice_2fa, "That code is not valid")

    code = totp_code(alice_2fa.totp_device)
    ok = post_link(alice_client, alice_2fa, {**link_form(paper_account.key, label="first"), "otp_code": code})
    assert ok.status_code == 302
    second_key = paper.create_key(paper_account.id)
    reused = post_link(alice_client, alice_2fa, {**link_form(second_key, label="second"), "otp_code": code})
    assert "That code is not valid" in reused.content.decode()
    assert list(ExchangeKey.objects.filter(owner=alice_2fa).values_list("label", flat=True)) == ["first"]


def test_bad_input_re_renders_with_errors_and_never_echoes_secrets(alice_client, alice_2fa, paper_account):
    data = link_form(paper_account.key, label="", exchange="nowhere")
    response = post_link(alice_client, alice_2fa, data)
    page = response.content.decode()
    assert response.status_code == 200
    assert "Select a valid choice" in page
    assert paper_account.secret not in page and paper_account.api_key not in page
    assert not ExchangeKey.objects.exists()


def test_a_pasted_private_key_is_never_rendered_back_while_the_other_fields_keep_their_values(alice_client,
                                                                                             alice_2fa):
    pem = ("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ4tE2wGdxpZqJ8k0Qkq1pL5s9B0zV7u3yX2nQ6mW8aF\n"
           "-----END PRIVATE KEY-----")
    # An error elsewhere (both a secret and a private key given): the form comes back with its errors.
    data = {"exchange": "paper", "label": "My ed25519 key", "api_key": "k" * 20, "api_secret": "s" * 20,
            "private_key": pem}
    response = post_link(alice_client, alice_2fa, data)
    page = response.content.decode()
    assert response.status_code == 200 and "Give either the API secret or the Ed25519 private key" in page
    assert "BEGIN PRIVATE KEY" not in page and "MC4CAQAw" not in page and "s" * 20 not in page
    assert 'value="My ed25519 key"' in page  # what is not secret is kept
    assert not ExchangeKey.objects.exists()


def test_exchange_that_cannot_report_permissions_needs_a_confirmation(alice_client, alice_2fa):
    data = {"exchange": "bitvavo", "label": "B", "api_key": "k" * 20, "api_secret": "s" * 20}
    response = post_link(alice_client, alice_2fa, data)
    assert "confirm that withdrawals are off" in response.content.decode()
    assert not ExchangeKey.objects.exists()


def test_user_without_two_factor_is_sent_to_turn_it_on(client, alice, paper_account):
    login_verified(client, alice)
    page = client.get(reverse("keys:link")).content.decode()
    assert "Turn on two-factor authentication first" in page
    response = client.post(reverse("keys:link"), link_form(paper_account.key, otp_code="123456"))
    assert "Turn on two-factor authentication first" in response.content.decode()
    assert not ExchangeKey.objects.exists()


def test_guides_exist_for_every_exchange(alice_client):
    from exchanges import EXCHANGES

    for name, venue in EXCHANGES.items():
        page = alice_client.get(reverse("keys:guide", args=[name])).content.decode()
        assert "withdraw" in page.lower()
        assert "203.0.113.10" in page
        assert f"allocates in {', '.join(venue.quotes)}" in page
        verifiable = "reports a key's permissions" in page
        assert verifiable == venue.reports_permissions
        assert ("not verifiable on this exchange" in page) != venue.reports_permissions
    assert "symbol whitelist" in alice_client.get(reverse("keys:guide", args=["binance"])).content.decode()
    assert alice_client.get(reverse("keys:guide", args=["nowhere"])).status_code == 404
