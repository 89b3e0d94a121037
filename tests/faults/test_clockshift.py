"""The fault suite's wrong clock (tests/faults/clockshift) shifts a child process's wall clock, and only its wall clock."""

import json
import subprocess
import sys

import pytest

from tests.faults.harness import ROOT, clock_shift_env

pytestmark = [pytest.mark.faults]

PROBE = """
import datetime, json, time
from django.conf import settings
settings.configure(USE_TZ=True)
from django.utils import timezone
from django.utils.timezone import now
real = datetime.datetime.now(datetime.timezone.utc).timestamp()
print(json.dumps({"time": time.time() - real, "time_ns": time.time_ns() / 1e9 - real,
                  "timezone_now": timezone.now().timestamp() - real, "imported_now": now().timestamp() - real,
                  "localtime": timezone.localtime().timestamp() - real}))
"""


@pytest.mark.parametrize("seconds", [60, -60])
def test_a_shifted_child_reads_the_shifted_time_everywhere(seconds):
    env = clock_shift_env({"PATH": "/usr/bin:/bin"}, seconds)
    out = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    offsets = json.loads(out.stdout)
    assert {name: round(offset) for name, offset in offsets.items()} == dict.fromkeys(offsets, seconds), offsets
