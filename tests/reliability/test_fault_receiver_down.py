"""Fault: the LMS webhook receiver down for a minute under load (PostgreSQL only).

``proctorhub serve --workers 2`` on its own database, the mixed load of load.py, a webhook
endpoint for every event kind (a real receiver on loopback) and the outbox sent by a separate
``proctorhub worker --embedded`` with small backoff (at most MAX_DELAY_SECONDS between tries, and
enough tries to outlive the outage three times). After a few seconds of load the receiver closes
its port for RELIABILITY_RECEIVER_DOWN_SECONDS (`make reliability`: 60; short mode: 10) while
callbacks keep arriving, then listens again on the same port.

The outbox decouples the callbacks from the receiver: they keep answering 200 during the outage.
Afterwards every event reaches the receiver, first arrivals in order per attempt, re-sends with
the same webhook-id and body, nothing dead; and the load's own checks hold (reviews once, statuses
per policy, every status change with its event).
"""

from __future__ import annotations

import json
import time

import pytest

from proctorhub.notifications.models import new_webhook_secret
from tests.reliability.conftest import LOAD, SECONDS
from tests.reliability.faults_outbox import (
    OutboxWorker,
    RestartableReceiver,
    pending_count,
    pending_keys,
    register_endpoint,
    wait_until_sent,
    webhook_problems,
)
from tests.reliability.faults_support import (
    CALLBACK_KINDS,
    MAX_DELAY_SECONDS,
    RECEIVER_DOWN_SECONDS,
    FaultLoad,
    FaultServer,
    shared_database,
)

pytestmark = pytest.mark.postgres

#: Load before and after the outage (short mode 3 s each, full mode 30 s).
AROUND_SECONDS = max(3.0, SECONDS / 10)
#: Once the receiver is back and the load is over, the backlog must be sent within this.
DRAIN_TIMEOUT = 60.0


@pytest.fixture
def receiver():
    rx = RestartableReceiver(new_webhook_secret())
    yield rx
    rx.close()


@pytest.fixture
def setup(receiver):
    server = FaultServer(shared_database("fault_receiver")).configure(
        down_seconds=RECEIVER_DOWN_SECONDS)
    worker = None
    try:
        server.start()
        destination = register_endpoint(server.database_url, receiver)
        worker = OutboxWorker(server, "outbox")
        yield server, destination
    finally:
        if worker is not None:
            worker.stop()
        server.stop()


class Outage:
    """Once events flow, take the receiver down for RECEIVER_DOWN_SECONDS; note the backlog."""

    def __init__(self, receiver: RestartableReceiver, database_url: str, destination: str):
        self.receiver, self.database_url, self.destination = receiver, database_url, destination
        self.requests_before = 0
        self.backlog: set[str] = set()
        self.down_at = self.back_at = 0.0

    def __call__(self) -> None:
        deadline = time.monotonic() + 30  # the outbox worker is up and sending first
        while not self.receiver.received and time.monotonic() < deadline:
            time.sleep(0.1)
        self.receiver.down()
        self.down_at = time.monotonic()
        self.requests_before = self.receiver.requests
        time.sleep(RECEIVER_DOWN_SECONDS)
        self.backlog = pending_keys(self.database_url, self.destination)
        self.receiver.up()
        self.back_at = time.monotonic()


def _during(load: FaultLoad, began: float, ended: float) -> dict:
    """Callback answers while the receiver was down, by status."""
    answers: dict = {}
    for t, kind, status in load.timeline:
        if began <= t <= ended and kind in CALLBACK_KINDS:
            answers[status] = answers.get(status, 0) + 1
    return answers


def _backlog_sent(outage: Outage, receiver: RestartableReceiver) -> float | None:
    """Seconds from the receiver's return to the arrival of the last event that was waiting."""
    arrived = receiver.arrived_at()
    if not outage.backlog or not outage.backlog <= set(arrived):
        return None
    return round(max(arrived[key] for key in outage.backlog) - outage.back_at, 1)


def test_receiver_down_callbacks_keep_answering_and_every_event_lands(setup, receiver):
    server, destination = setup
    outage = Outage(receiver, server.database_url, destination)
    load = FaultLoad(server, 2 * AROUND_SECONDS + RECEIVER_DOWN_SECONDS, seed=4,
                     faults=[(AROUND_SECONDS, "receiver down", outage)])
    summary = load.run()
    load_ended = time.monotonic()
    pending_at_load_end = pending_count(server.database_url, destination)
    problems = load.check()
    drained_at = wait_until_sent(server.database_url, destination, timeout=DRAIN_TIMEOUT)
    webhook, stats = webhook_problems(server.database_url, destination, receiver)
    began, ended = outage.down_at, outage.back_at
    summary.pop("connections_terminated", None)
    summary.update(stats, delivery_outcomes=load.outcomes,
                   receiver_down_seconds=round(ended - began, 1),
                   callbacks_while_down=_during(load, began, ended),
                   backlog_when_receiver_came_back=len(outage.backlog),
                   backlog_sent_after_receiver_back_seconds=_backlog_sent(outage, receiver),
                   webhooks_pending_when_load_ended=pending_at_load_end,
                   outbox_drained_after_load_seconds=round(drained_at - load_ended, 1))
    print("\nreliability fault, webhook receiver down:", json.dumps(summary, indent=2))
    LOAD.update({f"receiver down {k}": v for k, v in summary.items() if k != "by_kind"})

    where = f"\nlogs: {server.workdir}"
    assert not load.fault_errors, load.fault_errors
    # the callbacks did not wait for the receiver: all answered 200 while it was down
    assert set(summary["callbacks_while_down"]) == {200}, summary["callbacks_while_down"]
    assert summary["callbacks_while_down"][200] > 0
    assert load.unavailable == 0 and not load.server_errors
    # the receiver really was away, with events waiting for it, retried (not given up on)
    assert outage.requests_before > 0 and len(outage.backlog) > 0
    assert stats["max_tries"] >= 2
    # every event arrived once back, in order per attempt, same ids, none dead
    assert not webhook, "\n".join(webhook) + where
    # and the load's own checks: reviews once, statuses per policy, changes with their events
    assert not problems, "\n".join(problems[:40]) + where
    assert summary["reviewed"] > 0 and MAX_DELAY_SECONDS < RECEIVER_DOWN_SECONDS
    server.cleanup()
