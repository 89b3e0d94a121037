"""Fault knobs, kept in the server's memory, and the counters tests read back.

Knobs (each a JSON object under its name, set through ``POST /_paper/faults``):

- ``lost_response``: ``{"count": N}`` or ``{"rate": r}``: the order is executed,
  then the connection is dropped before the answer (the "lost response").
- ``error``: ``{"rate": r | "count": N, "status": 500|502|503|504, "scope": "all"|"orders",
  "execute": false}``: answer a server error instead (after executing if ``execute``).
- ``timeout``: ``{"rate": r | "count": N, "seconds": s, "scope": ..., "execute": false}``:
  hold the request ``s`` seconds, then drop the connection without answering.
- ``latency``: ``{"ms": m, "jitter_ms": j}``: added delay on every request.
- ``clock_skew``: ``{"ms": m}``: the server's clock runs ``m`` ms ahead (negative: behind).
- ``force``: ``{"status": 429|418, "count": N}``: answer the next N requests so.
- ``reject_order``: ``{"count": N, "code": -2010, "msg": "..."}``: refuse the next N orders.
"""

import random
from collections import Counter

from .errors import ControlError

SCOPES = ("all", "orders")
ERROR_STATUSES = (500, 502, 503, 504)


def _num(spec, key, kind=float, default=None, low=None, high=None):
    value = spec.get(key, default)
    if value is None:
        return None
    try:
        value = kind(value)
    except (TypeError, ValueError):
        raise ControlError(f"{key} must be a number") from None
    if (low is not None and value < low) or (high is not None and value > high):
        raise ControlError(f"{key} must be between {low} and {high}")
    return value


class Trigger:
    """Fires on the next ``count`` matching events, or with probability ``rate``."""

    def __init__(self, spec, rng):
        self.count = _num(spec, "count", int, 0, 0)
        self.rate = _num(spec, "rate", float, 0.0, 0.0, 1.0)
        if not self.count and not self.rate:
            raise ControlError("give count (next N) or rate (0..1)")
        self.rng = rng

    def fire(self):
        if self.count > 0:
            self.count -= 1
            return True
        return self.rate > 0 and self.rng.random() < self.rate

    def spent(self):
        return self.count <= 0 and not self.rate

    def describe(self):
        return {"count": self.count, "rate": self.rate}


class Faults:
    def __init__(self, seed=0):
        self.rng = random.Random(seed)
        self.clear()

    def clear(self):
        self.lost_response = None
        self.error = None
        self.timeout = None
        self.latency_ms = 0.0
        self.jitter_ms = 0.0
        self.clock_skew_ms = 0
        self.force_status = None
        self.force_count = 0
        self.reject = None

    def set(self, knobs):
        if not isinstance(knobs, dict) or not knobs:
            raise ControlError("send a JSON object of fault knobs, e.g. {\"lost_response\": {\"count\": 1}}")
        unknown = set(knobs) - {"lost_response", "error", "timeout", "latency", "clock_skew", "force", "reject_order"}
        if unknown:
            raise ControlError(f"unknown fault knob(s): {', '.join(sorted(unknown))}")
        staged = {}
        for name, spec in knobs.items():
            if spec is None:
                staged[name] = None
                continue
            if not isinstance(spec, dict):
                raise ControlError(f"{name} must be an object or null")
            staged[name] = getattr(self, f"_parse_{name}")(spec)
        for name, value in staged.items():
            getattr(self, f"_apply_{name}")(value)

    # parsing -------------------------------------------------------------
    def _parse_lost_response(self, spec):
        return Trigger(spec, self.rng)

    def _parse_error(self, spec):
        status = _num(spec, "status", int, 503)
        if status not in ERROR_STATUSES:
            raise ControlError(f"status must be one of {ERROR_STATUSES}")
        return {"trigger": Trigger(spec, self.rng), "status": status, "scope": self._scope(spec),
                "execute": bool(spec.get("execute", False))}

    def _parse_timeout(self, spec):
        return {"trigger": Trigger(spec, self.rng), "seconds": _num(spec, "seconds", float, 30.0, 0.0, 3600.0),
                "scope": self._scope(spec), "execute": bool(spec.get("execute", False))}

    def _parse_latency(self, spec):
        return _num(spec, "ms", float, 0.0, 0.0, 60000.0), _num(spec, "jitter_ms", float, 0.0, 0.0, 60000.0)

    def _parse_clock_skew(self, spec):
        return _num(spec, "ms", int, 0, -86400000, 86400000)

    def _parse_force(self, spec):
        status = _num(spec, "status", int, 429)
        if status not in (429, 418):
            raise ControlError("force status must be 429 or 418")
        return status, _num(spec, "count", int, 1, 1)

    def _parse_reject_order(self, spec):
        code = _num(spec, "code", int, -2010)
        msg = str(spec.get("msg") or "This action is disabled on this account.")
        return {"count": _num(spec, "count", int, 1, 1), "code": code, "msg": msg}

    @staticmethod
    def _scope(spec):
        scope = spec.get("scope", "all")
        if scope not in SCOPES:
            raise ControlError(f"scope must be one of {SCOPES}")
        return scope

    # applying --------------------------------------------------------------
    def _apply_lost_response(self, value):
        self.lost_response = value

    def _apply_error(self, value):
        self.error = value

    def _apply_timeout(self, value):
        self.timeout = value

    def _apply_latency(self, value):
        self.latency_ms, self.jitter_ms = value or (0.0, 0.0)

    def _apply_clock_skew(self, value):
        self.clock_skew_ms = value or 0

    def _apply_force(self, value):
        self.force_status, self.force_count = value or (None, 0)

    def _apply_reject_order(self, value):
        self.reject = value

    # use ----------------------------------------------------------------------
    def delay(self):
        if not self.latency_ms and not self.jitter_ms:
            return 0.0
        return (self.latency_ms + self.jitter_ms * self.rng.random()) / 1000

    def take_force(self):
        if self.force_count > 0:
            self.force_count -= 1
            return self.force_status
        return None

    def take(self, name, is_order):
        """The error or timeout knob, if it fires for this request."""
        knob = getattr(self, name)
        if knob is None or (knob["scope"] == "orders" and not is_order):
            return None
        return knob if knob["trigger"].fire() else None

    def take_lost_response(self):
        return self.lost_response is not None and self.lost_response.fire()

    def take_reject(self):
        if self.reject and self.reject["count"] > 0:
            self.reject["count"] -= 1
            return self.reject
        return None

    def describe(self):
        return {
            "lost_response": self.lost_response.describe() if self.lost_response else None,
            "error": {**self.error, "trigger": self.error["trigger"].describe()} if self.error else None,
            "timeout": {**self.timeout, "trigger": self.timeout["trigger"].describe()} if self.timeout else None,
            "latency": {"ms": self.latency_ms, "jitter_ms": self.jitter_ms},
            "clock_skew": {"ms": self.clock_skew_ms},
            "force": {"status": self.force_status, "count": self.force_count},
            "reject_order": dict(self.reject) if self.reject else None,
        }


class Counters:
    def __init__(self):
        self.clear()

    def clear(self):
        self.requests = 0
        self.weight = 0
        self.http_429 = 0
        self.http_418 = 0
        self.orders = 0
        self.orders_by_client_id = Counter()
        self.lost_responses = 0
        self.injected_errors = 0
        self.injected_timeouts = 0
        self.rejected_orders = 0
        self.by_path = Counter()

    def as_json(self):
        return {
            "requests": self.requests, "weight_used": self.weight, "http_429": self.http_429,
            "http_418": self.http_418, "orders": self.orders,
            "orders_by_client_order_id": dict(self.orders_by_client_id),
            "lost_responses": self.lost_responses, "injected_errors": self.injected_errors,
            "injected_timeouts": self.injected_timeouts, "rejected_orders": self.rejected_orders,
            "requests_by_path": dict(self.by_path),
        }
