"""Write the embedded demo's `.env` the first time (`python -m oneclick.lib.devenv`).

Existing values are kept; only missing ones are added, so running it again
changes nothing. Needs no Django settings.
"""

import os
import secrets
import sys
from pathlib import Path

from oneclick.lib.files import PRIVATE, make_private

DEFAULTS = {
    "SECRET_KEY": lambda: secrets.token_urlsafe(50),
    "ONECLICK_ENCRYPTION_KEY": lambda: secrets.token_urlsafe(50),
    "ONECLICK_DEMO_PASSWORD": lambda: "demo-" + secrets.token_urlsafe(9),
    # The demo is served over plain HTTP on this machine only.
    "SECURE_HTTPS": lambda: "off",
    "ALLOWED_HOSTS": lambda: "localhost,127.0.0.1",
    "EMAIL_URL": lambda: "consolemail://",
    "LOG_FORMAT": lambda: "text",
    "ONECLICK_EGRESS_IPS": lambda: "127.0.0.1",
}
# The portal's and the paper exchange's URLs follow WEB_PORT and PAPER_PORT (the Makefile derives them), so
# the `.env` never pins them: honcho would load a pinned one over what `make` exported. The lines an
# earlier demo wrote with the default ports are taken out again.
UNPINNED = {"ONECLICK_SITE_URL": "http://127.0.0.1:8000", "PAPEREXCHANGE_URL": "http://127.0.0.1:8100"}


def read(path):
    values = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if "=" in line and not line.lstrip().startswith("#"):
                name, value = line.split("=", 1)
                values[name.strip()] = value.strip()
    return values


def _unpin(path):
    if not path.exists():
        return
    lines = path.read_text().splitlines(keepends=True)
    kept = [line for line in lines
            if not any(line.strip() == f"{name}={value}" for name, value in UNPINNED.items())]
    if kept != lines:
        path.write_text("".join(kept))


def ensure(path):
    _unpin(path)
    existing = read(path)
    missing = {name: make() for name, make in DEFAULTS.items() if name not in existing}
    if not path.exists():
        os.close(os.open(path, os.O_CREAT | os.O_WRONLY, PRIVATE))  # it holds the demo's keys: the owner only
    make_private(path)
    if missing:
        with path.open("a") as handle:
            if not existing:
                handle.write("# Local settings of the embedded demo, written by `make run`.\n")
            for name, value in missing.items():
                handle.write(f"{name}={value}\n")
    return {**existing, **missing}


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(".env")
    ensure(target)
