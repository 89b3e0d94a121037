"""Real `manage.py qcluster` processes, a world of bots on paper accounts, and the checks every fault test ends with.

- :class:`Clusters`: starts ``manage.py qcluster`` in its own process group
  (so SIGKILL takes the whole cluster down, as a machine crash would), waits
  for its heartbeat, kills and restarts it; ``clock_shift`` runs a cluster on a
  wrong wall clock (tests/faults/clockshift).
- :func:`world_build`: paper accounts with linked keys and bots on one strategy.
- :func:`wait_until`: poll the database (or the exchange) until a condition
  holds, with a deadline; the failure message says what was still missing.
- :func:`assert_converged`: orders at the exchange == orders in our database ==
  one per (bot, signal) that passed the guard; balances and positions equal
  the exchange's; the expected alerts raised once. Its parts
  (:func:`assert_orders_at_exchange`, :func:`assert_positions_from_trades`,
  :func:`assert_alerts`) serve the tests whose bots do not all trade.
- :func:`positions_true_within`: balances and positions equal the exchange's
  soon after the last order, with no reconciliation queued by the test.
- Faults outside the workers: :func:`redis_flush_deployment`,
  :func:`database_connections_kill`, :func:`exchange_kill_and_restart`.
"""

import importlib
import os
import signal as signals
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
# Deadlines for convergence. Generous: they bound a failure, not the normal run.
STARTUP_SECONDS = 60
CONVERGE_SECONDS = 180
# Balances and positions equal the exchange's this long after the last order outcome is recorded (issue 13).
POSITIONS_TRUE_SECONDS = 30
# Put first on a cluster's PYTHONPATH, its sitecustomize shifts the cluster's wall clock.
CLOCKSHIFT_DIR = Path(__file__).resolve().parent / "clockshift"


def cluster_services_missing():
    """Why the fault suite cannot run here, or "" when PostgreSQL and Redis are configured."""
    engine = settings.DATABASES["default"]["ENGINE"]
    if "postgresql" not in engine:
        return ("fault tests run real qcluster processes on PostgreSQL + Redis; set "
                "DATABASE_URL=postgres://... and REDIS_URL=redis://...")
    if not settings.REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
        return "fault tests need the Redis broker and shared rate limiter; set REDIS_URL=redis://..."
    return ""


# --- waiting ------------------------------------------------------------------------------------------


def wait_until(condition, *, timeout=CONVERGE_SECONDS, interval=0.5, every=None, what="condition"):
    """Call ``condition()`` until it returns a truthy value (returned), or fail at the deadline.

    ``condition`` may return ``(False, detail)`` to explain what is missing.
    ``every`` is an optional ``(seconds, callable)`` run periodically while waiting.
    """
    deadline = time.monotonic() + timeout
    last_every = time.monotonic()
    detail = None
    while True:
        result = condition()
        if isinstance(result, tuple):
            ok, detail = result
        else:
            ok, detail = result, None
        if ok:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached within {timeout}s: {detail}")
        if every and time.monotonic() - last_every >= every[0]:
            every[1]()
            last_every = time.monotonic()
        time.sleep(interval)


# --- clusters ------------------------------------------------------------------------------------------


def clock_shift_env(env, seconds):
    """``env`` for a process whose wall clock is ``seconds`` off (time.time, time.time_ns, timezone.now)."""
    path = os.pathsep.join(filter(None, [str(CLOCKSHIFT_DIR), env.get("PYTHONPATH")]))
    return {**env, "PYTHONPATH": path, "FAULT_CLOCK_SHIFT_SECONDS": str(seconds)}


# The main queue's workers of a "machine" (reconciliations, recovery, alerts, schedules); its orders cluster
# has the workers the test asks for.
MAIN_WORKERS = 2


@dataclass
class Cluster:
    """One machine's qclusters, as `make run` starts them: the main queue's and the orders queue's.

    ``proc`` is the orders cluster (the one a fault in order execution hits); ``procs`` has both.
    """

    label: str
    env: dict
    log_path: Path
    procs: dict = field(default_factory=dict)
    starts: int = 0

    @property
    def proc(self):
        return self.procs.get("orders")

    def envs(self):
        return {"main": {**self.env, "Q_QUEUE": "", "Q_WORKERS": str(MAIN_WORKERS)},
                "orders": {**self.env, "Q_QUEUE": "orders", "Q_ORDER_WORKERS": self.env["Q_WORKERS"]}}

    @property
    def running(self):
        return bool(self.procs) and all(proc.poll() is None for proc in self.procs.values())


@dataclass
class Clusters:
    """The qcluster processes of one test."""

    env: dict
    log_dir: Path
    members: list = field(default_factory=list)

    def start(self, label="a", workers=4, clock_shift=None, **env):
        """Start a machine's clusters (main and orders, ``workers`` order workers); ``clock_shift`` (seconds,
        + ahead, - behind) runs all their processes on a wrong clock."""
        env = {**self.env, "Q_WORKERS": str(workers), **env}
        if clock_shift:
            env = clock_shift_env(env, clock_shift)
        cluster = Cluster(label=label, env=env, log_path=self.log_dir / f"qcluster-{label}.log")
        self.members.append(cluster)
        self._spawn(cluster)
        return cluster

    def _spawn(self, cluster):
        cluster.starts += 1
        log = open(cluster.log_path, "ab")
        log.write(f"\n==== start {cluster.starts} ====\n".encode())
        log.flush()
        for role, env in cluster.envs().items():
            cluster.procs[role] = subprocess.Popen(
                [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env,
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )
        log.close()

    def wait_ready(self, timeout=STARTUP_SECONDS):
        """Until every running cluster reports a heartbeat with all its workers."""
        from django_q.brokers import get_broker
        from django_q.status import Stat

        def ready():
            for cluster in self.members:
                for role, proc in cluster.procs.items():
                    if proc.poll() is not None:
                        raise AssertionError(f"qcluster {cluster.label} ({role}) exited with {proc.returncode}:\n"
                                             f"{self.log_tail(cluster)}")
            alive = {stat.pid: stat for stat in Stat.get_all(broker=get_broker())}
            missing = []
            for cluster in self.members:
                for role, env in cluster.envs().items():
                    stat = alive.get(cluster.procs[role].pid)
                    workers = int(env["Q_ORDER_WORKERS" if role == "orders" else "Q_WORKERS"])
                    if stat is None or len(stat.workers) < workers or stat.status not in ("Idle", "Working"):
                        missing.append(f"{cluster.label} ({role})")
            return not missing, f"clusters without a heartbeat: {missing}"

        wait_until(ready, timeout=timeout, interval=0.2, what="qcluster heartbeats")

    def kill(self, cluster, sig=signals.SIGKILL):
        """Kill a machine's clusters (sentinels, pushers, monitors and workers) at once."""
        for proc in cluster.procs.values():
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=30)

    def kill_worker(self, cluster, rng):
        """SIGKILL one worker process of a machine's orders cluster (its guard starts a new one). Returns the pid
        or None."""
        from django_q.brokers import get_broker
        from django_q.status import Stat

        for stat in Stat.get_all(broker=get_broker()):
            if stat.pid == cluster.proc.pid and stat.workers:
                pid = rng.choice(stat.workers)
                try:
                    os.kill(pid, signals.SIGKILL)
                except ProcessLookupError:
                    return None
                return pid
        return None

    @staticmethod
    def pause(seconds):
        """Let the workers run a while (timing of a fault, never an assertion)."""
        time.sleep(seconds)

    def restart(self, cluster):
        self.kill(cluster)
        self._spawn(cluster)

    def stop_all(self, timeout=15):
        """Ask every cluster to stop (SIGTERM to its main process), then kill what is left of its group."""
        procs = [proc for cluster in self.members for proc in cluster.procs.values()]
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(proc.pid, signals.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait(timeout=30)

    def log_tail(self, cluster, chars=4000):
        try:
            return cluster.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def logs(self, chars=3000):
        return "\n".join(f"--- qcluster {c.label} ---\n{self.log_tail(c, chars)}" for c in self.members)


# --- the world: accounts, keys, bots, a signal ------------------------------------------------------


@dataclass
class Account:
    id: int
    key: object  # keys.models.ExchangeKey


@dataclass
class World:
    paper: object
    strategy: object
    accounts: list
    bots: list
    venue: object = None  # tests.venues.conftest.Venue, or None for the paper exchange
    # Alerts and key events of the set-up (linking the keys), before any fault.
    alerts_before: set = field(default_factory=set)
    key_events_before: set = field(default_factory=set)
    # Orders each earlier life of the exchange accepted, per client order id (its counters die with it).
    accepted_before: list = field(default_factory=list)

    def bot_ids(self):
        return [bot.pk for bot in self.bots]

    def order_id(self, engine_id):
        """How the venue shows the paper exchange's order number."""
        return self.venue.order_id(engine_id) if self.venue else str(engine_id)


def world_build(*, paper, owners, bots, accounts, markets=None, usdt="10000", venue=None):
    """``accounts`` paper accounts (the quote asset only) linked as keys, ``bots`` bots spread over them.

    ``venue`` (a :class:`tests.venues.conftest.Venue`) puts the accounts on that venue's dialect and
    links them as keys of that exchange; by default, the paper exchange (Binance's dialect).
    """
    from django_q.models import Schedule

    from exchanges import Credentials
    from keys.services import key_link
    from strategies.services import strategy_create
    from tests.portfolios.conftest import make_bot

    exchange, dialect, quote = (venue.name, venue.dialect, venue.quote) if venue else ("paper", "binance", "USDT")
    markets = markets or (f"BTC/{quote}",)
    strategy = strategy_create(name="Trend under faults", kind="trend", exchange=exchange,
                               markets=[f"BTC/{quote}", f"ETH/{quote}", f"SOL/{quote}"])
    # The strategy's own 4-hourly run would write a newer signal (superseding the test's) if a candle
    # closed during the test: the test issues its signals itself.
    Schedule.objects.filter(func__startswith="strategies.").delete()
    linked = []
    for n in range(accounts):
        account_id = paper.create_account(venue=dialect, **{quote: usdt})
        secret = paper.create_key(account_id)
        owner = owners[n % len(owners)]
        key = key_link(owner=owner, exchange=exchange, label=f"Paper {n}", confirmed_no_withdrawals=True,
                       credentials=Credentials(api_key=secret["api_key"], secret=secret.get("secret") or ""))
        linked.append(Account(id=account_id, key=key))
    made = []
    for n in range(bots):
        account = linked[n % len(linked)]
        made.append(make_bot(account.key.owner, account.key, strategy, markets=markets, allocation="500",
                             cap="400", quote=quote, name=f"Bot {n}"))
    from alerts.models import Alert
    from keys.models import KeyEvent

    return World(paper=paper, strategy=strategy, accounts=linked, bots=made, venue=venue,
                 alerts_before=set(Alert.objects.values_list("pk", flat=True)),
                 key_events_before=set(KeyEvent.objects.values_list("pk", flat=True)))


def schedules_restore():
    """Only the portfolio schedules, as migration 0004 creates them.

    A flush between tests removes the rows data migrations wrote; other schedules (the daily key
    re-probe, strategy runs) would fire at the clusters' first scheduler pass and muddle the counts.
    """
    from django_q.models import Schedule

    Schedule.objects.all().delete()

    migration = importlib.import_module("portfolios.migrations.0004_schedules")
    for name, (func, minutes) in migration.SCHEDULES.items():
        Schedule.objects.update_or_create(
            name=name, defaults={"func": func, "schedule_type": "I", "minutes": minutes, "repeats": -1})


def recovery_nudge():
    """Queue the recovery pass the 1-minute schedule would queue (the test cannot wait for minutes)."""
    from django_q.tasks import async_task

    async_task("portfolios.tasks.orders_recover_task", group="recovery")


# --- faults outside the workers ----------------------------------------------------------------------


def redis_flush_deployment():
    """What FLUSHDB does to this deployment: its task queue, cluster heartbeats, cache and rate-limit counts gone.

    Only this test's keys (the queue and cache prefix are per pytest process, see tests/testenv.py): tests
    running in parallel on the same Redis keep theirs. Returns how many queued tasks were lost.
    """
    from django.core.cache import cache
    from django_q.brokers import get_broker
    from django_q.conf import Conf

    client = cache._cache.get_client(write=True)
    queues = [get_broker(name).list_key for name in (settings.TASKS_QUEUE, settings.ORDERS_QUEUE,
                                                     settings.BACKTEST_QUEUE)]
    keys = {*queues, *(key for pattern in (f"django_q:{Conf.PREFIX}:*", f"{settings.CACHE_KEY_PREFIX}:*")
                       for key in client.scan_iter(match=pattern))}
    with client.pipeline(transaction=True) as pipe:
        for queue in queues:
            pipe.llen(queue)
        pipe.delete(*keys)
        *lost, _deleted = pipe.execute()
    return sum(lost)


def database_connections_kill():
    """Terminate every other connection to this test's database (a failover or a restarted PgBouncer would).

    Returns how many were terminated.
    """
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        return cursor.fetchone()[0]


def exchange_kill_and_restart(world, *, down_seconds, faults=None):
    """SIGKILL the exchange (a crash), leave it down a while, start it again on its port and data.

    Its orders, trades and balances persist; its fault knobs and counters do not: what it had
    counted is kept on the world for the final check, and ``faults`` are set again.
    """
    world.accepted_before.append(world.paper.counters()["orders_by_client_order_id"])
    world.paper.kill()
    time.sleep(down_seconds)
    world.paper.restart()
    if faults:
        world.paper.fault(**faults)


# --- waiting for the outcome -------------------------------------------------------------------------


def exchange_orders(world):
    """The orders the exchange holds for the world's accounts, by client order id (more than one: a duplicate)."""
    orders = {}
    for account in world.accounts:
        for order in world.paper.account(account.id)["orders"]:
            orders.setdefault(order["clientOrderId"], []).append({**order, "account": account.id})
    return orders


def orders_settled(world, signal_ids):
    """Every (bot, signal) pair decided, every order resolved (no pending/sent/open)."""
    from portfolios.models import Order, SignalDecision

    pairs = len(world.bots) * len(signal_ids)
    decided = SignalDecision.objects.filter(bot__in=world.bots, signal_id__in=signal_ids).count()
    unresolved = Order.objects.filter(bot__in=world.bots, signal_id__in=signal_ids).exclude(
        state__in=[Order.State.FILLED, Order.State.CANCELED, Order.State.REJECTED, Order.State.FAILED]).count()
    return decided == pairs and unresolved == 0, f"{decided}/{pairs} decided, {unresolved} orders unresolved"


def wait_settled(world, signal_ids, *, clusters, timeout=CONVERGE_SECONDS, nudge_every=5.0):
    """Until every pair is decided and every order resolved, nudging the recovery pass. Returns when (monotonic)."""
    try:
        wait_until(lambda: orders_settled(world, signal_ids), timeout=timeout,
                   every=(nudge_every, recovery_nudge), what="every (bot, signal) decided and its order resolved")
    except AssertionError as error:
        raise AssertionError(f"{error}\n{clusters.logs()}") from None
    return time.monotonic()


def reconciled(world):
    """Balances and positions as the exchange has them (after the reconciliations the orders queued)."""
    from portfolios.models import Balance, Position

    quotes = {bot.quote_asset for bot in world.bots}
    problems = []
    for account in world.accounts:
        snapshot = world.paper.account(account.id)
        theirs = {asset: Decimal(b["free"]) + Decimal(b["locked"]) for asset, b in snapshot["balances"].items()}
        ours = {b.asset: b.total for b in Balance.objects.filter(key=account.key)}
        for asset in sorted(set(theirs) | set(ours)):
            if theirs.get(asset, Decimal(0)) != ours.get(asset, Decimal(0)):
                problems.append(f"account {account.id} {asset}: exchange {theirs.get(asset)} ours {ours.get(asset)}")
        # The accounts start with the quote only: what they hold of a base asset is the sum of their bots' positions.
        held = {}
        for position in Position.objects.filter(bot__key=account.key):
            base = position.market.split("/")[0]
            held[base] = held.get(base, Decimal(0)) + position.quantity
        for base in sorted((set(held) | set(theirs)) - quotes):
            if theirs.get(base, Decimal(0)) != held.get(base, Decimal(0)):
                problems.append(f"account {account.id} {base}: exchange {theirs.get(base)} positions {held.get(base)}")
    return not problems, f"{len(problems)} differences: {problems[:6]}"


def reconcile_and_wait(world, *, clusters, timeout=CONVERGE_SECONDS):
    """Queue the every-5-minutes reconciliation once more, then wait until it matches the exchange."""
    from django_q.tasks import async_task

    async_task("portfolios.tasks.reconcile_all", group="reconcile")
    try:
        wait_until(lambda: reconciled(world), timeout=timeout,
                   every=(10.0, lambda: async_task("portfolios.tasks.reconcile_all", group="reconcile")),
                   what="balances and positions reconciled with the exchange")
    except AssertionError as error:
        raise AssertionError(f"{error}\n{clusters.logs()}") from None


def positions_true_within(world, clusters, *, since, seconds=POSITIONS_TRUE_SECONDS):
    """Wait, queuing nothing, until balances and positions equal the exchange's, at most ``seconds`` after ``since``.

    ``since`` is when every order's outcome was seen recorded (:func:`wait_settled` returns it): the product
    plans the reconciliation itself after each recorded outcome, whoever recorded it (the bot task, the
    recovery pass, a lookup).
    """
    left = round(max(0.0, since + seconds - time.monotonic()), 1)
    try:
        wait_until(lambda: reconciled(world), timeout=left,
                   what=f"balances and positions equal to the exchange's {seconds}s after the last order "
                        "(no reconciliation queued by the test)")
    except AssertionError as error:
        raise AssertionError(f"{error}\n{clusters.logs()}") from None


# --- the invariants ----------------------------------------------------------------------------------


def _accepted(world):
    """How many orders the exchange accepted per client order id, over every life of the exchange process."""
    accepted = Counter(world.paper.counters()["orders_by_client_order_id"])
    for before in world.accepted_before:
        accepted.update(before)
    return accepted


def assert_orders_at_exchange(world, orders):
    """The orders our database says reached the exchange are there, once each; the others are not; none twice."""
    from portfolios.models import Order

    at_exchange = exchange_orders(world)
    duplicated = {cid: len(found) for cid, found in at_exchange.items() if len(found) > 1}
    assert not duplicated, f"orders at the exchange more than once: {duplicated}"
    reached = [o for o in orders if o.state in (Order.State.FILLED, Order.State.PARTIAL, Order.State.OPEN)]
    ours = {o.client_order_id for o in reached}
    assert set(at_exchange) == ours, {
        "at the exchange, not recorded as sent": [(cid, found[0]["status"]) for cid, found in at_exchange.items()
                                                  if cid not in ours][:10],
        "recorded as sent, not at the exchange": sorted(ours - set(at_exchange))[:10]}
    for order in reached:
        [theirs] = at_exchange[order.client_order_id]
        assert theirs["account"] == next(a.id for a in world.accounts if a.key.pk == order.key_id)
        assert world.order_id(theirs["orderId"]) == order.exchange_order_id
        assert theirs["status"] == "FILLED" and order.state == Order.State.FILLED, (order.client_order_id,
                                                                                     order.state, theirs["status"])
        assert Decimal(theirs["executedQty"]) == order.filled_quantity
    assert {cid: n for cid, n in _accepted(world).items() if n != 1} == {}


def assert_positions_from_trades(world, orders):
    """Every trade of these orders recorded once, none foreign; each position is what its bot's trades gave it."""
    from portfolios.models import Fill, Position

    trades = [t for a in world.accounts for t in world.paper.account(a.id)["trades"]]
    fills = Fill.objects.filter(key__in=[a.key for a in world.accounts]).count()
    assert fills == len(trades), f"{fills} fills recorded for the exchange's {len(trades)} trades"
    assert list(Fill.objects.filter(foreign=True).values_list("market", "side", "quantity")) == []
    order_of = {o.exchange_order_id: o for o in orders if o.exchange_order_id}
    expected = {}
    for trade in trades:
        order = order_of.get(world.order_id(trade["orderId"]))
        assert order is not None, f"a trade of an order we do not know: {trade}"
        base = order.market.split("/")[0]
        fee = Decimal(trade["commission"]) if trade["commissionAsset"] == base else Decimal(0)
        change = Decimal(trade["qty"]) if order.side == "buy" else -Decimal(trade["qty"])
        key = (order.bot_id, order.market)
        expected[key] = expected.get(key, Decimal(0)) + change - fee
    positions = {(p.bot_id, p.market): p.quantity for p in Position.objects.filter(bot__in=world.bots)}
    wrong = [(key, positions.get(key), expected.get(key)) for key in sorted(set(positions) | set(expected))
             if positions.get(key, Decimal(0)) != expected.get(key, Decimal(0))]
    assert wrong == []


def assert_alerts(world, expected):
    """Exactly the ``expected`` alerts since the set-up, each raised once: (kind, id of the order, bot or key)."""
    from alerts.models import Alert

    rows = list(Alert.objects.exclude(pk__in=world.alerts_before)
                .values_list("kind", "order_id", "bot_id", "key_id", "count", "title", "text"))

    def about(kind, order_id, bot_id, key_id):
        return {"order": order_id, "bot": bot_id, "key": key_id}.get(kind.split("_")[0])

    raised = Counter((kind, about(kind, order_id, bot_id, key_id)) for kind, order_id, bot_id, key_id, *_ in rows)
    wanted = Counter(expected)
    unexpected = raised - wanted
    assert raised == wanted, {
        "missing": sorted((wanted - raised).elements())[:10],
        "unexpected": [(kind, title, text) for kind, order_id, bot_id, key_id, _, title, text in rows
                       if (kind, about(kind, order_id, bot_id, key_id)) in unexpected][:10]}
    assert [(kind, title, count) for kind, _, _, _, count, title, _ in rows if count != 1] == []


def assert_converged(world, signal_ids, *, expect_orders):
    """The end state every fault test checks (after :func:`wait_settled` and :func:`reconcile_and_wait`)."""
    from alerts.models import Kind
    from keys.models import KeyEvent
    from portfolios.models import BotStateChange, Order, SignalDecision

    orders = list(Order.objects.filter(bot__in=world.bots))
    ordered = SignalDecision.objects.filter(bot__in=world.bots, signal_id__in=signal_ids,
                                            outcome=SignalDecision.Outcome.ORDERED)
    # One order per (bot, signal) that passed the guard; here every bot passes it.
    assert ordered.count() == expect_orders, list(
        SignalDecision.objects.filter(bot__in=world.bots).exclude(outcome="ordered").values_list("reason", flat=True)[:5])
    assert len(orders) == expect_orders
    assert len({(o.bot_id, o.signal_id) for o in orders}) == expect_orders
    assert {(d.bot_id, d.signal_id) for d in ordered} == {(o.bot_id, o.signal_id) for o in orders}
    not_filled = [(o.client_order_id, o.state, o.error) for o in orders if o.state != Order.State.FILLED]
    assert not not_filled, not_filled[:5]

    # Orders at the exchange == orders in our database: none lost, none duplicated.
    assert_orders_at_exchange(world, orders)
    assert_positions_from_trades(world, orders)

    # Expected alerts raised once: one "order filled" per order; nothing paused, failed or refused.
    assert_alerts(world, [(Kind.ORDER_FILLED, o.pk) for o in orders])
    assert list(BotStateChange.objects.values_list("bot_id", "to_state", "reason")) == []
    events = KeyEvent.objects.exclude(pk__in=world.key_events_before)
    assert list(events.values_list("kind", "detail")) == []


def fan_out_and_settle(world, clusters, signal, *, during=None, timeout=CONVERGE_SECONDS, nudge_every=5.0):
    """Fan the signal out to every bot and wait until every bot decided and every order is resolved.

    ``during()`` runs right after the fan-out (the faults that need timing: kills, knob changes).
    Returns when the last outcome was seen recorded (``time.monotonic()``).
    """
    from portfolios.services import signals_fan_out

    queued = signals_fan_out(signal_ids=[signal.pk])
    assert len(queued) == len(world.bots)
    if during is not None:
        during()
    return wait_settled(world, [signal.pk], clusters=clusters, timeout=timeout, nudge_every=nudge_every)


def fan_out_and_check(world, clusters, signal, *, during=None, timeout=CONVERGE_SECONDS):
    """:func:`fan_out_and_settle`, reconcile, then check every invariant (each bot passes the guard)."""
    fan_out_and_settle(world, clusters, signal, during=during, timeout=timeout)
    reconcile_and_wait(world, clusters=clusters)
    assert_converged(world, [signal.pk], expect_orders=len(world.bots))


def fan_out_and_check_unaided(world, clusters, signal, *, during=None, nudge_every=5.0):
    """:func:`fan_out_and_settle`, then every invariant with balances and positions true within 30 s, unaided."""
    settled = fan_out_and_settle(world, clusters, signal, during=during, nudge_every=nudge_every)
    positions_true_within(world, clusters, since=settled)
    assert_converged(world, [signal.pk], expect_orders=len(world.bots))
