"""Write outbox rows inside the caller's transaction."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from proctorhub.notifications.models import OutboxEvent


def emit(kind: str, payload: dict[str, Any], *, key: str | None = None,
         attempt_id: int | None = None, delay: timedelta | None = None,
         not_before: datetime | None = None) -> OutboxEvent:
    """Record a side effect to perform after the current transaction commits.

    ``key`` makes the event idempotent: emitting the same key twice keeps the first row.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("outbox events must be written inside the transaction of the change")
    when = not_before or (timezone.now() + (delay or timedelta(0)))
    event, _ = OutboxEvent.objects.get_or_create(
        idempotency_key=key or f"{kind}:{uuid.uuid4().hex}",
        defaults={"kind": kind, "payload": payload, "attempt_id": attempt_id,
                  "next_attempt_at": when},
    )
    return event


def pending_count() -> int:
    return OutboxEvent.objects.filter(state=OutboxEvent.State.PENDING).count()
