"""ccxt pointed at a paper exchange: the one place that knows the URL layout.

``make_ccxt(base_url, api_key, secret, venue=...)`` returns the unmodified
ccxt class of the venue (``binance``, ``binanceus``, ``kraken``, ``bitvavo``,
``onetrading``) with its API URLs pointed at the server:

- Binance (the server's root, as before venues existed): the spot URLs
  (``api/v3``, ``api/v1``, ``sapi/v1..v4``) become ``base_url`` + path; futures
  and the other product URLs are left alone.
- Every other venue: every entry of ``urls['api']`` (nested dicts included)
  keeps its path and trades its scheme and host for ``base_url/<venue>``, so
  ``https://api.binance.us/api/v3`` becomes ``BASE/binanceus/api/v3`` and
  ``https://api.kraken.com`` becomes ``BASE/kraken``.

ccxt chooses Binance's spot error table by the URL's domain
(``https://api.binance.com/``, ``https://api.binance.us/``), which a local URL
never matches, so for Binance and Binance.US the spot entries are merged into
the instance's general table: the same codes map to the same exception classes
as against the venue itself.
"""

from urllib.parse import urlsplit

SPOT_APIS = {
    "public": "/api/v3",
    "private": "/api/v3",
    "v1": "/api/v1",
    "sapi": "/sapi/v1",
    "sapiV2": "/sapi/v2",
    "sapiV3": "/sapi/v3",
    "sapiV4": "/sapi/v4",
}

CCXT_CLASSES = {"binance": "binance", "binanceus": "binanceus", "kraken": "kraken", "bitvavo": "bitvavo",
                "onetrading": "onetrading"}
BINANCE_FAMILY = ("binance", "binanceus")


def spot_urls(base_url):
    base = base_url.rstrip("/")
    return {name: base + path for name, path in SPOT_APIS.items()}


def venue_url(base_url, venue):
    """Where a venue's dialect answers: the root for Binance, ``/<venue>`` for every other venue."""
    base = base_url.rstrip("/")
    return base if venue == "binance" else f"{base}/{venue}"


def rewrite_urls(urls, base):
    """``urls`` (a URL, or a dict of them, nested) with each scheme and host replaced by ``base``."""
    if isinstance(urls, dict):
        return {name: rewrite_urls(value, base) for name, value in urls.items()}
    if isinstance(urls, str) and "://" in urls:
        parts = urlsplit(urls)
        return base + parts.path.rstrip("/") + (f"?{parts.query}" if parts.query else "")
    return urls


def _configure(exchange, base_url, venue):
    if venue == "binance":
        exchange.urls["api"] = {**exchange.urls["api"], **spot_urls(base_url)}
    else:
        exchange.urls["api"] = rewrite_urls(exchange.urls["api"], venue_url(base_url, venue))
    if venue in BINANCE_FAMILY:
        exceptions = exchange.exceptions
        spot = exceptions.get("spot", {})
        exchange.exceptions = {
            **exceptions,
            "exact": {**exceptions.get("exact", {}), **spot.get("exact", {})},
            "broad": {**exceptions.get("broad", {}), **spot.get("broad", {})},
        }
    return exchange


def _config(venue, api_key, secret, private_key, config):
    if venue not in CCXT_CLASSES:
        raise ValueError(f"unknown venue {venue!r} (use one of {', '.join(CCXT_CLASSES)})")
    if secret is not None and private_key is not None:
        raise ValueError("give secret (HMAC) or private_key (Ed25519 PEM), not both")
    if private_key is not None and venue not in BINANCE_FAMILY:
        raise ValueError("Ed25519 private keys are for Binance and Binance.US only")
    options = {}
    if venue in BINANCE_FAMILY:
        options = {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False,
                   "defaultType": "spot"}
    options.update(config.pop("options", {}) or {})
    return {"apiKey": api_key, "secret": private_key if private_key is not None else secret,
            "options": options, **config}


def make_ccxt(base_url, api_key=None, secret=None, *, venue="binance", private_key=None, **config):
    """A synchronous ccxt instance of ``venue`` talking to the paper exchange at ``base_url``.

    ``private_key`` is an Ed25519 private key in PEM (Binance venues): ccxt
    signs with it when it is passed as the secret (it recognises the PEM
    header). A One Trading key has no secret: pass the token as ``api_key``.
    """
    import ccxt

    settings = _config(venue, api_key, secret, private_key, dict(config))
    return _configure(getattr(ccxt, CCXT_CLASSES[venue])(settings), base_url, venue)


def make_ccxt_async(base_url, api_key=None, secret=None, *, venue="binance", private_key=None, **config):
    """The same, from ``ccxt.async_support`` (remember to ``await exchange.close()``)."""
    import ccxt.async_support as ccxt_async

    settings = _config(venue, api_key, secret, private_key, dict(config))
    return _configure(getattr(ccxt_async, CCXT_CLASSES[venue])(settings), base_url, venue)
