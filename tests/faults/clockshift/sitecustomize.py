"""A wrong wall clock for a whole process, as on a machine whose clock drifted: ``FAULT_CLOCK_SHIFT_SECONDS``.

The fault suite puts this directory first on a qcluster's ``PYTHONPATH``; Python imports
``sitecustomize`` at start-up, before Django or anything else reads the time, so every
process of the cluster (forked workers included) reads the shifted clock:

- ``time.time`` and ``time.time_ns``: ccxt's request timestamps, Django's signing,
  the ``limits`` windows, the shared back-off mark;
- ``django.utils.timezone.now``: ``auto_now`` fields, django-q2's schedules and
  heartbeats, and every ``timezone.now()`` of the product. Replaced on the module
  before anything imports it, so ``from django.utils.timezone import now`` gets it too.

``datetime.datetime.now`` cannot be patched on the C type; nothing on the path the
fault tests exercise calls it (Django's ``DateField``/``TimeField`` ``auto_now`` would,
and the product has none; django-q2 calls it only with ``USE_TZ`` off).
``time.monotonic`` stays right: a drifting wall clock does not move it.
"""

import os
import time

SHIFT = float(os.environ.get("FAULT_CLOCK_SHIFT_SECONDS") or 0)

if SHIFT:
    _time, _time_ns = time.time, time.time_ns
    _shift_ns = int(SHIFT * 1_000_000_000)

    def _shifted_time():
        return _time() + SHIFT

    def _shifted_time_ns():
        return _time_ns() + _shift_ns

    time.time = _shifted_time
    time.time_ns = _shifted_time_ns

    try:
        from datetime import timedelta

        from django.utils import timezone as _timezone
    except ImportError:  # a process without Django (nothing to shift there)
        pass
    else:
        _now = _timezone.now
        _delta = timedelta(seconds=SHIFT)

        def _shifted_now():
            return _now() + _delta

        _timezone.now = _shifted_now
