"""The request plumbing every dialect shares: fault knobs, counters, the order of checks.

``make_handler(state, dialect, route)`` turns one route of one dialect into an
aiohttp handler. What differs between venues (how parameters are read, how a
request is weighed and authenticated, what an error or a rate-limit answer
looks like) the dialect supplies (see ``dialects/base.py``); what is the same
everywhere is written here once:

1. count the request; decide every fault knob at arrival (latency, forced
   429/418, server error, timeout), then sleep the added latency;
2. forced 429/418 and errors/timeouts without execution answer at once;
3. read the parameters, charge the rate limit, authenticate a signed route,
   count an order against the account's order limits, run the handler;
4. an executed order may lose its answer (lost_response), or be followed by
   the server error or timeout chosen in step 1 (``execute``).

Each request runs synchronously in the event loop once its body is read, so
one request's changes are atomic with respect to every other request.
Nothing here logs a query string, a signature or an API key.
"""

import asyncio

from aiohttp import web

from .errors import BinanceError

try:
    import orjson

    def dumps(obj):
        return orjson.dumps(obj)
except ImportError:  # pragma: no cover
    import json

    def dumps(obj):
        return json.dumps(obj, separators=(",", ":")).encode()


class Ctx:
    """One request as a handler sees it."""

    __slots__ = ("request", "state", "dialect", "venue", "limiter", "params", "raw_query", "raw_body", "now", "ip",
                 "key", "account_id")

    def __init__(self, request, state, dialect, params, raw_query, raw_body, now, ip):
        self.request = request
        self.state = state
        self.dialect = dialect
        self.venue = dialect.venue
        self.limiter = state.limiters[dialect.venue]
        self.params = params
        self.raw_query = raw_query
        self.raw_body = raw_body
        self.now = now
        self.ip = ip
        self.key = None
        self.account_id = None

    def take_reject(self):
        """The "reject next order" fault as the venue's error, or None; take it only once every check passed."""
        knob = self.state.faults.take_reject()
        if knob is None:
            return None
        self.state.counters.rejected_orders += 1
        return self.dialect.reject_error(knob)


class Route:
    """One endpoint: method, path under the dialect's prefix, handler(ctx), weight (a number or a function of the
    parameters), ``signed`` ("read", "trade" or None) and whether it places an order (order limits, faults)."""

    __slots__ = ("method", "path", "handler", "weight", "signed", "is_order")

    def __init__(self, method, path, handler, weight=1, signed=None, is_order=False):
        self.method = method
        self.path = path
        self.handler = handler
        self.weight = weight
        self.signed = signed
        self.is_order = is_order

    def weigh(self, params):
        return self.weight(params) if callable(self.weight) else self.weight


def json_response(body, status=200, headers=None):
    return web.Response(body=dumps(body), status=status, content_type="application/json", headers=headers)


async def drop(request):
    """Close the connection without an answer."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    raise asyncio.CancelledError()


def make_handler(state, dialect, route: Route):
    faults = state.faults
    path = dialect.prefix + route.path
    is_order = route.is_order

    async def handler(request):
        counters = state.counters  # the ones current when the request arrived
        counters.requests += 1
        counters.by_path[path] += 1
        # every fault is decided when the request arrives, before any added latency
        delay = faults.delay()
        forced = faults.take_force()
        error_knob = faults.take("error", is_order)
        timeout_knob = faults.take("timeout", is_order)
        if delay:
            await asyncio.sleep(delay)
        if forced:
            if forced == 429:
                counters.http_429 += 1
            else:
                counters.http_418 += 1
            return dialect.error_response(dialect.forced_error(forced, state.now()))
        if error_knob and not error_knob["execute"]:
            counters.injected_errors += 1
            return dialect.server_error(error_knob["status"])
        if timeout_knob and not timeout_knob["execute"]:
            counters.injected_timeouts += 1
            await asyncio.sleep(timeout_knob["seconds"])
            await drop(request)
        raw_query = request.rel_url.raw_query_string
        raw_body = ""
        if request.can_read_body:
            raw_body = (await request.read()).decode("utf-8", "replace")
        headers = {}
        lost = False
        try:
            params = dialect.read_params(raw_query, raw_body)
            ctx = Ctx(request, state, dialect, params, raw_query, raw_body, state.now(), request.remote or "unknown")
            weight = route.weigh(params)
            charged, err = dialect.charge(ctx, route, weight)
            headers.update(charged)
            if err is not None:
                if err.status == 418:
                    counters.http_418 += 1
                else:
                    counters.http_429 += 1
                raise err
            counters.weight += weight
            if route.signed:
                dialect.authenticate(ctx, route)
            if is_order:
                charged, err = dialect.charge_order(ctx)
                headers.update(charged)
                if err is not None:
                    counters.http_429 += 1
                    raise err
            body = route.handler(ctx)
            if isinstance(body, asyncio.Future):
                body = await body
            response = dialect.respond(body, headers)
            lost = is_order and faults.take_lost_response()  # only an executed order loses its answer
        except BinanceError as exc:
            response = dialect.error_response(exc, headers)
        if lost:
            counters.lost_responses += 1
            await drop(request)
        if error_knob:
            counters.injected_errors += 1
            return dialect.server_error(error_knob["status"])
        if timeout_knob:
            counters.injected_timeouts += 1
            await asyncio.sleep(timeout_knob["seconds"])
            await drop(request)
        return response

    return handler
