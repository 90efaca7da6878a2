"""The outbox side of the fault tests (test_fault_killed_workers.py, test_fault_receiver_down.py):
a webhook endpoint pointing at a real receiver on loopback that can go away and come back on the
same port, ``proctorhub worker --embedded`` processes that can be killed, and the checks of what
reached the receiver."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections import Counter, defaultdict

import psycopg

from tests.outbox_fakes import WebhookReceiver, _Server, _WebhookHandler
from tests.reliability.load import Server, _bin


def register_endpoint(database_url: str, receiver: WebhookReceiver) -> str:
    """An LMS webhook endpoint for every kind, pointing at ``receiver``; its destination."""
    with psycopg.connect(database_url, autocommit=True) as db:
        (pk,) = db.execute(
            "INSERT INTO notifications_webhookendpoint (name, url, secret, event_kinds, is_active, "
            "created_at) VALUES ('fault-lms', %s, %s, '[]'::jsonb, true, now()) RETURNING id",
            (receiver.url, receiver.secret)).fetchone()
    return f"webhook:{pk}"


class OutboxWorker:
    """``proctorhub worker --embedded`` against the server's database, logging to its workdir."""

    def __init__(self, server: Server, name: str):
        self.log = open(server.workdir / f"{name}.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [_bin("proctorhub"), "worker", "--embedded", "--poll-seconds", "0.2"],
            env=server.env, stdout=self.log, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


# --- a receiver that goes away ----------------------------------------------------------------
class _Timed(list):
    """A list that notes when each item was appended."""

    def __init__(self):
        super().__init__()
        self.times: list[float] = []

    def append(self, item) -> None:
        self.times.append(time.monotonic())
        super().append(item)


class RestartableReceiver(WebhookReceiver):
    """tests.outbox_fakes' receiver; ``down()`` closes its port (connection refused), ``up()``
    listens on the same port again."""

    def __init__(self, secret: str):
        super().__init__(secret)
        self.received = _Timed()

    def arrived_at(self) -> dict[str, float]:
        """webhook-id -> when its first copy arrived (monotonic)."""
        first: dict[str, float] = {}
        for at, (msg_id, _) in zip(self.received.times, list(self.received), strict=False):
            first.setdefault(msg_id, at)
        return first

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def down(self) -> None:
        self.close()

    def up(self) -> None:
        server = _Server(("127.0.0.1", self.port), _WebhookHandler)
        server.owner = self
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        self.server = server


# --- the outbox afterwards -----------------------------------------------------------------------
def pending_keys(database_url: str, destination: str) -> set[str]:
    with psycopg.connect(database_url) as db:
        return {key for (key,) in db.execute(
            "SELECT idempotency_key FROM notifications_outboxdelivery WHERE destination = %s "
            "AND state = 'pending'", (destination,))}


def pending_count(database_url: str, destination: str) -> int:
    return len(pending_keys(database_url, destination))


def wait_until_sent(database_url: str, destination: str, timeout: float) -> float:
    """Wait until no delivery to ``destination`` is pending (at most ``timeout`` seconds);
    return the monotonic time it happened (or gave up)."""
    deadline = time.monotonic() + timeout
    while pending_count(database_url, destination) and time.monotonic() < deadline:
        time.sleep(0.3)
    return time.monotonic()


def webhook_problems(database_url: str, destination: str, receiver: WebhookReceiver
                     ) -> tuple[list[str], dict]:
    """Every delivery to the endpoint delivered (none dead, none pending), each reached the
    receiver, re-sends carry the same webhook-id and body, first arrivals in order per attempt."""
    with psycopg.connect(database_url) as db:
        rows = db.execute("SELECT idempotency_key, state, tries FROM notifications_outboxdelivery "
                          "WHERE destination = %s", (destination,)).fetchall()
    problems = []
    states = Counter(state for _, state, _ in rows)
    if set(states) - {"delivered"}:
        problems.append(f"webhook deliveries by state: {dict(states)}")
    expected = {key for key, _, _ in rows}
    got = {msg_id for msg_id, _ in receiver.unique()}
    if expected - got:
        problems.append(f"{len(expected - got)} deliveries never reached the receiver")
    if got - expected:
        problems.append(f"{len(got - expected)} webhook-ids the outbox does not know")
    bodies: dict[str, set] = defaultdict(set)
    for msg_id, data in list(receiver.received):
        bodies[msg_id].add(json.dumps(data, sort_keys=True))
    changed = [m for m, b in bodies.items() if len(b) > 1]
    if changed:
        problems.append(f"{len(changed)} webhook-ids re-sent with a different body")
    per_attempt: dict[int, list[int]] = defaultdict(list)
    for _, data in receiver.unique():
        per_attempt[data["data"].get("attempt_id")].append(data["data"]["event_id"])
    disordered = [a for a, ids in per_attempt.items() if ids != sorted(ids)]
    if disordered:
        problems.append(f"events out of order for attempts {disordered[:10]}")
    if receiver.bad_signatures:
        problems.append(f"bad signatures: {receiver.bad_signatures[:3]}")
    stats = {"webhook_deliveries": len(rows), "received_requests": len(receiver.received),
             "resent_copies": len(receiver.received) - len(receiver.unique()),
             "max_tries": max((t for _, _, t in rows), default=0),
             "attempts_with_events": len(per_attempt)}
    return problems, stats
