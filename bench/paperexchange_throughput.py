"""Signed order placements per second on the paper exchange, beside a bare aiohttp "hello".

Both servers run as their own process on loopback and face the same load: the
same client processes, concurrency and request (a signed, form-encoded
``POST /api/v3/order`` MARKET order, HMAC-SHA256 like ccxt sends it). The
paper exchange executes every order for real (balances, order and trade rows
in SQLite). Printed: requests per second of each, and their ratio, measured in
one run. Target: at least 1,000 signed orders/s on a 2-core machine.

    .venv/bin/python bench/paperexchange_throughput.py [--seconds 8] [--clients 1] [--concurrency 64]
"""

import argparse
import asyncio
import hashlib
import hmac
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _harness import free_port  # bench/ is on the path when this runs as a script

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"


def wait_for(url, proc, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{url} did not answer")


def control(url, method, path, body=None):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode() if body is not None else None,
                                 method=method, headers={"X-Paper-Token": TOKEN, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())


HELLO = """
import sys
from aiohttp import web
import uvloop
uvloop.install()
async def hello(request):
    await request.read()
    return web.Response(text="hello")
app = web.Application()
app.router.add_route("*", "/{tail:.*}", hello)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
"""


def start_hello(port):
    proc = subprocess.Popen([sys.executable, "-c", HELLO, str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    wait_for(f"http://127.0.0.1:{port}/api/v3/ping", proc)
    return proc


def start_paper(port, data_dir):
    config = Path(data_dir) / "bench.json"
    config.write_text(json.dumps({"rate_limits": {"weight_per_minute": 10 ** 9, "orders_per_10s": 10 ** 9,
                                                  "orders_per_day": 10 ** 9}}))
    env = {**os.environ, "PAPEREXCHANGE_CONTROL_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "paperexchange", "serve", "--port", str(port), "--data",
                             str(data_dir), "--config", str(config)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    wait_for(f"http://127.0.0.1:{port}/api/v3/ping", proc)
    return proc


# --- the load -------------------------------------------------------------

def order_body(secret, n, symbol):
    query = (f"symbol={symbol}&side={'BUY' if n % 2 == 0 else 'SELL'}&type=MARKET&quantity=0.00010"
             f"&newClientOrderId=bench-{os.getpid()}-{n}&newOrderRespType=RESULT"
             f"&timestamp={int(time.time() * 1000)}&recvWindow=10000")
    sig = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
    return query + "&signature=" + sig


async def client_loop(url, keys, seconds, concurrency, warmup):
    import aiohttp

    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    latencies, errors = [], 0
    stats = {"done": 0}
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        measure_from = start + warmup
        stop = measure_from + seconds
        counter = 0

        async def worker(i):
            nonlocal counter, errors
            key = keys[i % len(keys)]
            headers = {"X-MBX-APIKEY": key["api_key"], "Content-Type": "application/x-www-form-urlencoded"}
            while True:
                now = time.perf_counter()
                if now >= stop:
                    return
                counter += 1
                body = order_body(key["secret"], counter, "BTCUSDT")
                t0 = time.perf_counter()
                async with session.post(url + "/api/v3/order", data=body, headers=headers) as resp:
                    await resp.read()
                    ok = resp.status == 200
                t1 = time.perf_counter()
                if t0 >= measure_from and t1 <= stop:
                    stats["done"] += 1
                    latencies.append(t1 - t0)
                    if not ok:
                        errors += 1

        await asyncio.gather(*(worker(i) for i in range(concurrency)))
    return stats["done"], errors, latencies


def client_process(url, keys, seconds, concurrency, warmup, queue):
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    queue.put(asyncio.run(client_loop(url, keys, seconds, concurrency, warmup)))


def run_load(url, keys, clients, seconds, concurrency, warmup=1.0):
    queue = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=client_process,
                                     args=(url, keys[i::clients] or keys, seconds, concurrency, warmup, queue))
             for i in range(clients)]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    done = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    latencies = sorted(x for r in results for x in r[2])
    p50 = statistics.median(latencies) * 1000 if latencies else float("nan")
    p99 = latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else float("nan")
    return done / seconds, errors, p50, p99


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--clients", type=int, default=1, help="client processes")
    parser.add_argument("--concurrency", type=int, default=64, help="requests in flight per client process")
    parser.add_argument("--accounts", type=int, default=8)
    parser.add_argument("--no-record", dest="record", action="store_false", help="do not append to bench/RESULTS.md")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        hello_port, paper_port = free_port(), free_port()
        hello = start_hello(hello_port)
        paper = start_paper(paper_port, tmp)
        paper_url = f"http://127.0.0.1:{paper_port}"
        try:
            keys = []
            for _ in range(args.accounts):
                account = control(paper_url, "POST", "/_paper/accounts",
                                  {"balances": {"USDT": "100000000", "BTC": "1000"}})["account"]
                keys.append(control(paper_url, "POST", "/_paper/keys", {"account": account}))
            hello_rps, hello_err, hello_p50, hello_p99 = run_load(
                f"http://127.0.0.1:{hello_port}", keys, args.clients, args.seconds, args.concurrency)
            paper_rps, paper_err, paper_p50, paper_p99 = run_load(
                paper_url, keys, args.clients, args.seconds, args.concurrency)
            counters = control(paper_url, "GET", "/_paper/counters")
        finally:
            for proc in (hello, paper):
                proc.terminate()
                proc.wait(timeout=10)

    lines = [
        f"machine: {os.cpu_count()} CPUs, python {sys.version.split()[0]}; {args.clients} client process(es) x "
        f"{args.concurrency} in flight, {args.seconds:.0f} s each",
        f"bare aiohttp hello:            {hello_rps:8.0f} req/s     p50 {hello_p50:6.2f} ms  p99 {hello_p99:6.2f} ms"
        f"  errors {hello_err}",
        f"paper exchange signed orders:  {paper_rps:8.0f} orders/s  p50 {paper_p50:6.2f} ms  p99 {paper_p99:6.2f} ms"
        f"  errors {paper_err}",
        f"ratio orders/hello:            {paper_rps / hello_rps:8.2f}",
        f"orders executed by the exchange (all phases): {counters['orders']}, 429s {counters['http_429']}, "
        f"418s {counters['http_418']}",
        f"target >= 1000 signed orders/s: {'met' if paper_rps >= 1000 else 'NOT met'}",
    ]
    print("\n".join(lines))
    if args.record:
        record(lines)


def record(lines):
    """Append this run to bench/RESULTS.md, leaving every other section as it is."""
    path = ROOT / "bench" / "RESULTS.md"
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    text = "" if path.exists() else "# Benchmark results\n"
    text += f"\n## paperexchange_throughput, {stamp}\n\n```\n" + "\n".join(lines) + "\n```\n"
    with open(path, "a") as fh:
        fh.write(text)


if __name__ == "__main__":
    main()
