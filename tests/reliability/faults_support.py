"""Shared pieces of the fault tests (test_fault_*.py): the load of load.py with faults injected on
schedule and its checks, the server with the fault runs' outbox knobs, and a private PostgreSQL
cluster that may be restarted. The outbox side (receiver, worker processes) is faults_outbox.py.

The fault tests are PostgreSQL-only and start ``proctorhub serve --workers 2 --no-runner`` (as the
load test does) on their own database; the outbox is sent by separate ``proctorhub worker
--embedded`` processes so that they can be killed.
"""

from __future__ import annotations

import base64
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
import requests

from tests.reliability.conftest import SECONDS
from tests.reliability.load import BASIC, Load, Server, _free_port, fresh_database

#: Seconds of load around a fault (short mode 10, full mode 100).
FAULT_SECONDS = max(10.0, SECONDS / 3)
#: How long the webhook receiver stays down (`make reliability`: 60).
RECEIVER_DOWN_SECONDS = float(os.environ.get("RELIABILITY_RECEIVER_DOWN_SECONDS", "10"))
#: Outbox knobs for the fault runs: retries come quickly once the receiver is back (at most
#: MAX_DELAY_SECONDS apart), and a killed worker's leased rows come due after LEASE_SECONDS.
MAX_DELAY_SECONDS = 2.0
LEASE_SECONDS = 4


# --- the server and its configuration ----------------------------------------------------------
def shared_database(suffix: str) -> str:
    """A fresh database named after this run's (RELIABILITY_DB or DATABASE_URL's) on the shared
    server: concurrent runs with their own DATABASE_URL don't collide."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    base = os.environ.get("RELIABILITY_DB") or str(db["NAME"]).removeprefix("test_")
    server = (f"postgres://{db.get('USER') or 'postgres'}"
              f"{':' + db['PASSWORD'] if db.get('PASSWORD') else ''}"
              f"@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/postgres")
    return fresh_database(server, f"{base}_{suffix}"[:63])


class FaultServer(Server):
    """The load test's server; its TOML file also sets the outbox knobs (written before start)."""

    @property
    def env(self) -> dict[str, str]:
        env = super().env
        env.pop("CELERY_BROKER_URL", None)  # the outbox is sent by our worker processes only
        return env

    def configure(self, *, down_seconds: float = 0.0) -> FaultServer:
        # Enough tries that a row outlives the outage three times over before it is dead.
        max_tries = int(3 * down_seconds / MAX_DELAY_SECONDS) + 10
        key = base64.b64encode(os.urandom(32)).decode()
        (self.workdir / "proctorhub.toml").write_text(
            "[providers.software_secure]\n"
            f'callback_basic_auth = "{":".join(BASIC)}"\nvideo_review_key = "{key}"\n'
            "[providers.mock]\nreview_delay_seconds = 3600\n"
            f"[outbox]\nbase_delay_seconds = 0.25\nmax_delay_seconds = {MAX_DELAY_SECONDS}\n"
            f"lease_seconds = {LEASE_SECONDS}\nmax_tries = {max_tries}\n"
            "[webhooks]\ntimeout_seconds = 2\n[tracking]\npath = \"\"\n")
        return self

    def worker_pids(self) -> set[int]:
        """The gunicorn workers: children of the master (the ``proctorhub serve`` process)."""
        master = str(self.proc.pid)
        pids = set()
        for stat in glob.glob("/proc/[0-9]*/stat"):
            try:
                fields = Path(stat).read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[1] == master and fields[0] != "Z":
                pids.add(int(stat.split("/")[2]))
        return pids


def _tcp_port_inodes() -> dict[int, str]:
    """Local TCP port -> socket inode, for every loopback connection of this machine."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            found[int(cols[1].rsplit(":", 1)[1], 16)] = cols[9]
    return found


def _sessions(server: FaultServer, query_like: str) -> set[int]:
    """Client ports of the server's sessions inside a transaction running a query like that."""
    with psycopg.connect(server.database_url, autocommit=True) as db:
        return {p for (p,) in db.execute(
            "SELECT client_port FROM pg_stat_activity WHERE datname = current_database() AND "
            "application_name <> 'reliability-load' AND pid <> pg_backend_pid() AND "
            "state IN ('active', 'idle in transaction') AND query ILIKE %s AND client_port > 0",
            (query_like,))}


def worker_running(server: FaultServer, query_like: str) -> tuple[int, int] | None:
    """(pid, client port) of a gunicorn worker whose database session is inside a transaction
    running a query like ``query_like`` right now (matched through the port), or None."""
    ports = _sessions(server, query_like)
    by_inode = {inode: port for port, inode in _tcp_port_inodes().items() if port in ports}
    for pid in server.worker_pids():
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in by_inode:
                return pid, by_inode[link[8:-1]]
    return None


# --- a PostgreSQL cluster of our own -----------------------------------------------------------
def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                   key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    return found[-1] if found else shutil.which(name)


@dataclass
class PrivateCluster:
    """A throwaway cluster (initdb, trust auth, loopback, a free port): ours to restart."""

    port: int = field(default_factory=_free_port)
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ph-pg-")))

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        return subprocess.run(as_postgres + list(args), capture_output=True, text=True,
                              check=check, timeout=60)

    def start(self) -> PrivateCluster:
        initdb, self.pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if not initdb or not self.pg_ctl:
            pytest.skip("PostgreSQL restart test: no initdb/pg_ctl (install postgresql)")
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("PostgreSQL restart test: running as root and there is no "
                            "'postgres' OS user to run initdb as (initdb refuses root)")
            os.chown(self.root, user.pw_uid, user.pw_gid)
        done = self._run(initdb, "-D", str(self.root / "data"), "-A", "trust", "-U", "postgres",
                         "--no-sync", "-E", "UTF8", "--locale=C", check=False)
        if done.returncode != 0:
            pytest.skip(f"PostgreSQL restart test: initdb failed: {done.stderr.strip()[-500:]}")
        self._start()
        return self

    def _start(self) -> None:
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c max_connections=60")
        self._run(self.pg_ctl, "-D", str(self.root / "data"), "-l", str(self.root / "log"),
                  "-o", options, "-w", "-t", "30", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(self.pg_ctl, "-D", str(self.root / "data"), "-m", mode, "-w", "stop")

    def restart(self, down_seconds: float) -> None:
        """Stop (fast: open sessions are terminated), stay down, start again."""
        self.stop()
        time.sleep(down_seconds)
        self._start()

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def destroy(self) -> None:
        if (self.root / "data" / "postmaster.pid").exists():
            self._run(self.pg_ctl, "-D", str(self.root / "data"), "-m", "immediate", "-w",
                      "stop", check=False)
        shutil.rmtree(self.root, ignore_errors=True)


# --- the load, with faults -----------------------------------------------------------------------
@dataclass
class FaultLoad(Load):
    """load.Load with ``faults``: (seconds into the run, name, callable) run on schedule.

    503 answers with Retry-After are counted (``unavailable``, with their times); refused or
    dropped callbacks are re-delivered afterwards until they land, as a provider does. Transport
    errors (a request cut off) are problems unless ``allow_dropped`` (then a cut-off GET is
    repeated at once; the lifecycle abandons an attempt whose POST was cut off).
    """

    faults: list = field(default_factory=list)
    allow_dropped: bool = False
    dropped: Counter = field(default_factory=Counter)
    timeline: list = field(default_factory=list)       # (monotonic time, kind, status or None)
    fault_times: dict = field(default_factory=dict)    # name -> (began, ended), monotonic
    fault_errors: list = field(default_factory=list)

    def __post_init__(self):
        self.interrupt_at = tuple(at for at, _, _ in self.faults)  # load.py's faults mode

    def _call(self, http, kind, method, path, **kw):
        try:
            response = http.request(method, self.server.base + path, timeout=30, **kw)
        except requests.RequestException as exc:
            with self.lock:
                (self.dropped if self.allow_dropped else self.errors)[
                    f"{kind}: {type(exc).__name__}"] += 1
                self.timeline.append((time.monotonic(), kind, None))
            if method == "GET" and self.allow_dropped:  # safe to repeat: the client does
                return self._call(http, f"{kind} retried after cut-off", method, path, **kw)
            return None
        with self.lock:
            self.timeline.append((time.monotonic(), kind, response.status_code))
            self.statuses[(kind, response.status_code)] += 1
            if response.status_code == 503 and response.headers.get("Retry-After"):
                self.unavailable += 1
            elif response.status_code >= 500:
                self.server_errors.append((kind, response.status_code, response.text[:300]))
        return response

    def interrupter(self, started: float) -> None:
        """Each fault in its own thread, on time (a slow one does not delay the next)."""
        threads = [threading.Thread(target=self._fault, args=(started + at, name, fault))
                   for at, name, fault in self.faults]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def _fault(self, when: float, name: str, fault) -> None:
        time.sleep(max(0.0, when - time.monotonic()))
        began = time.monotonic()
        try:
            fault()
        except Exception as exc:  # noqa: BLE001 - reported by check()
            self.fault_errors.append(f"fault {name} failed: {exc!r}")
        self.fault_times[name] = (began, time.monotonic())

    def worker(self, index: int, until: float) -> None:
        """load.Load.worker, reconnecting its own database connection after an outage."""
        import random

        rnd = random.Random(self.seed * 1000 + index)
        http, psi = self.lms(), requests.Session()
        db = None
        while time.monotonic() < until:
            if rnd.random() < 0.5 and self.callback(psi, rnd):
                continue
            try:
                db = db or psycopg.connect(self.server.database_url, autocommit=True,
                                           application_name="reliability-load", connect_timeout=3)
                self.lifecycle(http, rnd, db)
            except psycopg.Error:
                db = None
                time.sleep(0.2)
        if db is not None:
            db.close()

    def times_of(self, *, status, kinds=None) -> list[float]:
        return [t for t, kind, s in self.timeline
                if s == status and (kinds is None or kind in kinds)]

    def check(self) -> list[str]:
        return self.fault_errors + super().check() + chain_problems(self.server.database_url)


CALLBACK_KINDS = ("review", "review re-delivery", "review concurrent duplicate")


def chain_problems(database_url: str) -> list[str]:
    """No status change without its outbox event, and no event without its status change: every
    attempt has one ``attempt.created`` event, and its ``attempt.status_changed`` events, in
    order, lead from the created status to the status it has now."""
    problems = []
    with psycopg.connect(database_url) as db:
        statuses = dict(db.execute("SELECT id, status FROM attempts_attempt"))
        events = db.execute(
            "SELECT attempt_id, kind, payload FROM notifications_outboxevent WHERE kind IN "
            "('attempt.created', 'attempt.status_changed') ORDER BY id").fetchall()
    chains: dict[int, list] = defaultdict(list)
    for attempt_id, kind, payload in events:
        chains[attempt_id].append((kind, payload))
    for attempt_id, status in statuses.items():
        chain = chains.get(attempt_id, [])
        if not chain or chain[0][0] != "attempt.created" or any(
                k == "attempt.created" for k, _ in chain[1:]):
            problems.append(f"attempt {attempt_id}: events {[k for k, _ in chain]}")
            continue
        current = chain[0][1]["status"]
        for _, payload in chain[1:]:
            if payload["old_status"] != current:
                problems.append(f"attempt {attempt_id}: event {payload['old_status']} -> "
                                f"{payload['new_status']} follows {current}")
            current = payload["new_status"]
        if current != status:
            problems.append(f"attempt {attempt_id} is {status}; its events end at {current}")
    return problems
