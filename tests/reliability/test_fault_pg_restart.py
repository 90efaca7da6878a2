"""Fault: PostgreSQL restarted mid-load (PostgreSQL only).

A private, throwaway PostgreSQL cluster (initdb into a temp dir, run as the ``postgres`` OS user,
trust auth, a free loopback port) serves ``proctorhub serve --workers 2`` under the mixed load of
load.py (PSI callbacks with re-deliveries and concurrent duplicates, attempt lifecycles). A third
of the way in the cluster is stopped (``pg_ctl stop -m fast``: every session terminated), stays
down PG_DOWN_SECONDS, and is started again. The machine's shared PostgreSQL is never touched.

During the outage the service answers 503 with Retry-After, never another 5xx and never a cut-off
request; once PostgreSQL is back it recovers by itself within RECOVERY_SECONDS; the refused
callbacks, re-delivered as PSI would, all land; afterwards every review is present exactly once
with its comments once, every status is the policy's, and every status change has its outbox
event (nothing half-applied).
"""

from __future__ import annotations

import json

import pytest

from tests.reliability.conftest import LOAD, SECONDS
from tests.reliability.faults_support import (
    CALLBACK_KINDS,
    FAULT_SECONDS,
    FaultLoad,
    FaultServer,
    PrivateCluster,
)
from tests.reliability.load import fresh_database

pytestmark = pytest.mark.postgres

#: How long PostgreSQL stays down (short mode 3 s, full mode 15 s).
PG_DOWN_SECONDS = max(3.0, min(15.0, SECONDS / 20))
#: Once PostgreSQL accepts connections again, 503s must stop within this many seconds.
RECOVERY_SECONDS = 10.0


@pytest.fixture
def cluster():
    pg = PrivateCluster()
    try:
        yield pg.start()
    finally:
        pg.destroy()


@pytest.fixture
def server(cluster):
    srv = FaultServer(fresh_database(cluster.url, "proctorhub_fault_restart")).configure()
    try:
        yield srv.start()
    finally:
        srv.stop()


def _outage_report(load: FaultLoad) -> dict:
    """When the 503s came, relative to the outage (stop began .. start returned)."""
    stopped, back = load.fault_times["postgresql restart"]
    refused = load.times_of(status=503)
    callbacks_ok = [t for t in load.times_of(status=200, kinds=CALLBACK_KINDS) if t > back]
    return {
        "postgresql_down_seconds": round(back - stopped, 1),
        "answered_503": len(refused),
        "503_outside_the_outage": sum(1 for t in refused
                                      if not stopped <= t <= back + RECOVERY_SECONDS),
        "last_503_after_postgresql_back_seconds": (round(max(refused) - back, 2)
                                                   if refused else None),
        "first_callback_200_after_back_seconds": (round(min(callbacks_ok) - back, 2)
                                                  if callbacks_ok else None),
    }


def test_postgresql_restarted_mid_load_answers_503_and_half_applies_nothing(cluster, server):
    load = FaultLoad(server, FAULT_SECONDS, seed=2, faults=[
        (FAULT_SECONDS / 3, "postgresql restart", lambda: cluster.restart(PG_DOWN_SECONDS))])
    summary = load.run()
    server.stop()
    problems = load.check()
    summary.update(_outage_report(load), delivery_outcomes=load.outcomes)
    print("\nreliability fault, PostgreSQL restarted:", json.dumps(summary, indent=2))
    LOAD.update({f"pg restart {k}": v for k, v in summary.items() if k != "by_kind"})

    where = f"\nserver log: {server.workdir}/server.log"
    assert "postgresql restart" in load.fault_times and not load.fault_errors, load.fault_errors
    assert summary["answered_503"] > 0, "the restart was never noticed" + where
    assert summary["503_outside_the_outage"] == 0, summary
    assert summary["first_callback_200_after_back_seconds"] is not None, "never recovered" + where
    assert len(load.to_retry) > 0  # callbacks were refused, and re-delivered (checked below)
    assert summary["reviewed"] > 0 and summary["attempts"] > 0
    # no 500, no cut-off request, every re-delivery landed, nothing lost or half-applied:
    assert not problems, "\n".join(problems[:40]) + where
    server.cleanup()
