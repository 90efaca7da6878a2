"""Write outbox rows inside the caller's transaction; wake the workers after it commits.

``emit`` writes at once, or — inside ``with batch():`` — when the block ends, all the block's
events in one go (on PostgreSQL one statement for every event and delivery: see
:mod:`~proctorhub.notifications.outbox_sql`). The review path batches; a block that raises writes
nothing (its transaction is rolled back anyway).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from proctorhub.db.sql import execute, prep, qn, writable_fields
from proctorhub.notifications import outbox_sql
from proctorhub.notifications.models import OutboxDelivery, OutboxEvent, State, WebhookEndpoint
from proctorhub.notifications.outbox_sql import NO_DESTINATION, Pending
from proctorhub.notifications.routing import HANDLER, PUBLIC_KINDS, destinations_for

# Delayed rows due within this long are handed to Celery with a countdown; later ones wait for
# the periodic sweep (long ETAs in a broker are fragile).
MAX_COUNTDOWN_SECONDS = 300

_local = threading.local()


def emit(kind: str, payload: dict[str, Any], *, key: str | None = None,
         attempt_id: int | None = None, delay: timedelta | None = None,
         not_before: datetime | None = None, attempt=None) -> OutboxEvent:
    """Record a side effect to perform after the current transaction commits.

    ``key`` makes the event idempotent: emitting the same key twice keeps the first row. The event
    gets one delivery row per destination (see :mod:`~proctorhub.notifications.routing`), each with
    a key derived from the event's, which receivers see as ``webhook-id`` on every re-send.
    ``attempt``: the attempt already in hand, so routing need not read it again. Inside
    :func:`batch` the returned event is not saved yet (no ``pk``).
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("outbox events must be written inside the transaction of the change")
    when = not_before or (timezone.now() + (delay or timedelta(0)))
    pending = Pending(kind=kind, payload=payload, key=key or f"{kind}:{uuid.uuid4().hex}",
                      attempt_id=attempt_id, when=when, public=kind in PUBLIC_KINDS,
                      fixed=destinations_for(kind, payload, attempt_id, attempt=attempt))
    event = OutboxEvent(idempotency_key=pending.key, kind=kind, payload=payload,
                        attempt_id=attempt_id, next_attempt_at=when)
    stack = _stack()
    if stack:
        stack[-1].append(pending)
        return event
    return _write([pending])[0]


@contextmanager
def batch() -> Iterator[None]:
    """Hold the block's ``emit`` calls and write them together when it ends without error."""
    pendings: list[Pending] = []
    _stack().append(pendings)
    try:
        yield
    finally:
        _stack().pop()
    if pendings:
        _write(pendings)


def _stack() -> list[list[Pending]]:
    if not hasattr(_local, "stack"):
        _local.stack = []
    return _local.stack


def _write(pendings: list[Pending]) -> list[OutboxEvent]:
    if connection.vendor == "postgresql":
        written = outbox_sql.write(pendings)
        deliveries = written.deliveries
        events = [_event_of(p, written.event_ids.get(p.key)) for p in pendings]
    else:
        endpoints = (list(WebhookEndpoint.objects.filter(is_active=True))
                     if any(p.public for p in pendings) else [])
        events, deliveries = [], []
        for p in pendings:
            hooks = [e.destination for e in endpoints if p.public and e.wants(p.kind)]
            event, rows = _write_one(p, [*p.fixed, *hooks])
            events.append(event)
            deliveries += rows
    now = timezone.now()
    for countdown, ids in _by_countdown(deliveries, now).items():
        transaction.on_commit(lambda ids=ids, c=countdown: _wake_workers(ids, c), robust=True)
    return events


def _event_of(p: Pending, written: tuple[int, str] | None) -> OutboxEvent:
    if written is None:  # the key existed already: the first row stands
        return OutboxEvent.objects.get(idempotency_key=p.key)
    event = OutboxEvent(pk=written[0], idempotency_key=p.key, kind=p.kind, payload=p.payload,
                        attempt_id=p.attempt_id, next_attempt_at=p.when, state=written[1])
    event._state.adding, event._state.db = False, connection.alias
    return event


def _by_countdown(deliveries: list[tuple[int, datetime]], now: datetime) -> dict[float, list[int]]:
    groups: dict[float, list[int]] = {}
    for pk, when in deliveries:
        groups.setdefault(max((when - now).total_seconds(), 0.0), []).append(pk)
    return groups


def _write_one(p: Pending, destinations: list[str]) -> tuple[OutboxEvent, list[tuple[int, datetime]]]:
    """Other databases, one event: its row (unless its key exists), then its delivery rows."""
    settled = not destinations
    event = OutboxEvent(idempotency_key=p.key, kind=p.kind, payload=p.payload,
                        attempt_id=p.attempt_id, next_attempt_at=p.when,
                        state=State.DELIVERED if settled else State.PENDING,
                        delivered_at=timezone.now() if settled else None,
                        last_error=NO_DESTINATION if settled else "")
    event, created = _insert_once(event)
    if not created or settled:
        return event, []
    rows = OutboxDelivery.objects.bulk_create([
        OutboxDelivery(event=event, destination=dest, attempt_id=p.attempt_id,
                       next_attempt_at=p.when, idempotency_key=delivery_key(p.key, dest))
        for dest in destinations
    ])
    return event, [(row.pk, p.when) for row in rows if row.pk]


def _insert_once(event: OutboxEvent) -> tuple[OutboxEvent, bool]:
    """Insert ``event`` unless its idempotency key exists; ``(row, created)`` like get_or_create,
    in one ``INSERT … ON CONFLICT DO NOTHING RETURNING`` where the database has it (SQLite >=
    3.35) instead of get_or_create's SELECT, SAVEPOINT, INSERT, RELEASE."""
    if not connection.features.can_return_columns_from_insert:
        return OutboxEvent.objects.get_or_create(
            idempotency_key=event.idempotency_key,
            defaults={f.name: getattr(event, f.name) for f in writable_fields(OutboxEvent)
                      if f.name != "idempotency_key"})
    fields = writable_fields(OutboxEvent)
    sql = (f"INSERT INTO {qn(OutboxEvent._meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "
           f"VALUES ({', '.join(['%s'] * len(fields))}) "
           f"ON CONFLICT ({qn('idempotency_key')}) DO NOTHING RETURNING {qn('id')}")
    rows = execute(sql, [prep(f, event, add=True) for f in fields])
    if not rows:
        return OutboxEvent.objects.get(idempotency_key=event.idempotency_key), False
    event.pk = rows[0][0]
    event._state.adding, event._state.db = False, connection.alias
    return event, True


def delivery_key(event_key: str, destination: str) -> str:
    """The handler keeps the event's own key (e.g. the mock's ``Idempotency-Key``)."""
    return event_key if destination == HANDLER else f"{event_key}/{destination}"


def _wake_workers(ids: list[int], countdown: float) -> None:
    """After commit: with a broker configured, enqueue a Celery task for the new rows.

    Without one, the embedded runner (thread of ``proctorhub serve``) picks them up. If the broker
    is down, nothing is lost: the rows are in the database and the periodic sweep sends them.
    """
    from django.conf import settings

    if not getattr(settings, "CELERY_BROKER_URL", "") or countdown > MAX_COUNTDOWN_SECONDS:
        return
    from proctorhub.notifications.celery import enqueue

    enqueue(ids, countdown=countdown)


def pending_count() -> int:
    return OutboxEvent.objects.filter(state=OutboxEvent.State.PENDING).count()
