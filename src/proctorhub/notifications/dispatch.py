"""Send due outbox rows through their channel, with retries and backoff.

Channels register a handler per event kind. Kinds nobody handles yet are marked delivered with a
note, so the outbox does not grow without bound. One runner today: :func:`drain` (called by the
embedded background thread of ``proctorhub serve`` and by ``proctorhub worker``).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from proctorhub.notifications.models import OutboxEvent

log = logging.getLogger(__name__)

Handler = Callable[[OutboxEvent], None]
_HANDLERS: dict[str, Handler] = {}

MAX_TRIES = 8
BASE_DELAY_SECONDS = 5


class RetryLater(Exception):
    """A handler raises this (or any exception) to have the row retried with backoff."""


class GiveUp(Exception):
    """A handler raises this when retrying cannot help (e.g. the receiver refused the event):
    the row is parked as dead at once, with the message as its last error, for a later replay."""


def handles(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _HANDLERS[kind] = fn
        return fn

    return register


def backoff(tries: int) -> timedelta:
    base = BASE_DELAY_SECONDS * (2 ** max(tries - 1, 0))
    return timedelta(seconds=min(base, 3600) * random.uniform(0.8, 1.2))


LEASE = timedelta(minutes=5)


def _claim(limit: int) -> list[OutboxEvent]:
    """Take up to ``limit`` due rows for this runner by leasing them for :data:`LEASE`.

    The lease is committed before anything is sent, so no transaction is held during network
    calls; a runner that dies mid-batch loses nothing: its rows come due again when the lease ends.
    """
    now = timezone.now()
    with transaction.atomic():
        qs = OutboxEvent.objects.filter(
            state=OutboxEvent.State.PENDING, next_attempt_at__lte=now
        ).order_by("next_attempt_at", "id")
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True)
        events = list(qs[:limit])
        OutboxEvent.objects.filter(pk__in=[e.pk for e in events]).update(
            next_attempt_at=now + LEASE, tries=F("tries") + 1
        )
    for event in events:
        event.tries += 1
    return events


def drain(limit: int = 100) -> int:
    """Send up to ``limit`` due rows; return how many were tried."""
    _load_channels()
    events = _claim(limit)
    for event in events:
        _send_one(event)
    return len(events)


def _send_one(event: OutboxEvent) -> None:
    handler = _HANDLERS.get(event.kind)
    update: dict = {}
    try:
        if handler is not None:
            handler(event)
    except GiveUp as exc:
        update.update(state=OutboxEvent.State.DEAD, last_error=f"GiveUp: {exc}"[:2000])
        log.warning("outbox send refused; parked as dead",
                    extra={"outbox_id": event.pk, "kind": event.kind, "tries": event.tries})
    except Exception as exc:  # noqa: BLE001 - any failure is retried, then parked as dead
        update["last_error"] = f"{type(exc).__name__}: {exc}"[:2000]
        if event.tries >= MAX_TRIES:
            update["state"] = OutboxEvent.State.DEAD
        else:
            update["next_attempt_at"] = timezone.now() + backoff(event.tries)
        log.warning("outbox send failed", extra={"outbox_id": event.pk, "kind": event.kind,
                                                 "tries": event.tries})
    else:
        update.update(state=OutboxEvent.State.DELIVERED, delivered_at=timezone.now(),
                      last_error="" if handler else "no channel handles this kind yet")
    OutboxEvent.objects.filter(pk=event.pk).update(**update)


def _load_channels() -> None:
    # Import modules whose handlers register themselves with @handles.
    from proctorhub.providers import mock  # noqa: F401
