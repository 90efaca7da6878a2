"""Write outbox rows inside the caller's transaction; wake the workers after it commits."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from proctorhub.notifications.models import OutboxDelivery, OutboxEvent, State
from proctorhub.notifications.routing import HANDLER, destinations_for

# Delayed rows due within this long are handed to Celery with a countdown; later ones wait for
# the periodic sweep (long ETAs in a broker are fragile).
MAX_COUNTDOWN_SECONDS = 300


def emit(kind: str, payload: dict[str, Any], *, key: str | None = None,
         attempt_id: int | None = None, delay: timedelta | None = None,
         not_before: datetime | None = None) -> OutboxEvent:
    """Record a side effect to perform after the current transaction commits.

    ``key`` makes the event idempotent: emitting the same key twice keeps the first row. The event
    gets one delivery row per destination (see :mod:`~proctorhub.notifications.routing`), each with
    a key derived from the event's, which receivers see as ``webhook-id`` on every re-send.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("outbox events must be written inside the transaction of the change")
    now = timezone.now()
    when = not_before or (now + (delay or timedelta(0)))
    event, created = _insert_once(OutboxEvent(
        idempotency_key=key or f"{kind}:{uuid.uuid4().hex}", kind=kind, payload=payload,
        attempt_id=attempt_id, next_attempt_at=when))
    if not created:
        return event
    destinations = destinations_for(kind, payload, attempt_id)
    if not destinations:
        OutboxEvent.objects.filter(pk=event.pk).update(
            state=State.DELIVERED, delivered_at=now, last_error="no destination for this kind")
        event.state, event.delivered_at = State.DELIVERED, now
        event.last_error = "no destination for this kind"
        return event
    rows = OutboxDelivery.objects.bulk_create([
        OutboxDelivery(event=event, destination=dest, attempt_id=attempt_id, next_attempt_at=when,
                       idempotency_key=delivery_key(event.idempotency_key, dest))
        for dest in destinations
    ])
    ids = [row.pk for row in rows]
    if all(ids):  # bulk_create returns primary keys on PostgreSQL and SQLite
        countdown = max((when - now).total_seconds(), 0)
        transaction.on_commit(lambda: _wake_workers(ids, countdown), robust=True)
    return event


def _insert_once(event: OutboxEvent) -> tuple[OutboxEvent, bool]:
    """Insert ``event`` unless its idempotency key exists; ``(row, created)`` like get_or_create.

    One ``INSERT … ON CONFLICT DO NOTHING RETURNING id`` (PostgreSQL, SQLite >= 3.35) instead of
    get_or_create's SELECT, SAVEPOINT, INSERT, RELEASE; the existing row is read only when the
    key was already taken. A concurrent insert of the same key waits for the other transaction,
    as with the unique index get_or_create relies on.
    """
    connection = transaction.get_connection()
    if connection.vendor not in ("postgresql", "sqlite") or not (
            connection.features.can_return_columns_from_insert):
        return OutboxEvent.objects.get_or_create(
            idempotency_key=event.idempotency_key,
            defaults={"kind": event.kind, "payload": event.payload,
                      "attempt_id": event.attempt_id, "next_attempt_at": event.next_attempt_at})
    meta = OutboxEvent._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(event, add=True), connection) for f in fields]
    qn = connection.ops.quote_name
    sql = (f"INSERT INTO {qn(meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "
           f"VALUES ({', '.join(['%s'] * len(fields))}) "
           f"ON CONFLICT ({qn(meta.get_field('idempotency_key').column)}) DO NOTHING "
           f"RETURNING {qn(meta.pk.column)}")
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        row = cursor.fetchone()
    if row is None:
        return OutboxEvent.objects.get(idempotency_key=event.idempotency_key), False
    event.pk = row[0]
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
