import threading
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller

from tests.plugins import free_port



class _Handler:
    def __init__(self, server):
        self.server = server

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.server.refused:
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.server.lock:
            self.server.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted"


class SmtpServer:
    """A real SMTP server (aiosmtpd) on a fixed local port, which can be down or up."""

    def __init__(self):
        self.port = free_port()
        self.messages = []
        self.refused = set()
        self.lock = threading.Lock()
        self.controller = None

    def start(self):
        self.controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self):
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def to(self, address):
        with self.lock:
            return [m for m in self.messages if address in m["To"]]


def _point_email_at(settings, port):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_HOST_USER = ""
    settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.EMAIL_USE_SSL = False


@pytest.fixture
def smtp_down(settings):
    """Email goes over SMTP to a port where nothing listens yet; ``.start()`` brings the server up."""
    server = SmtpServer()
    _point_email_at(settings, server.port)
    yield server
    server.stop()


@pytest.fixture
def smtp(smtp_down):
    """A running SMTP server that receives every email the platform sends."""
    return smtp_down.start()


def body_text(message):
    return message.get_body(preferencelist=("plain",)).get_content()


def body_html(message):
    return message.get_body(preferencelist=("html",)).get_content()
