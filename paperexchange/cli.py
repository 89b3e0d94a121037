"""``python -m paperexchange``: serve, accounts, keys, faults.

Every command answers bad input with one line on stderr and exit status 2
(1 when the server cannot be reached).
"""

import argparse
import json
import os
import sys
import urllib.error
import urllib.request

from . import config as config_mod
from . import store
from .errors import ControlError
from .fees import BNB_FEE_VENUES

DEFAULT_URL = "http://127.0.0.1:8100"


class Parser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _data_dir(args):
    return config_mod.data_dir(getattr(args, "data", None))


def _known_symbols():
    return {s["symbol"] for s in config_mod.load()["symbols"]}


def _print(args, payload, plain):
    if getattr(args, "json", False):
        print(json.dumps(payload))
    else:
        print(plain)


# commands -----------------------------------------------------------------

def cmd_serve(args):
    from .server import serve

    if not 0 < args.port < 65536:
        raise ControlError("--port must be between 1 and 65535")
    try:
        serve(args.host, args.port, _data_dir(args), seed=args.seed, config_path=args.config)
    except OSError as exc:
        raise ControlError(f"cannot serve on {args.host}:{args.port} with data in {_data_dir(args)}: "
                           f"{exc.strerror or exc}") from None


def cmd_account_create(args):
    venue = config_mod.venue_name(args.venue)
    conn = store.connect(_data_dir(args))
    account_id = store.account_create(conn, args.balance or [], venue=venue, bnb_fees=args.bnb_fees)
    _print(args, {"account": account_id, "venue": venue, "bnb_fees": args.bnb_fees}, account_id)


def cmd_account_update(args):
    conn = store.connect(_data_dir(args))
    if args.bnb_fees is None:
        raise ControlError("nothing to change: give --bnb-fees or --no-bnb-fees")
    on = store.account_set_bnb_fees(conn, args.account, args.bnb_fees)
    _print(args, {"account": int(args.account), "bnb_fees": on}, f"bnb_fees={'on' if on else 'off'}")


def cmd_account_show(args):
    conn = store.connect(_data_dir(args))
    try:
        account_id = int(args.account)
    except ValueError:
        raise ControlError("account id must be a number") from None
    if not store.account_exists(conn, account_id):
        raise ControlError(f"no account {account_id}")
    balances = {a: {"free": str(f), "locked": str(lk)} for a, (f, lk) in store.balances_of(conn, account_id).items()}
    payload = {"account": account_id, "venue": store.account_venue(conn, account_id),
               "bnb_fees": store.account_bnb_fees(conn, account_id), "balances": balances,
               "keys": store.keys_of_account(conn, account_id)}
    if args.json:
        print(json.dumps(payload))
    else:
        print(f"venue\t{payload['venue']}")
        if payload["venue"] in BNB_FEE_VENUES:
            print(f"bnb_fees\t{'on' if payload['bnb_fees'] else 'off'}")
        for asset, b in sorted(balances.items()):
            print(f"{asset}\tfree={b['free']}\tlocked={b['locked']}")
        for key in payload["keys"]:
            print(f"key {key['api_key'][:8]}... {key['type']} trade={key['enableSpotAndMarginTrading']} "
                  f"withdraw={key['enableWithdrawals']} ips={','.join(key['ips']) or '-'}")


def cmd_key_create(args):
    conn = store.connect(_data_dir(args))
    result = store.key_create(conn, args.account, ed25519=args.ed25519, can_withdraw=args.can_withdraw,
                              trade=not args.no_trade, ips=args.ip, symbols=args.symbols,
                              known_symbols=_known_symbols())
    if args.json:
        print(json.dumps(result))
    else:
        print(f"api_key: {result['api_key']}")
        if "secret" in result:
            print(f"secret: {result['secret']}")
        elif "private_key" in result:
            print("private_key:")
            print(result["private_key"], end="")


def cmd_key_update(args):
    conn = store.connect(_data_dir(args))
    result = store.key_update(
        conn, args.key, can_withdraw=args.can_withdraw, trade=args.trade, ips=args.ip, clear_ips=args.no_ip,
        symbols=args.symbols, clear_symbols=args.all_symbols, known_symbols=_known_symbols())
    _print(args, result, " ".join(f"{k}={v}" for k, v in result.items() if k != "api_key"))


def cmd_key_delete(args):
    conn = store.connect(_data_dir(args))
    store.key_delete(conn, args.key)
    _print(args, {"deleted": args.key}, "deleted")


# faults (the control endpoint) ---------------------------------------------

def _token(args):
    if args.token:
        return args.token
    env = config_mod.control_token_from_env()
    if env:
        return env
    path = _data_dir(args) / "control_token"
    if path.exists():
        return path.read_text().strip()
    raise ControlError("no control token: pass --token, set PAPEREXCHANGE_CONTROL_TOKEN, or use --data of the server")


def control(url, token, method, path, body=None, timeout=10):
    """Call the control endpoint; returns the decoded JSON answer."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url.rstrip("/") + path, data=data, method=method,
                                 headers={"X-Paper-Token": token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("error")
        except ValueError:
            message = None
        raise ControlError(message or f"control endpoint answered HTTP {exc.code}") from None


def _trigger(args):
    if args.count is None and args.rate is None:
        raise ControlError("give --count N (the next N) or --rate R (0..1)")
    out = {}
    if args.count is not None:
        out["count"] = args.count
    if args.rate is not None:
        out["rate"] = args.rate
    return out


def _fault_request(args):
    """(method, path, body) for a ``fault`` subcommand."""
    what = args.fault
    if what == "show":
        return "GET", "/_paper/faults", None
    if what == "clear":
        return "DELETE", "/_paper/faults", None
    if what == "reset":
        return "POST", "/_paper/reset", None
    if what == "counters":
        return "GET", "/_paper/counters", None
    if what == "lost-response":
        return "POST", "/_paper/faults", {"lost_response": _trigger(args)}
    if what in ("error", "timeout"):
        spec = {**_trigger(args), "scope": args.scope, "execute": args.execute}
        if what == "error":
            spec["status"] = args.status
        else:
            spec["seconds"] = args.seconds
        return "POST", "/_paper/faults", {what: spec}
    if what == "latency":
        return "POST", "/_paper/faults", {"latency": {"ms": args.ms, "jitter_ms": args.jitter_ms}}
    if what == "clock-skew":
        return "POST", "/_paper/faults", {"clock_skew": {"ms": args.ms}}
    if what == "force":
        return "POST", "/_paper/faults", {"force": {"status": args.status, "count": args.count}}
    if what == "reject-order":
        spec = {"count": args.count, "code": args.code}
        if args.msg:
            spec["msg"] = args.msg
        return "POST", "/_paper/faults", {"reject_order": spec}
    if what == "foreign-trade":
        body = {"account": args.account, "symbol": args.symbol, "side": args.side, "quantity": args.quantity}
        if args.price:
            body["price"] = args.price
        return "POST", "/_paper/foreign-trade", body
    if what == "key-withdraw":
        return "PATCH", f"/_paper/keys/{args.key}", {"can_withdraw": not args.off}
    if what == "move-price":
        if (args.factor is None) == (args.price is None):
            raise ControlError("give exactly one of --factor or --price")
        body = {"symbol": args.symbol}
        body.update({"factor": args.factor} if args.factor is not None else {"price": args.price})
        return "POST", "/_paper/move-price", body
    if what == "add-volume":
        return "POST", "/_paper/add-volume", {"symbol": args.symbol, "quantity": args.quantity}
    if what == "limits":
        body = {k: v for k, v in (("weight_per_minute", args.weight_per_minute), ("orders_per_10s", args.orders_per_10s),
                                  ("orders_per_day", args.orders_per_day), ("ban_seconds", args.ban_seconds),
                                  ("ban_after_429s", args.ban_after_429s)) if v is not None}
        return ("POST", "/_paper/limits", body) if body else ("GET", "/_paper/limits", None)
    raise ControlError(f"unknown fault command {what!r}")


def cmd_fault(args):
    method, path, body = _fault_request(args)
    url = args.url or os.environ.get("PAPEREXCHANGE_URL") or DEFAULT_URL
    try:
        result = control(url, _token(args), method, path, body)
    except urllib.error.URLError as exc:
        print(f"paperexchange: cannot reach {url}: {exc.reason}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=None if args.json else 2))
    return 0


# parser -------------------------------------------------------------------

def build_parser():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data", default=argparse.SUPPRESS,
                        help="state directory (default $PAPEREXCHANGE_DATA or var/paperexchange)")
    common.add_argument("--json", action="store_true", help="machine-readable output")

    parser = Parser(prog="python -m paperexchange",
                    description="A local paper exchange speaking Binance's, Binance.US's (and later other venues') APIs.")
    parser.add_argument("--data", help="state directory (default $PAPEREXCHANGE_DATA or var/paperexchange)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    p = sub.add_parser("serve", parents=[common], help="run the HTTP server")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=config_mod.DEFAULT_PORT)
    p.add_argument("--seed", type=int, default=None, help="price path seed (default: the stored one, else 42)")
    p.add_argument("--config", help="JSON or TOML config file (symbols, fees, rate limits)")
    p.set_defaults(func=cmd_serve)

    account = sub.add_parser("account", help="paper accounts").add_subparsers(dest="action", required=True,
                                                                             parser_class=Parser)
    p = account.add_parser("create", parents=[common], help="create an account; prints its id")
    p.add_argument("--balance", action="append", metavar="ASSET=AMOUNT", help="starting balance, repeatable")
    p.add_argument("--venue", default=config_mod.DEFAULT_VENUE,
                   help=f"the venue the account belongs to: {', '.join(config_mod.VENUES)} (default binance)")
    p.add_argument("--bnb-fees", action="store_true",
                   help=f"pay fees in BNB when the account holds enough ({', '.join(BNB_FEE_VENUES)} only)")
    p.set_defaults(func=cmd_account_create)
    p = account.add_parser("update", parents=[common], help="change an account's settings")
    p.add_argument("account")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--bnb-fees", dest="bnb_fees", action="store_true", default=None, help="pay fees in BNB")
    g.add_argument("--no-bnb-fees", dest="bnb_fees", action="store_false", help="pay fees as usual")
    p.set_defaults(func=cmd_account_update)
    p = account.add_parser("show", parents=[common], help="balances and keys of an account")
    p.add_argument("account")
    p.set_defaults(func=cmd_account_show)

    key = sub.add_parser("key", help="API keys").add_subparsers(dest="action", required=True, parser_class=Parser)
    p = key.add_parser("create", parents=[common], help="create a key of the account's venue; prints the key and "
                                                         "its secret once (One Trading: the token alone)")
    p.add_argument("--account", required=True)
    p.add_argument("--ed25519", action="store_true",
                   help="an Ed25519 key, Binance venues only (prints the private key in PEM)")
    p.add_argument("--can-withdraw", action="store_true")
    p.add_argument("--no-trade", action="store_true", help="read-only key")
    p.add_argument("--ip", action="append", help="allowed source IP, repeatable or comma-separated")
    p.add_argument("--symbols", help="symbol whitelist, e.g. BTCUSDT,ETHUSDT")
    p.set_defaults(func=cmd_key_create)
    p = key.add_parser("update", parents=[common], help="change a key's permissions, IPs or symbols")
    p.add_argument("--key", required=True, help="the API key")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--can-withdraw", dest="can_withdraw", action="store_true", default=None)
    g.add_argument("--no-withdraw", dest="can_withdraw", action="store_false")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--trade", dest="trade", action="store_true", default=None)
    g.add_argument("--no-trade", dest="trade", action="store_false")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--ip", action="append", help="replace the allowed IPs")
    g.add_argument("--no-ip", action="store_true", help="remove the IP restriction")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--symbols", help="replace the symbol whitelist")
    g.add_argument("--all-symbols", action="store_true", help="remove the symbol whitelist")
    p.set_defaults(func=cmd_key_update)
    p = key.add_parser("delete", parents=[common], help="delete a key")
    p.add_argument("--key", required=True)
    p.set_defaults(func=cmd_key_delete)

    fault_common = argparse.ArgumentParser(add_help=False, parents=[common])
    fault_common.add_argument("--url", help=f"server URL (default $PAPEREXCHANGE_URL or {DEFAULT_URL})")
    fault_common.add_argument("--token", help="control token (default $PAPEREXCHANGE_CONTROL_TOKEN or DATA/control_token)")
    fault = sub.add_parser("fault", help="fault knobs and counters of a running server").add_subparsers(
        dest="fault", required=True, parser_class=Parser)

    def add(name, help_):
        p = fault.add_parser(name, parents=[fault_common], help=help_)
        p.set_defaults(func=cmd_fault)
        return p

    add("show", "current fault knobs")
    add("clear", "clear every fault knob")
    add("reset", "clear faults, rate-limit state, counters, price moves")
    add("counters", "requests, weight, 429s, 418s, orders by client order id")
    for name, help_ in (("lost-response", "execute orders, then drop the connection before answering"),
                        ("error", "answer a server error"), ("timeout", "hold the request, then drop it")):
        p = add(name, help_)
        p.add_argument("--count", type=int)
        p.add_argument("--rate", type=float)
        if name == "error":
            p.add_argument("--status", type=int, default=503, choices=(500, 502, 503, 504))
        if name == "timeout":
            p.add_argument("--seconds", type=float, default=30.0)
        if name != "lost-response":
            p.add_argument("--scope", default="all", choices=("all", "orders"))
            p.add_argument("--execute", action="store_true", help="execute the request first")
    p = add("latency", "added latency on every request")
    p.add_argument("--ms", type=float, required=True)
    p.add_argument("--jitter-ms", type=float, default=0.0)
    p = add("clock-skew", "move the server clock")
    p.add_argument("--ms", type=int, required=True)
    p = add("force", "answer the next requests with 429 or 418")
    p.add_argument("--status", type=int, choices=(429, 418), required=True)
    p.add_argument("--count", type=int, default=1)
    p = add("reject-order", "refuse the next orders")
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--code", type=int, default=-2010)
    p.add_argument("--msg")
    p = add("foreign-trade", "a trade on an account that no client placed")
    p.add_argument("--account", required=True)
    p.add_argument("--symbol", required=True)
    p.add_argument("--side", default="BUY", choices=("BUY", "SELL"))
    p.add_argument("--quantity", required=True)
    p.add_argument("--price", help="fill price (default: the market's)")
    p = add("key-withdraw", "switch a key's withdraw permission on")
    p.add_argument("--key", required=True)
    p.add_argument("--off", action="store_true", help="switch it off instead")
    p = add("move-price", "move a symbol's price at once")
    p.add_argument("--symbol", required=True)
    p.add_argument("--factor", type=float)
    p.add_argument("--price")
    p = add("add-volume", "add market volume to a symbol now")
    p.add_argument("--symbol", required=True)
    p.add_argument("--quantity", required=True)
    p = add("limits", "show or change the rate limits")
    p.add_argument("--weight-per-minute", type=int)
    p.add_argument("--orders-per-10s", type=int)
    p.add_argument("--orders-per-day", type=int)
    p.add_argument("--ban-seconds", type=float)
    p.add_argument("--ban-after-429s", type=int)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args) or 0
    except ControlError as exc:
        print(f"paperexchange: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
