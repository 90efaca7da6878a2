"""PostgreSQL: concurrent workers never send a row twice; a killed worker process loses nothing."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from proctorhub.notifications.dispatch import drain, handles
from proctorhub.notifications.models import OutboxDelivery, OutboxEvent
from proctorhub.notifications.outbox import delivery_key
from tests.outbox_fakes import (
    QUEUE,
    REDIS_URL,
    drain_all,
    make_due,
    queued,
    redis_up,
)

pytest_plugins = ["tests.outbox_fixtures"]  # fixtures: receiver, endpoint, notify_config, ...

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

COUNT_KIND = "test.pg.count"
_sent: list[tuple[int, int, str]] = []  # (attempt, event id, worker thread name)
_sent_lock = threading.Lock()


@handles(COUNT_KIND)
def _record(event) -> None:
    with _sent_lock:
        _sent.append((event.attempt_id, event.pk, threading.current_thread().name))


def _bulk_rows(n_attempts: int, per_attempt: int) -> None:
    """Write events and their handler deliveries directly (as emit would, only faster)."""
    now = timezone.now() - timedelta(seconds=1)
    events = OutboxEvent.objects.bulk_create(
        OutboxEvent(kind=COUNT_KIND, payload={"n": i}, attempt_id=1_000_000 + i % n_attempts,
                    idempotency_key=f"{COUNT_KIND}:{i}", next_attempt_at=now)
        for i in range(n_attempts * per_attempt))
    OutboxDelivery.objects.bulk_create(
        (OutboxDelivery(event=e, destination="handler", attempt_id=e.attempt_id,
                        idempotency_key=delivery_key(e.idempotency_key, "handler"),
                        next_attempt_at=now) for e in events), batch_size=2000)


def test_two_workers_drain_10000_rows_and_send_each_exactly_once(notify_config):
    _sent.clear()
    _bulk_rows(n_attempts=1000, per_attempt=10)
    errors: list[BaseException] = []

    def work():
        try:
            idle = 0
            while idle < 3:  # a few empty passes: the other worker may still hold rows
                idle = idle + 1 if drain(limit=500) == 0 else 0
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    started = time.monotonic()
    workers = [threading.Thread(target=work, name=f"worker-{i}") for i in (1, 2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    elapsed = time.monotonic() - started
    print(f"\n10,000 rows drained by two workers in {elapsed:.1f} s")

    assert not errors, errors
    counts = collections.Counter(event_id for _, event_id, _ in _sent)
    assert len(counts) == 10_000 and set(counts.values()) == {1}  # each row exactly once
    assert {name for _, _, name in _sent} == {"worker-1", "worker-2"}  # both did work
    per_attempt = collections.defaultdict(list)
    for attempt_id, event_id, _ in _sent:
        per_attempt[attempt_id].append(event_id)
    assert all(ids == sorted(ids) for ids in per_attempt.values())  # in order per attempt
    assert not OutboxDelivery.objects.exclude(state="delivered").exists()
    assert set(OutboxDelivery.objects.values_list("tries", flat=True)) == {1}
    assert not OutboxEvent.objects.exclude(state="delivered").exists()
    assert elapsed < 60


SEND_THREADS = 4


def _worker_env(tmp_path) -> dict[str, str]:
    db = connection.settings_dict
    toml = tmp_path / "worker.toml"
    toml.write_text(f"[webhooks]\ntimeout_seconds = 30\nsend_threads = {SEND_THREADS}\n"
                    "[tracking]\npath = \"\"\n")
    env = {**os.environ, "PROCTORHUB_CONFIG": str(toml), "PROCTORHUB_ENV": "test",
           "PROCTORHUB_VAR_DIR": str(tmp_path),
           "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"}
    env.pop("CELERY_BROKER_URL", None)
    return env


def test_a_worker_process_killed_mid_batch_loses_nothing(
    notify_config, receiver, endpoint, tmp_path
):
    from django.db import transaction

    from proctorhub.notifications.outbox import emit

    notify_config.tracking["path"] = ""
    with transaction.atomic():
        for i in range(30):
            emit("attempt.created", {"attempt_id": 2_000_000 + i, "n": i},
                 attempt_id=2_000_000 + i)
    rows = OutboxDelivery.objects.filter(destination=endpoint.destination)
    assert rows.count() == 30
    receiver.mode = "hang_after"
    receiver.hang_after, receiver.hang_seconds = 5, 60  # from the 6th on, no answer

    proc = subprocess.Popen([sys.executable, "-m", "proctorhub.cli", "worker", "--embedded"],
                            env=_worker_env(tmp_path), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    hanging = 5 + SEND_THREADS  # every send thread waits on an answer that does not come
    try:
        deadline = time.monotonic() + 30
        while ((receiver.requests < hanging or rows.filter(state="delivered").count() < 5)
               and time.monotonic() < deadline):
            time.sleep(0.05)
        assert receiver.requests == hanging, (proc.stderr.read1().decode() if proc.poll()
                                              else "stuck")
        # mid-batch: 5 sent and recorded while the others hang, 4 in flight, 21 claimed
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    assert rows.filter(state="delivered").count() == 5
    leased = rows.filter(state="pending", next_attempt_at__gt=timezone.now())
    assert leased.count() == 25 and set(leased.values_list("tries", flat=True)) == {1}
    assert drain() == 0  # nobody else may take them while the lease lasts

    receiver.mode = "ok"
    make_due()  # the lease ran out
    drain_all()
    assert rows.filter(state="delivered").count() == 30
    expected = set(rows.values_list("idempotency_key", flat=True))
    assert {m for m, _ in receiver.unique()} == expected
    assert not OutboxEvent.objects.filter(kind="attempt.created", state="pending").exists()


@pytest.mark.skipif(not redis_up(), reason=f"needs Redis at {REDIS_URL}")
def test_proctorhub_worker_runs_celery_and_sends_what_commits(
    notify_config, receiver, endpoint, broker, tmp_path
):
    from django.db import transaction

    from proctorhub.notifications.outbox import emit

    notify_config.tracking["path"] = ""
    broker(REDIS_URL)
    env = {**_worker_env(tmp_path), "CELERY_BROKER_URL": REDIS_URL, "CELERY_QUEUE": QUEUE}
    proc = subprocess.Popen([sys.executable, "-m", "proctorhub.cli", "worker", "--no-sweep",
                             "--loglevel", "WARNING"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        for i in range(3):
            with transaction.atomic():  # each commit enqueues one task
                emit("attempt.created", {"attempt_id": 3_000_000 + i}, attempt_id=3_000_000 + i)
        deadline = time.monotonic() + 30
        while len(receiver.received) < 3 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert len(receiver.received) == 3, proc.stderr.read1().decode() if proc.poll() else ""
        proc.send_signal(signal.SIGTERM)  # warm shutdown
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert queued() == 0
    rows = OutboxDelivery.objects.filter(destination=endpoint.destination)
    assert rows.count() == 3 and not rows.exclude(state="delivered").exists()
