"""Celery against the machine's real Redis: tasks enqueued on commit, the sweep after an outage.

The worker is a real Celery worker (``celery.contrib.testing.worker.start_worker``: a worker
thread consuming a queue of this test session in Redis). Nothing else drains the outbox here.
While it runs, the test only watches the loopback receiver: the SQLite test database lives in
memory, shared between threads, and two threads writing to it at once trip table locks.
"""

from __future__ import annotations

import time

import pytest
from celery.contrib.testing.worker import start_worker

from proctorhub.attempts.lifecycle import apply_action
from proctorhub.attempts.services import create_attempt
from proctorhub.notifications import celery as ph_celery
from proctorhub.notifications.models import OutboxDelivery
from proctorhub.providers.base import NormalizedReview
from proctorhub.reviews.services import apply_review
from tests.conftest import LEARNER, PROVIDER, SYSTEM
from tests.outbox_fakes import REDIS_URL, queued, redis_up

pytest_plugins = ["tests.outbox_fixtures"]  # fixtures: receiver, endpoint, notify_config, ...

CLOSED_PORT_URL = "redis://127.0.0.1:1/0"  # nothing listens there: the broker is "down"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(not redis_up(), reason=f"needs Redis at {REDIS_URL}"),
]


def worker():
    return start_worker(ph_celery.app, pool="solo", concurrency=1, perform_ping_check=False,
                        loglevel="WARNING", shutdown_timeout=10)


def wait_until(check, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def webhook_rows(endpoint):
    return OutboxDelivery.objects.filter(destination=endpoint.destination)


def test_rows_committed_are_sent_by_a_celery_worker_via_redis(
    broker, notify_config, quiet_mock, receiver, endpoint, exam, learner
):
    broker(REDIS_URL)
    attempt = create_attempt(exam=exam, user=learner, by=LEARNER)
    for action, by in (("ready", SYSTEM), ("start", LEARNER), ("submit", LEARNER)):
        apply_action(attempt.pk, action, by)
    assert queued() == 4  # one task per committed change, waiting in Redis
    assert receiver.received == []  # nothing was sent from inside the transactions
    with worker():
        assert wait_until(lambda: len(receiver.received) >= 4)
        assert wait_until(lambda: queued() == 0)
    assert not OutboxDelivery.objects.exclude(destination="handler").exclude(
        state="delivered").exists()
    got = [d["data"].get("new_status", "created") for _, d in receiver.unique()]
    assert got == ["created", "ready_to_start", "started", "submitted"]
    assert receiver.bad_signatures == []
    assert len(receiver.received) == 4  # each row sent once


def test_a_review_committed_while_the_broker_is_down_is_sent_by_the_sweep(
    broker, notify_config, quiet_mock, receiver, endpoint, exam, learner
):
    broker(CLOSED_PORT_URL)
    started = time.monotonic()
    attempt = create_attempt(exam=exam, user=learner, by=LEARNER)
    for action, by in (("ready", SYSTEM), ("start", LEARNER), ("submit", LEARNER)):
        apply_action(attempt.pk, action, by)
    applied = apply_review(attempt.pk, NormalizedReview(status="passed"), provider="mock",
                           raw={"status": "passed"}, by=PROVIDER)
    assert applied.new_status == "verified"  # the change committed although the broker is down
    assert time.monotonic() - started < 15  # and enqueueing failed fast, without blocking
    pending = webhook_rows(endpoint).filter(state="pending")
    assert pending.count() == 6 and receiver.received == []

    assert queued() == 0  # no task made it to the broker

    broker(REDIS_URL)  # the broker is back
    ph_celery.sweep.delay()  # what beat (or `proctorhub worker`'s sweep thread) does
    with worker():
        assert wait_until(lambda: len(receiver.received) >= 6)
    assert not pending.exists()
    assert not webhook_rows(endpoint).exclude(state="delivered").exists()
    kinds = [d["type"] for _, d in receiver.unique()]
    assert kinds[-1] == "review.received" or "review.received" in kinds
    assert [d["data"]["new_status"] for _, d in receiver.unique()
            if d["type"] == "attempt.status_changed"][-1] == "verified"
    assert len(receiver.unique()) == 6
