import io
import json
import logging

import pytest
from pythonjsonlogger.json import JsonFormatter

from oneclick.lib.logscrub import SecretScrubFilter, forget_secret, register_secret, scrub


@pytest.fixture
def capture():
    """A logger whose handler carries the filter, as settings.LOGGING wires it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SecretScrubFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("tests.logscrub")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


def test_query_string_signature_is_redacted(capture):
    logger, stream = capture
    logger.info("GET /api/v3/account?timestamp=1&recvWindow=5000&signature=9f86d081884c7d659a2feaa0c55ad015")
    out = stream.getvalue()
    assert "9f86d081884c7d659a2feaa0c55ad015" not in out
    assert "signature=[redacted]" in out
    assert "recvWindow=5000" in out


def test_api_key_header_and_credential_fields_are_redacted(capture):
    logger, stream = capture
    logger.warning("headers %s", {"X-MBX-APIKEY": "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"})
    logger.warning("X-MBX-APIKEY: abcdefghijklmnop1234")
    logger.warning('body {"apiKey": "key-123456789", "secret": "sec-987654321", "passphrase": "pass-55555555"}')
    out = stream.getvalue()
    for leaked in ("vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A", "abcdefghijklmnop1234",
                   "key-123456789", "sec-987654321", "pass-55555555"):
        assert leaked not in out


def test_registered_secret_values_are_redacted_everywhere(capture):
    logger, stream = capture
    secret = "Zx9-registered-secret-value-4711"
    register_secret(secret)
    try:
        logger.error("odd value %s in text", secret)
        try:
            raise ValueError(f"bad credentials {secret}")
        except ValueError:
            logger.exception("probe failed")
    finally:
        forget_secret(secret)
    out = stream.getvalue()
    assert secret not in out
    assert "probe failed" in out
    assert "ValueError: bad credentials [redacted]" in out


def test_pem_private_keys_and_extra_fields_are_redacted():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(SecretScrubFilter())
    handler.setFormatter(JsonFormatter("%(levelname)s %(message)s"))
    logger = logging.getLogger("tests.logscrub.json")
    logger.addHandler(handler)
    logger.propagate = False
    pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIKx\n-----END PRIVATE KEY-----"
    logger.warning("key %s", pem, extra={"url": "https://x/api?a=1&signature=deadbeefcafe"})
    record = json.loads(stream.getvalue())
    assert "MC4CAQAwBQYDK2VwBCIEIKx" not in json.dumps(record)
    assert "deadbeefcafe" not in record["url"]


def test_ordinary_text_is_left_alone():
    text = "order 42 filled: BTC/USDT buy 0.01 at 65000"
    assert scrub(text) == text
    assert scrub("") == ""


def test_the_filter_is_on_every_configured_handler(settings):
    for handler in settings.LOGGING["handlers"].values():
        assert "scrub" in handler["filters"]


def test_invitation_link_token_is_redacted(capture):
    logger, stream = capture
    logger.warning("Gone: /accounts/invitation/sPUTD1YzPtFnTIcfGy407WF7Tm_Cf1oIvbYI6G0fdgM/")
    out = stream.getvalue()
    assert "sPUTD1YzPtFnTIcfGy407WF7Tm_Cf1oIvbYI6G0fdgM" not in out
    assert "/accounts/invitation/[redacted]/" in out
