"""pytest plugins: real servers (paper exchange, Telegram Bot API) the tests talk to."""

import socket


def free_port():
    """A TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
