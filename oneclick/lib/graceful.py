"""Run a command so that a stop signal reaches its main process only, never the processes it started.

A process manager (honcho, on Ctrl-C or its own SIGTERM) signals a process's
whole group. django-q2's ``qcluster`` stops cleanly when its main process gets
SIGTERM: each worker finishes the task in hand, then every process exits.
Signalled at the same moment, its workers die mid-task instead, and the main
process waits for them until it is killed. Here the command runs in a group of
its own and the signal goes to its main process alone; whatever of the group is
still alive after ``GRACE`` seconds (or once the main process has exited) is
killed, so nothing outlives this wrapper.

    python -m oneclick.lib.graceful .venv/bin/python manage.py qcluster
"""

import os
import signal
import subprocess
import sys
import time

# Under honcho's 5 s between its SIGTERM and its SIGKILL (which would leave the group running).
GRACE = 4.0


def _kill_group(pgid):
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run(argv):
    child = subprocess.Popen(argv, start_new_session=True)
    asked = []

    def forward(signum, _frame):
        if not asked:
            asked.append(time.monotonic())
            child.send_signal(signal.SIGTERM)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, forward)
    while True:
        try:
            code = child.wait(timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            if asked and time.monotonic() - asked[0] > GRACE:
                _kill_group(child.pid)
                code = child.wait()
                break
    _kill_group(child.pid)  # anything of its group the main process left behind
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m oneclick.lib.graceful COMMAND [ARG ...]")
    sys.exit(run(sys.argv[1:]))
