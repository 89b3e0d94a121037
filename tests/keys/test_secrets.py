import io
import logging

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from keys.models import ExchangeKey
from oneclick.lib.logscrub import SecretScrubFilter
from tests.conftest import enable_two_factor, login_verified
from tests.keys.conftest import link_form, post_link

pytestmark = pytest.mark.django_db


@pytest.fixture
def platform_log():
    """The platform's log output at DEBUG, through the same filter as settings.LOGGING."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SecretScrubFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for name in ("urllib3", "ccxt", "django", "keys", "portfolios"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(old_level)


def _secrets(paper_account):
    return [paper_account.api_key, paper_account.secret]


def test_link_and_probe_cycle_leaves_no_secret_anywhere(
    client, alice_2fa, staff, paper, paper_account, platform_log
):
    login_verified(client, alice_2fa, alice_2fa.totp_device)
    # A failing attempt first (wrong secret: the real key, a bad secret), then a good one.
    post_link(client, alice_2fa, link_form(paper_account.key, api_secret="f" * 64), code_offset=-1)
    response = post_link(client, alice_2fa, link_form(paper_account.key))
    key = ExchangeKey.objects.get(owner=alice_2fa)
    client.post(reverse("keys:reprobe", args=[key.pk]))

    pages = [response.url, reverse("keys:list"), reverse("dashboard"), reverse("keys:link")]
    html = "".join(client.get(url).content.decode() for url in pages)

    staff_client = type(client)()
    device, _ = enable_two_factor(staff)
    login_verified(staff_client, staff, device)
    admin_pages = ["/admin/keys/exchangekey/", f"/admin/keys/exchangekey/{key.pk}/change/", "/admin/keys/keyevent/"]
    for url in admin_pages:
        page = staff_client.get(url)
        assert page.status_code == 200, url
        html += page.content.decode()

    dump = io.StringIO()
    call_command("dumpdata", stdout=dump)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM keys_exchangekey")
        raw = repr(cursor.fetchall())

    log_output = platform_log.getvalue()
    assert "GET" in log_output or "POST" in log_output  # the requests were logged
    for secret in _secrets(paper_account):
        assert secret not in html
        assert secret not in dump.getvalue()
        assert secret not in raw
        assert secret not in log_output
    assert key.api_secret == paper_account.secret  # still usable by the platform


def test_admin_form_has_no_secret_fields(client, staff, alice_2fa, paper, paper_account):
    post_link(login_verified(client, alice_2fa, alice_2fa.totp_device), alice_2fa, link_form(paper_account.key))
    key = ExchangeKey.objects.get(owner=alice_2fa)
    device, _ = enable_two_factor(staff)
    staff_client = login_verified(type(client)(), staff, device)
    page = staff_client.get(f"/admin/keys/exchangekey/{key.pk}/change/").content.decode()
    for field in ("api_key", "api_secret", "passphrase", "private_key"):
        assert f'name="{field}"' not in page
    assert key.api_key_hint in page
