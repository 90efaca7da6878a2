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
    event, created = OutboxEvent.objects.get_or_create(
        idempotency_key=key or f"{kind}:{uuid.uuid4().hex}",
        defaults={"kind": kind, "payload": payload, "attempt_id": attempt_id,
                  "next_attempt_at": when},
    )
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
