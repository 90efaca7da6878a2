"""Races on real PostgreSQL: the row locks, not luck, keep one attempt and one submission."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection

from proctorhub.attempts.lifecycle import apply_action
from proctorhub.attempts.models import Attempt
from proctorhub.attempts.services import create_attempt
from proctorhub.errors import Conflict, IllegalTransition
from proctorhub.notifications.models import OutboxEvent
from tests.conftest import LEARNER, SYSTEM

THREADS = 8

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def race(fn: Callable[[], object], n: int = THREADS) -> list[tuple[str, object]]:
    """Run ``fn`` in ``n`` threads released together; return ("ok", value) or ("err", exc)."""
    barrier = threading.Barrier(n)
    results: list[tuple[str, object]] = []
    lock = threading.Lock()

    def worker():
        try:
            barrier.wait(timeout=30)
            outcome = ("ok", fn())
        except BaseException as exc:  # noqa: BLE001 - reported to the test below
            outcome = ("err", exc)
        finally:
            connection.close()
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread hung (deadlock?)"
    assert len(results) == n
    return results


def test_concurrent_creates_make_exactly_one_attempt(exam, learner):
    results = race(lambda: create_attempt(exam=exam, user=learner, by=LEARNER))

    wins = [value for kind, value in results if kind == "ok"]
    errors = [value for kind, value in results if kind == "err"]
    assert len(wins) == 1, errors
    assert len(errors) == THREADS - 1
    assert all(isinstance(e, Conflict) for e in errors), [repr(e) for e in errors]
    live = Attempt.objects.filter(exam=exam, user=learner, is_archived=False)
    assert list(live.values_list("pk", flat=True)) == [wins[0].pk]
    assert OutboxEvent.objects.filter(kind="attempt.created").count() == 1


def test_concurrent_submits_submit_once(exam, learner):
    attempt = create_attempt(exam=exam, user=learner, by=LEARNER)
    apply_action(attempt.pk, "ready", SYSTEM)
    apply_action(attempt.pk, "start", LEARNER)

    results = race(lambda: apply_action(attempt.pk, "submit", LEARNER))

    wins = [value for kind, value in results if kind == "ok"]
    errors = [value for kind, value in results if kind == "err"]
    assert len(wins) == 1, errors
    assert all(isinstance(e, IllegalTransition) for e in errors), [repr(e) for e in errors]
    assert len(errors) == THREADS - 1
    stored = Attempt.objects.get(pk=attempt.pk)
    assert stored.status == "submitted"
    to_submitted = [
        e
        for e in OutboxEvent.objects.filter(kind="attempt.status_changed", attempt_id=attempt.pk)
        if e.payload["new_status"] == "submitted"
    ]
    assert len(to_submitted) == 1
    assert OutboxEvent.objects.filter(kind="mock.post_review", attempt_id=attempt.pk).count() == 1
    assert stored.history.filter(status="submitted").count() == 1
