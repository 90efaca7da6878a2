"""Faults: worker processes SIGKILLed under load (PostgreSQL only).

One run of the mixed load of load.py against ``proctorhub serve --workers 2`` on its own database,
with a webhook endpoint (a real receiver on loopback) and the outbox sent by a separate
``proctorhub worker --embedded``. During the run:

- at 1/4: a gunicorn worker is SIGKILLed in the middle of applying a review: the test holds a
  SHARE lock on the review history table (only review writes touch it), so a callback's
  transaction, holding its attempt's row lock, waits in its review write (found in
  pg_stat_activity); that worker is killed, then the lock is let go and the dead transaction is
  rolled back. At 3/4: any gunicorn worker. The master respawns them. Cut-off callbacks are re-delivered, as PSI would;
  a cut-off GET is repeated; a lifecycle whose POST was cut off is abandoned;
- at 1/2: the outbox worker is SIGKILLed while a webhook request of the load is in flight (the
  receiver holds it for half a second); a second worker is started and takes over once the dead
  one's lease (LEASE_SECONDS) runs out.

(a) the HTTP side: zero 5xx from the requests that were not cut off, every re-delivery lands,
every review present once with its comments once, statuses as the policy says, every status
change with its outbox event. (b) the outbox side: every webhook delivery reaches the receiver at
least once, first arrivals in order per attempt, re-sends with the same webhook-id and body, none
dead.
"""

from __future__ import annotations

import json
import os
import signal
import time
from types import SimpleNamespace

import psycopg
import pytest

from proctorhub.notifications.models import new_webhook_secret
from tests.reliability.conftest import LOAD
from tests.reliability.faults_outbox import (
    OutboxWorker,
    RestartableReceiver,
    register_endpoint,
    wait_until_sent,
    webhook_problems,
)
from tests.reliability.faults_support import (
    FAULT_SECONDS,
    FaultLoad,
    FaultServer,
    shared_database,
    worker_running,
)

pytestmark = pytest.mark.postgres

RESPAWN_TIMEOUT = 30.0
MID_REVIEW_SEARCH_SECONDS = 20.0
#: Only a review write touches this table; holding it stops a callback inside its transaction.
REVIEW_HISTORY = "reviews_historicalreview"
#: How that write starts (pg_stat_activity keeps only the first 1 kB of a statement).
REVIEW_WRITE = '%INSERT INTO "reviews_review"%'


def _wait(condition, timeout: float, what: str) -> float:
    """Poll ``condition`` until true; return the seconds it took (raise after ``timeout``)."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise TimeoutError(what)
        time.sleep(0.02)
    return time.monotonic() - started


class Killer:
    """The two faults, and what they observed."""

    def __init__(self, server: FaultServer, receiver: RestartableReceiver, worker: OutboxWorker):
        self.server, self.receiver, self.workers = server, receiver, [worker]
        self.gunicorn_respawn_seconds: list[float] = []
        self.in_flight_at_outbox_kill = 0

    def gunicorn_worker_applying_a_review(self) -> None:
        """Kill a worker whose callback transaction waits, behind the test's lock on the review
        history table, in its review write; then let the lock go."""
        with psycopg.connect(self.server.database_url) as blocker:
            blocker.execute(f"LOCK TABLE {REVIEW_HISTORY} IN SHARE MODE")
            found = None
            deadline = time.monotonic() + MID_REVIEW_SEARCH_SECONDS
            while found is None and time.monotonic() < deadline:
                found = worker_running(self.server, REVIEW_WRITE)
                time.sleep(0.01)
            if found is None:
                raise TimeoutError("no callback reached its review write")
            self.gunicorn_worker(found[0])
            blocker.rollback()  # the dead worker's transaction is rolled back
        _wait(self.callbacks_cut_off, 10, "the killed worker's callback was not cut off")

    def callbacks_cut_off(self) -> int:
        return sum(n for kind, n in self.load.dropped.items() if kind.startswith("review"))

    def gunicorn_worker(self, victim: int | None = None) -> None:
        before = self.server.worker_pids()
        victim = victim or min(before)
        os.kill(victim, signal.SIGKILL)
        self.gunicorn_respawn_seconds.append(round(_wait(
            lambda: len((now := self.server.worker_pids()) - {victim}) == len(before)
            and victim not in now, RESPAWN_TIMEOUT, "gunicorn did not respawn its worker"), 2))

    def outbox_worker(self) -> None:
        rx = self.receiver
        rx.hang_seconds, rx.mode = 0.5, "hang"  # hold each webhook request for half a second
        time.sleep(0.1)  # requests already being answered finish
        _wait(lambda: rx.in_flight > 0, 20, "the outbox worker sent nothing to kill it during")
        self.in_flight_at_outbox_kill = rx.in_flight
        self.workers[0].kill()
        rx.mode = "ok"
        self.workers.append(OutboxWorker(self.server, "outbox-2"))


@pytest.fixture(scope="module")
def run(request):
    failed_before = request.session.testsfailed
    receiver = RestartableReceiver(new_webhook_secret())
    server = FaultServer(shared_database("fault_killed")).configure()
    killer = None
    try:
        server.start()
        destination = register_endpoint(server.database_url, receiver)
        killer = Killer(server, receiver, OutboxWorker(server, "outbox-1"))
        s = FAULT_SECONDS
        load = FaultLoad(server, s, seed=3, allow_dropped=True, faults=[
            (s / 4, "gunicorn worker killed mid-review", killer.gunicorn_worker_applying_a_review),
            (s / 2, "outbox worker killed", killer.outbox_worker),
            (3 * s / 4, "gunicorn worker killed again", killer.gunicorn_worker)])
        killer.load = load
        summary = load.run()
        problems = load.check()
        load_ended = time.monotonic()
        drained_at = wait_until_sent(server.database_url, destination, timeout=60)
        webhook, stats = webhook_problems(server.database_url, destination, receiver)
        summary.pop("connections_terminated", None)
        summary.update(stats, delivery_outcomes=load.outcomes,
                       requests_cut_off=dict(load.dropped),
                       gunicorn_respawn_seconds=killer.gunicorn_respawn_seconds,
                       callbacks_cut_off_mid_review=killer.callbacks_cut_off(),
                       outbox_drained_after_load_seconds=round(drained_at - load_ended, 1))
        print("\nreliability faults, workers killed:", json.dumps(summary, indent=2))
        LOAD.update({f"workers killed {k}": v for k, v in summary.items() if k != "by_kind"})
        yield SimpleNamespace(load=load, problems=problems, webhook=webhook, stats=stats,
                              killer=killer, summary=summary, server=server)
        if request.session.testsfailed == failed_before:
            server.cleanup()  # else kept: server.log, outbox-1.log, outbox-2.log
    finally:
        for worker in (killer.workers if killer else []):
            worker.stop()
        server.stop()
        receiver.close()


def test_a_killed_gunicorn_worker_is_respawned_and_nothing_is_lost(run):
    load, where = run.load, f"\nserver log: {run.server.workdir}/server.log"
    # every re-delivery landed, reviews once, statuses per policy, no change without its event:
    assert not run.problems, "\n".join(run.problems[:40]) + where
    assert load.unavailable == 0 and not load.server_errors  # zero 5xx from surviving requests
    assert len(run.killer.gunicorn_respawn_seconds) >= 2, load.fault_errors
    # a callback was cut off while its transaction was open, and re-delivered (checked above)
    assert run.killer.callbacks_cut_off() >= 1 and load.to_retry, dict(load.dropped)
    assert run.summary["reviewed"] > 0 and run.summary["attempts"] > 0


def test_a_killed_outbox_worker_is_taken_over_and_every_webhook_lands(run):
    killer, stats = run.killer, run.stats
    assert killer.in_flight_at_outbox_kill >= 1 and len(killer.workers) == 2
    assert killer.workers[0].proc.returncode == -signal.SIGKILL
    assert killer.workers[1].proc.poll() is None, "the second worker died"
    assert stats["webhook_deliveries"] > 0 and stats["attempts_with_events"] > 0
    # the request in flight at the kill reached the receiver and was sent again, same webhook-id
    assert stats["resent_copies"] >= 1 and stats["max_tries"] >= 2
    # all delivered (none dead or pending), each reached the receiver, same id and body on
    # re-sends, first arrivals in order per attempt:
    assert not run.webhook, "\n".join(run.webhook) + f"\nlogs: {run.server.workdir}"
