"""ccxt pointed at a paper exchange: the one place that knows the URL layout.

``make_ccxt(base_url, api_key, secret)`` returns the unmodified ccxt ``binance``
class with every Binance Spot URL (``api/v3``, ``api/v1``, ``sapi/v1..v4``)
rewritten to ``base_url``. ccxt chooses its spot error table by the URL's
domain (``https://api.binance.com/``), which a local URL never matches, so the
spot entries are merged into the instance's general table: the same codes map
to the same exception classes as against Binance itself.
"""

SPOT_APIS = {
    "public": "/api/v3",
    "private": "/api/v3",
    "v1": "/api/v1",
    "sapi": "/sapi/v1",
    "sapiV2": "/sapi/v2",
    "sapiV3": "/sapi/v3",
    "sapiV4": "/sapi/v4",
}


def spot_urls(base_url):
    base = base_url.rstrip("/")
    return {name: base + path for name, path in SPOT_APIS.items()}


def _configure(exchange, base_url):
    exchange.urls["api"] = {**exchange.urls["api"], **spot_urls(base_url)}
    exceptions = exchange.exceptions
    spot = exceptions.get("spot", {})
    exchange.exceptions = {
        **exceptions,
        "exact": {**exceptions.get("exact", {}), **spot.get("exact", {})},
        "broad": {**exceptions.get("broad", {}), **spot.get("broad", {})},
    }
    return exchange


def _config(api_key, secret, private_key, config):
    if secret is not None and private_key is not None:
        raise ValueError("give secret (HMAC) or private_key (Ed25519 PEM), not both")
    options = {"fetchMarkets": {"types": ["spot"]}, "fetchCurrencies": False, "fetchMargins": False,
               "defaultType": "spot"}
    options.update(config.pop("options", {}) or {})
    return {"apiKey": api_key, "secret": private_key if private_key is not None else secret,
            "options": options, **config}


def make_ccxt(base_url, api_key, secret=None, private_key=None, **config):
    """A synchronous ``ccxt.binance`` talking to the paper exchange at ``base_url``.

    ``private_key`` is an Ed25519 private key in PEM: ccxt signs with it when
    it is passed as the secret (it recognises the PEM header).
    """
    import ccxt

    return _configure(ccxt.binance(_config(api_key, secret, private_key, dict(config))), base_url)


def make_ccxt_async(base_url, api_key, secret=None, private_key=None, **config):
    """The same, as ``ccxt.async_support.binance`` (remember to ``await exchange.close()``)."""
    import ccxt.async_support as ccxt_async

    return _configure(ccxt_async.binance(_config(api_key, secret, private_key, dict(config))), base_url)
