"""Send due outbox deliveries through their channel, with retries, backoff and ordering.

One dispatch path, two runners: :func:`drain` (the embedded thread of ``proctorhub serve``, the
sweep of ``proctorhub worker``) and :func:`send_rows` (the Celery task enqueued on commit).

- **Claim**: due rows are leased (``next_attempt_at = now + lease``, ``tries + 1``) in a short
  transaction with ``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL, then sent with no
  transaction open. A runner that dies mid-batch loses nothing: its rows come due again when the
  lease ends. A runner that was presumed dead and comes back cannot overwrite the outcome of a
  newer claim (updates are fenced on ``tries``).
- **Order**: a row is not claimed while an earlier row of the same attempt and destination is
  still pending (in flight or waiting for a retry), so receivers see an attempt's events in order,
  across retries. A dead row no longer holds the line (it waits for an operator's replay).
- **Outcome**: success → delivered; :class:`Skipped` → delivered with a note; :class:`GiveUp` →
  dead at once; any other exception → retried with exponential backoff and jitter, dead after
  ``[outbox] max_tries``.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterable
from datetime import timedelta
from functools import reduce
from operator import or_

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, F, Max, Min, OuterRef, Q
from django.utils import timezone

from proctorhub.notifications.models import OutboxDelivery, OutboxEvent, State

log = logging.getLogger(__name__)

Handler = Callable[[OutboxEvent], None]
_HANDLERS: dict[str, Handler] = {}


class RetryLater(Exception):
    """A handler raises this (or any exception) to have the row retried with backoff."""


class GiveUp(Exception):
    """A handler raises this when retrying cannot help (e.g. the receiver refused the event):
    the row is parked as dead at once, with the message as its last error, for a later replay."""


class Skipped(Exception):
    """Nothing to send for this row (e.g. the learner has no email address): delivered, noted."""


def handles(kind: str) -> Callable[[Handler], Handler]:
    """Register an in-process handler for an event kind (destination ``handler``)."""

    def register(fn: Handler) -> Handler:
        _HANDLERS[kind] = fn
        return fn

    return register


def has_handler(kind: str) -> bool:
    _load_channels()
    return kind in _HANDLERS


def _cfg(name: str) -> float:
    return float(settings.CONFIG.outbox[name])


def max_tries() -> int:
    return int(_cfg("max_tries"))


def backoff(tries: int) -> timedelta:
    base = _cfg("base_delay_seconds") * (2 ** max(tries - 1, 0))
    return timedelta(seconds=min(base, _cfg("max_delay_seconds")) * random.uniform(0.8, 1.2))


def _claim(limit: int, *, ids: Iterable[int] | None = None,
           chains: Iterable[tuple[int, str]] | None = None) -> list[OutboxDelivery]:
    """Lease up to ``limit`` due rows (optionally among ``ids`` / the given attempt chains)."""
    now = timezone.now()
    earlier_pending = OutboxDelivery.objects.filter(
        attempt_id=OuterRef("attempt_id"), destination=OuterRef("destination"),
        state=State.PENDING, pk__lt=OuterRef("pk"))
    qs = OutboxDelivery.objects.filter(state=State.PENDING, next_attempt_at__lte=now)
    if ids is not None:
        qs = qs.filter(pk__in=list(ids))
    if chains is not None:
        chains = list(chains)
        if not chains:
            return []
        qs = qs.filter(reduce(or_, (Q(attempt_id=a, destination=d) for a, d in chains)))
    qs = qs.filter(~Exists(earlier_pending)).order_by("next_attempt_at", "id")
    with transaction.atomic():
        if connection.features.has_select_for_update_skip_locked:
            qs = qs.select_for_update(skip_locked=True, of=("self",))
        rows = list(qs.select_related("event")[:limit])
        if rows:
            OutboxDelivery.objects.filter(pk__in=[r.pk for r in rows]).update(
                next_attempt_at=now + timedelta(seconds=_cfg("lease_seconds")),
                tries=F("tries") + 1)
    for row in rows:
        row.tries += 1
    return rows


def drain(limit: int = 100) -> int:
    """Send up to ``limit`` due rows in batches; return how many were tried (rows handed back
    unsent because their receiver just failed are not counted)."""
    _load_channels()
    batch = max(1, min(limit, int(_cfg("batch_size"))))
    claimed = tried = 0
    while claimed < limit:
        rows = _claim(min(batch, limit - claimed))
        if not rows:
            break
        _, released = _send_batch(rows)
        claimed += len(rows)
        tried += len(rows) - released
    settle()
    return tried


def send_rows(ids: list[int], *, rounds: int = 50) -> int:
    """Send the given rows (the Celery task for rows just committed), then their successors.

    A row still blocked by an earlier one of its attempt is left to whoever sends that earlier row
    (it follows the chain) or to the sweep.
    """
    _load_channels()
    rows = _claim(len(ids), ids=ids)
    tried = 0
    while rows and rounds > 0:
        sent_ok, released = _send_batch(rows)
        tried += len(rows) - released
        rounds -= 1
        rows = _claim(int(_cfg("batch_size")), chains=sent_ok)
    return tried


# Successes at in-process destinations (tracking log, handlers) are recorded together, at most
# this long after the first of them: one UPDATE instead of one per row. A crash in between sends
# them again (at-least-once: handlers get the idempotency key; tracking lines carry event_id).
# Successes at external receivers are recorded as soon as their request is done (webhooks sent
# concurrently: those that finished together, in one UPDATE).
FLUSH_SECONDS = 0.5
BATCHED_DESTINATIONS = ("tracking", "handler")


def _send_batch(rows: list[OutboxDelivery]) -> tuple[list[tuple[int, str]], int]:
    """Send claimed rows; return the (attempt, destination) chains that advanced and how many
    rows were handed back unsent.

    A claim holds at most one row per chain (an earlier pending row blocks a later one), so
    rows sent concurrently never overtake each other within an attempt's destination.
    """
    from proctorhub.notifications.channels import preparer_for

    concurrent: list[OutboxDelivery] = []
    one_by_one: list[OutboxDelivery] = []
    for row in rows:
        (one_by_one if preparer_for(row.destination) is None else concurrent).append(row)
    advanced, released = _send_concurrently(concurrent)
    broken: dict[str, timedelta] = {}
    done: list[OutboxDelivery] = []
    first_done = 0.0
    for row in one_by_one:
        if row.destination in broken:
            # This destination just failed in this batch: don't wait on it row after row.
            _release([row], broken[row.destination])
            released += 1
            continue
        outcome = _send_one(row)
        if outcome == SENT and row.destination not in BATCHED_DESTINATIONS:
            _record_delivered([row])
        elif outcome == SENT:
            done.append(row)
            first_done = first_done or time.monotonic()
            if time.monotonic() - first_done > FLUSH_SECONDS:
                _record_delivered(done)
                done, first_done = [], 0.0
        if outcome != FAILED and row.attempt_id is not None:
            advanced.append((row.attempt_id, row.destination))
        elif outcome == FAILED and row.destination != "handler":
            broken[row.destination] = backoff(1)
    _record_delivered(done)
    _summarize({row.event_id for row in rows})
    return advanced, released


def _send_concurrently(rows: list[OutboxDelivery]) -> tuple[list[tuple[int, str]], int]:
    """Prepare each row here (database reads), transmit them together on the send pool, then
    record every outcome here. A destination that fails is not tried again in this batch."""
    from proctorhub.notifications import transmit
    from proctorhub.notifications.channels import prepare, preparer_for

    if not rows:
        return [], 0
    prepare(rows)
    advanced: list[tuple[int, str]] = []
    unsent: list[OutboxDelivery] = []
    jobs: list[tuple[str, transmit.Transmit]] = []
    ready: list[OutboxDelivery] = []
    refused: set[str] = set()
    for row in rows:
        if row.destination in refused:
            unsent.append(row)
            continue
        try:
            jobs.append((row.destination, preparer_for(row.destination)(row, row.event)))
        except Exception as exc:  # noqa: BLE001 - same outcomes as a failed send
            if _settle(row, exc) == FAILED:
                refused.add(row.destination)
            elif row.attempt_id is not None:
                advanced.append((row.attempt_id, row.destination))
            continue
        ready.append(row)
    for finished in transmit.run_all(jobs):
        sent: list[OutboxDelivery] = []
        for index, exc in finished:
            row = ready[index]
            if isinstance(exc, transmit.NotTried):
                unsent.append(row)
                continue
            outcome = _settle(row, exc)
            if outcome == SENT:
                sent.append(row)
            if outcome != FAILED and row.attempt_id is not None:
                advanced.append((row.attempt_id, row.destination))
        _record_delivered(sent)  # at once: a slow request must not hold back the others
    _release(unsent, backoff(1))
    return advanced, len(unsent)


def _record_delivered(rows: list[OutboxDelivery]) -> None:
    for tries, ids in _by_tries(rows).items():  # fenced on tries, like every outcome
        OutboxDelivery.objects.filter(pk__in=ids, tries=tries).update(
            state=State.DELIVERED, delivered_at=timezone.now(), last_error="")


def _release(rows: list[OutboxDelivery], after: timedelta) -> None:
    """Hand claimed but unsent rows back: not a try, due again shortly."""
    for tries, ids in _by_tries(rows).items():
        OutboxDelivery.objects.filter(pk__in=ids, tries=tries).update(
            tries=F("tries") - 1, next_attempt_at=timezone.now() + after)


def _by_tries(rows: list[OutboxDelivery]) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = {}
    for row in rows:
        groups.setdefault(row.tries, []).append(row.pk)
    return groups


SENT, SKIPPED, FAILED = "sent", "skipped", "failed"


def _send_one(row: OutboxDelivery) -> str:
    """Send one row; record a failure or a skip here, leave a success (SENT) to the caller."""
    from proctorhub.notifications.channels import sender_for

    try:
        sender_for(row.destination)(row, row.event)
    except Exception as exc:  # noqa: BLE001 - _settle sorts out what the failure means
        return _settle(row, exc)
    return SENT


def _settle(row: OutboxDelivery, exc: BaseException | None) -> str:
    """Record what a send's exception means (nothing to record for a success: SENT)."""
    if exc is None:
        return SENT
    update: dict = {}
    outcome = FAILED
    if isinstance(exc, GiveUp):
        update.update(state=State.DEAD, last_error=f"GiveUp: {exc}"[:2000])
        log.warning("outbox send refused; parked as dead", extra=_ids(row))
    elif isinstance(exc, Skipped):
        update.update(state=State.DELIVERED, delivered_at=timezone.now(),
                      last_error=f"skipped: {exc}"[:2000])
        outcome = SKIPPED
    else:  # any other failure is retried, then parked as dead
        update["last_error"] = f"{type(exc).__name__}: {exc}"[:2000]
        if row.tries >= max_tries():
            update["state"] = State.DEAD
        else:
            update["next_attempt_at"] = timezone.now() + backoff(row.tries)
        log.warning("outbox send failed", extra={**_ids(row), "error": type(exc).__name__})
    # Fenced on tries: if our lease ran out and another runner claimed the row, it decides.
    OutboxDelivery.objects.filter(pk=row.pk, tries=row.tries).update(**update)
    return outcome


def _ids(row: OutboxDelivery) -> dict:
    return {"outbox_id": row.event_id, "delivery_id": row.pk, "kind": row.event.kind,
            "destination": row.destination, "tries": row.tries}


def _summarize(event_ids: Iterable[int]) -> None:
    """Bring each event's state/tries/last_error/next time in line with its deliveries.

    The event rows are locked while summarising, so concurrent runners finishing deliveries of
    the same event serialise here and the last one sees every committed outcome. Events with the
    same summary are updated together (one statement per distinct summary, usually one).
    """
    ids = sorted(set(event_ids))
    if not ids:
        return
    now = timezone.now()
    with transaction.atomic():
        locked = list(OutboxEvent.objects.select_for_update().filter(pk__in=ids)
                      .order_by("pk").values_list("pk", flat=True))
        stats = {s["event_id"]: s for s in OutboxDelivery.objects.filter(event_id__in=locked)
                 .values("event_id").annotate(
                     pending=Count("id", filter=Q(state=State.PENDING)),
                     dead=Count("id", filter=Q(state=State.DEAD)), tries=Max("tries"),
                     next_at=Min("next_attempt_at", filter=Q(state=State.PENDING)))}
        errors: dict[int, str] = {}
        for event_id, error in (OutboxDelivery.objects.filter(event_id__in=locked)
                                .exclude(last_error="").exclude(state=State.DELIVERED)
                                .order_by("id").values_list("event_id", "last_error")):
            errors.setdefault(event_id, error)
        groups: dict[tuple, list[int]] = {}
        for event_id in locked:
            s = stats.get(event_id)
            if s is None:  # no deliveries at all (e.g. written before the channels existed)
                change = (("state", State.DELIVERED), ("delivered_at", now),
                          ("last_error", "no destination for this kind"))
            elif s["pending"]:
                change = (("state", State.PENDING), ("tries", s["tries"]),
                          ("next_attempt_at", s["next_at"]),
                          ("last_error", errors.get(event_id, "")), ("delivered_at", None))
            else:
                state = State.DEAD if s["dead"] else State.DELIVERED
                change = (("state", state), ("tries", s["tries"]),
                          ("last_error", errors.get(event_id, "")),
                          ("delivered_at", now if state == State.DELIVERED else None))
            groups.setdefault(change, []).append(event_id)
        for change, members in groups.items():
            OutboxEvent.objects.filter(pk__in=members).update(**dict(change))


def settle(limit: int = 500) -> int:
    """Summarise pending events none of whose deliveries is pending (left by a crash)."""
    pending = OutboxDelivery.objects.filter(event_id=OuterRef("pk"), state=State.PENDING)
    ids = list(OutboxEvent.objects.filter(state=State.PENDING).filter(~Exists(pending))
               .values_list("pk", flat=True)[:limit])
    _summarize(ids)
    return len(ids)


def _load_channels() -> None:
    # Import modules whose handlers register themselves with @handles.
    from proctorhub.providers import mock  # noqa: F401
