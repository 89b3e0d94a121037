"""Real `manage.py qcluster` processes, a world of bots on paper accounts, and the checks every fault test ends with.

- :class:`Clusters`: starts ``manage.py qcluster`` in its own process group
  (so SIGKILL takes the whole cluster down, as a machine crash would), waits
  for its heartbeat, kills and restarts it.
- :func:`world_build`: paper accounts with linked keys and bots on one strategy.
- :func:`wait_until`: poll the database (or the exchange) until a condition
  holds, with a deadline; the failure message says what was still missing.
- :func:`assert_converged`: orders at the exchange == orders in our database ==
  one per (bot, signal) that passed the guard; balances and positions equal
  the exchange's; the expected alerts raised once.
"""

import importlib
import os
import signal as signals
import subprocess
import sys
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
# Deadlines for convergence. Generous: they bound a failure, not the normal run.
STARTUP_SECONDS = 60
CONVERGE_SECONDS = 180


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


@dataclass
class Cluster:
    label: str
    env: dict
    log_path: Path
    proc: subprocess.Popen | None = None
    starts: int = 0

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None


@dataclass
class Clusters:
    """The qcluster processes of one test."""

    env: dict
    log_dir: Path
    members: list = field(default_factory=list)

    def start(self, label="a", workers=4, **env):
        cluster = Cluster(label=label, env={**self.env, "Q_WORKERS": str(workers), **env},
                          log_path=self.log_dir / f"qcluster-{label}.log")
        self.members.append(cluster)
        self._spawn(cluster)
        return cluster

    def _spawn(self, cluster):
        cluster.starts += 1
        log = open(cluster.log_path, "ab")
        log.write(f"\n==== start {cluster.starts} ====\n".encode())
        log.flush()
        cluster.proc = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=cluster.env,
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        log.close()

    def wait_ready(self, timeout=STARTUP_SECONDS):
        """Until every running cluster reports a heartbeat with all its workers."""
        from django_q.brokers import get_broker
        from django_q.status import Stat

        def ready():
            for cluster in self.members:
                if cluster.proc.poll() is not None:
                    raise AssertionError(f"qcluster {cluster.label} exited with {cluster.proc.returncode}:\n"
                                         f"{self.log_tail(cluster)}")
            alive = {stat.pid: stat for stat in Stat.get_all(broker=get_broker())}
            missing = []
            for cluster in self.members:
                stat = alive.get(cluster.proc.pid)
                workers = int(cluster.env["Q_WORKERS"])
                if stat is None or len(stat.workers) < workers or stat.status not in ("Idle", "Working"):
                    missing.append(cluster.label)
            return not missing, f"clusters without a heartbeat: {missing}"

        wait_until(ready, timeout=timeout, interval=0.2, what="qcluster heartbeats")

    def kill(self, cluster, sig=signals.SIGKILL):
        """Kill a whole cluster (sentinel, pusher, monitor and workers) at once."""
        if cluster.running:
            try:
                os.killpg(cluster.proc.pid, sig)
            except ProcessLookupError:
                pass
            cluster.proc.wait(timeout=30)

    def kill_worker(self, cluster, rng):
        """SIGKILL one worker process of a cluster (its guard starts a new one). Returns the pid or None."""
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
        for cluster in self.members:
            if cluster.running:
                cluster.proc.terminate()
        for cluster in self.members:
            if cluster.proc is None:
                continue
            try:
                cluster.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
            try:
                os.killpg(cluster.proc.pid, signals.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            cluster.proc.wait(timeout=30)

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
    # Alerts and key events of the set-up (linking the keys), before any fault.
    alerts_before: set = field(default_factory=set)
    key_events_before: set = field(default_factory=set)

    def bot_ids(self):
        return [bot.pk for bot in self.bots]


def world_build(*, paper, owners, bots, accounts, markets=("BTC/USDT",), usdt="10000"):
    """``accounts`` paper accounts (USDT only) linked as keys, ``bots`` bots spread over them."""
    from django_q.models import Schedule

    from keys.services import key_link
    from portfolios.gateway import Credentials
    from strategies.services import strategy_create
    from tests.portfolios.conftest import make_bot

    strategy = strategy_create(name="Trend under faults", kind="trend", markets=["BTC/USDT", "ETH/USDT", "SOL/USDT"])
    # The strategy's own 4-hourly run would write a newer signal (superseding the test's) if a candle
    # closed during the test: the test issues its signals itself.
    Schedule.objects.filter(func__startswith="strategies.").delete()
    linked = []
    for n in range(accounts):
        account_id = paper.create_account(USDT=usdt)
        secret = paper.create_key(account_id)
        owner = owners[n % len(owners)]
        key = key_link(owner=owner, exchange="paper", label=f"Paper {n}", confirmed_no_withdrawals=True,
                       credentials=Credentials(api_key=secret["api_key"], secret=secret["secret"]))
        linked.append(Account(id=account_id, key=key))
    made = []
    for n in range(bots):
        account = linked[n % len(linked)]
        made.append(make_bot(account.key.owner, account.key, strategy, markets=markets, allocation="500",
                             cap="400", name=f"Bot {n}"))
    from alerts.models import Alert
    from keys.models import KeyEvent

    return World(paper=paper, strategy=strategy, accounts=linked, bots=made,
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


# --- the invariants ----------------------------------------------------------------------------------


def _exchange_orders(world):
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
    try:
        wait_until(lambda: orders_settled(world, signal_ids), timeout=timeout,
                   every=(nudge_every, recovery_nudge), what="every (bot, signal) decided and its order resolved")
    except AssertionError as error:
        raise AssertionError(f"{error}\n{clusters.logs()}") from None


def reconciled(world):
    """Balances and positions as the exchange has them (after the reconciliations the orders queued)."""
    from portfolios.models import Balance, Position

    problems = []
    for account in world.accounts:
        snapshot = world.paper.account(account.id)
        theirs = {asset: Decimal(b["free"]) + Decimal(b["locked"]) for asset, b in snapshot["balances"].items()}
        ours = {b.asset: b.total for b in Balance.objects.filter(key=account.key)}
        for asset in set(theirs) | set(ours):
            if theirs.get(asset, Decimal(0)) != ours.get(asset, Decimal(0)):
                problems.append(f"account {account.id} {asset}: exchange {theirs.get(asset)} ours {ours.get(asset)}")
        # The accounts start with USDT only: what they hold of a base asset is the sum of their bots' positions.
        held = {}
        for position in Position.objects.filter(bot__key=account.key):
            base = position.market.split("/")[0]
            held[base] = held.get(base, Decimal(0)) + position.quantity
        for base, quantity in held.items():
            if theirs.get(base, Decimal(0)) != quantity:
                problems.append(f"account {account.id} {base}: exchange {theirs.get(base)} positions {quantity}")
    return not problems, problems[:5]


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


def assert_converged(world, signal_ids, *, expect_orders):
    """The end state every fault test checks (after :func:`wait_settled` and :func:`reconcile_and_wait`)."""
    from alerts.models import Alert, Kind
    from keys.models import KeyEvent
    from portfolios.models import BotStateChange, Fill, Order, Position, SignalDecision

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
    at_exchange = _exchange_orders(world)
    duplicated = {cid: len(found) for cid, found in at_exchange.items() if len(found) > 1}
    assert not duplicated, duplicated
    assert set(at_exchange) == {o.client_order_id for o in orders}
    for order in orders:
        [theirs] = at_exchange[order.client_order_id]
        assert theirs["account"] == next(a.id for a in world.accounts if a.key.pk == order.key_id)
        assert str(theirs["orderId"]) == order.exchange_order_id
        assert theirs["status"] == "FILLED"
        assert Decimal(theirs["executedQty"]) == order.filled_quantity
    accepted = world.paper.counters()["orders_by_client_order_id"]
    assert {cid: n for cid, n in accepted.items() if n != 1} == {}

    # Every trade of these orders recorded once; none taken for a foreign trade.
    trades = [t for a in world.accounts for t in world.paper.account(a.id)["trades"]]
    assert Fill.objects.filter(key__in=[a.key for a in world.accounts]).count() == len(trades)
    assert not Fill.objects.filter(foreign=True).exists()
    # Each bot's position is what the exchange's trades of its order gave it (one buy per market here).
    received = {}
    for trade in trades:
        base = next(o.market for o in orders if o.exchange_order_id == str(trade["orderId"])).split("/")[0]
        fee = Decimal(trade["commission"]) if trade["commissionAsset"] == base else Decimal(0)
        received[str(trade["orderId"])] = received.get(str(trade["orderId"]), Decimal(0)) + Decimal(trade["qty"]) - fee
    positions = {(p.bot_id, p.market): p.quantity for p in Position.objects.filter(bot__in=world.bots)}
    wrong = [(o.bot_id, o.market, positions.get((o.bot_id, o.market)), received.get(o.exchange_order_id))
             for o in orders if positions.get((o.bot_id, o.market)) != received.get(o.exchange_order_id)]
    assert wrong == []

    # Expected alerts raised once: one "order filled" per order; nothing paused, failed or refused.
    alerts = Alert.objects.exclude(pk__in=world.alerts_before)
    filled_alerts = list(alerts.filter(kind=Kind.ORDER_FILLED).values_list("order_id", "count"))
    assert sorted(order_id for order_id, _ in filled_alerts) == sorted(o.pk for o in orders)
    assert {count for _, count in filled_alerts} <= {1}
    assert list(alerts.exclude(kind=Kind.ORDER_FILLED).values_list("kind", "title", "text")) == []
    assert list(BotStateChange.objects.values_list("bot_id", "to_state", "reason")) == []
    events = KeyEvent.objects.exclude(pk__in=world.key_events_before)
    assert list(events.values_list("kind", "detail")) == []


def fan_out_and_settle(world, clusters, signal, *, during=None, timeout=CONVERGE_SECONDS):
    """Fan the signal out to every bot and wait until every bot decided and every order is resolved.

    ``during()`` runs right after the fan-out (the faults that need timing: kills, knob changes).
    """
    from strategies.services import signals_fan_out

    queued = signals_fan_out(signal_ids=[signal.pk])
    assert len(queued) == len(world.bots)
    if during is not None:
        during()
    wait_settled(world, [signal.pk], clusters=clusters, timeout=timeout)


def fan_out_and_check(world, clusters, signal, *, during=None, timeout=CONVERGE_SECONDS):
    """:func:`fan_out_and_settle`, reconcile, then check every invariant (each bot passes the guard)."""
    fan_out_and_settle(world, clusters, signal, during=during, timeout=timeout)
    reconcile_and_wait(world, clusters=clusters)
    assert_converged(world, [signal.pk], expect_orders=len(world.bots))
