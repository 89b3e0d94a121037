"""What a dialect is: one venue's REST API over the shared engine.

A dialect module defines one ``Dialect`` instance, ``DIALECT``, registered in
``dialects/__init__.py``. The plumbing (``plumbing.make_handler``) calls its
methods in this order for every request: ``read_params``, ``charge``,
``authenticate`` (signed routes), ``charge_order`` (order routes), the route's
handler, then ``respond`` or ``error_response``. The fault knobs call
``forced_error``, ``server_error`` and ``reject_error``.
"""

from urllib.parse import parse_qsl

from ..plumbing import json_response


class Dialect:
    venue = None  # the venue name, a key of config.VENUES
    prefix = None  # URL prefix: "" for Binance, "/<venue>" for every other venue
    routes = ()  # plumbing.Route objects, paths below the prefix

    def rate_limits(self, configured):
        """The limits of this venue's RateLimiter, given the config's ``rate_limits`` (Binance's)."""
        raise NotImplementedError

    def read_params(self, raw_query, raw_body):
        """The request's parameters as a dict of strings (default: query string, then a form body)."""
        params = dict(parse_qsl(raw_query, keep_blank_values=True))
        if raw_body:
            params.update(parse_qsl(raw_body, keep_blank_values=True))
        return params

    def charge(self, ctx, route, weight):
        """Count the request against the venue's limits: (response headers, error or None)."""
        raise NotImplementedError

    def authenticate(self, ctx, route):
        """Check key, signature, nonce and permission (``route.signed`` is "read" or "trade"); set ``ctx.key``
        and ``ctx.account_id``. A key of another venue must be refused like an unknown key
        (``store.key_get(conn, api_key, venue=self.venue)`` does that)."""
        raise NotImplementedError

    def charge_order(self, ctx):
        """Count one new order of ``ctx.account_id``: (response headers, error or None)."""
        return {}, None

    def respond(self, body, headers):
        return json_response(body, headers=headers)

    def error_response(self, exc, headers=None):
        """The venue's answer to an error: an engine error (map ``exc.kind``) or one of the dialect's own."""
        raise NotImplementedError

    def not_found(self, request):
        """The answer to a path under the prefix that no route serves, or None for aiohttp's plain 404."""
        return None

    def forced_error(self, status, now):
        """The error the ``force`` knob answers with (429 or 418), in the venue's shape."""
        raise NotImplementedError

    def server_error(self, status):
        """The ``error`` knob's answer for a 500, 502, 503 or 504, as the venue's front end sends it."""
        raise NotImplementedError

    def reject_error(self, knob):
        """The ``reject_order`` knob (``{"code", "msg"}``) as an error this dialect renders."""
        raise NotImplementedError
