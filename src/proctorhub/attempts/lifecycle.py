"""The one function through which every attempt status change passes."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from proctorhub.attempts import timing
from proctorhub.attempts.models import Attempt
from proctorhub.attempts.statuses import TIMED, Action, Actor, Status, find_transition
from proctorhub.attempts.store import save_attempt
from proctorhub.errors import Conflict, IllegalTransition, InvalidInput, NotFound
from proctorhub.notifications import outbox

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ActedBy:
    """Who is acting: the role the table checks, plus an audit label (ids only) and a user."""

    actor: Actor
    label: str
    user: object | None = None


SYSTEM = ActedBy(Actor.SYSTEM, "system")


def lock_attempt(attempt_id: int) -> Attempt:
    """Lock the attempt row — only that row (``of=("self",)``): without it PostgreSQL also locks
    the joined exam and learner rows, which serializes every status change of an exam's learners
    on the exam row."""
    try:
        return (Attempt.objects.select_for_update(of=("self",)).select_related("exam", "user")
                .get(pk=attempt_id))
    except Attempt.DoesNotExist:
        raise NotFound(f"attempt {attempt_id} does not exist") from None


@transaction.atomic
def apply_action(attempt_id: int, action: Action | str, by: ActedBy, *, reason: str = "") -> Attempt:
    """Lock the attempt, check the transition table, move the status, write history and events.

    Raises :class:`IllegalTransition` (409) when the table does not allow it.
    """
    try:
        action = Action(action)
    except ValueError:
        raise InvalidInput(f"unknown action {action!r}") from None
    with outbox.batch():
        return apply_action_locked(lock_attempt(attempt_id), action, by, reason=reason)


def apply_action_locked(attempt: Attempt, action: Action | str, by: ActedBy, *,
                        reason: str = "") -> Attempt:
    """:func:`apply_action` on an attempt the caller already locked with :func:`lock_attempt`
    in its still-open transaction (saves re-reading the row; ``attempt`` is updated in place)."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("apply_action_locked needs the caller's transaction holding the lock")
    try:
        action = Action(action)
    except ValueError:
        raise InvalidInput(f"unknown action {action!r}") from None
    old = Status(attempt.status)
    if attempt.is_archived:
        raise IllegalTransition(f"attempt {attempt.pk} is archived; no action can change it")
    row = find_transition(old, action, by.actor, proctored=attempt.taking_as_proctored)
    if row is None:
        raise IllegalTransition(
            f"cannot {action.value} attempt {attempt.pk} as {by.actor.value}: "
            f"no transition from {old.value} by {action.value} for {by.actor.value}"
        )
    if row.needs_reason and not reason.strip():
        raise InvalidInput(f"{action.value} from {old.value} to {row.target.value} needs a reason")
    now = timezone.now()
    _apply_effects(attempt, action, row.target, now)
    attempt.status = row.target
    attempt._change_reason = _reason(by, action, old, row.target, reason)
    if by.user is not None and getattr(by.user, "pk", None) and hasattr(by.user, "username"):
        attempt._history_user = by.user
    save_attempt(attempt)
    if old != row.target:
        _record_change(attempt, old, Status(row.target), by, reason)
    return attempt


def _apply_effects(attempt: Attempt, action: Action, target: Status, now) -> None:
    if action == Action.START:
        exam = attempt.exam
        if exam.due_date is not None and exam.due_date <= now:
            raise Conflict(f"exam {exam.pk} was due at {exam.due_date.isoformat()}; it can't start")
        attempt.started_at = now
        attempt.allowed_time_limit_mins = timing.allowed_minutes(attempt, now)
        attempt.time_remaining_seconds = (None if attempt.allowed_time_limit_mins is None
                                          else attempt.allowed_time_limit_mins * 60)
    elif action == Action.MARK_RESUMABLE:
        attempt.is_resumable = True
    if attempt.status in TIMED and action != Action.START:
        attempt.time_remaining_seconds = timing.seconds_left(attempt, now)
    if target == Status.SUBMITTED and attempt.completed_at is None:
        attempt.completed_at = now


def _reason(by: ActedBy, action: Action, old: Status, new: Status, reason: str) -> str:
    text = f"{by.label} ({by.actor.value}) {action.value}: {old.value} -> {new.value}"
    return f"{text}; {reason.strip()}" if reason.strip() else text


def _record_change(attempt: Attempt, old: Status, new: Status, by: ActedBy, reason: str) -> None:
    """The change event and the provider's follow-ups, in the same transaction."""
    from proctorhub.providers.registry import UnknownProvider, get_provider

    outbox.emit("attempt.status_changed",
         {"attempt_id": attempt.pk, "attempt_code": attempt.attempt_code,
          "course_id": attempt.exam.course_id, "exam_id": attempt.exam_id,
          "content_id": attempt.exam.content_id, "lms_user_id": attempt.user.lms_user_id,
          "old_status": old.value,
          "new_status": new.value, "actor": by.actor.value, "reason": reason,
          "time": timezone.now().isoformat()},
         attempt_id=attempt.pk, attempt=attempt)
    try:
        provider = get_provider(attempt.backend)
    except UnknownProvider:
        provider = None
    for follow_up in provider.follow_ups(attempt, old, new) if provider else []:
        outbox.emit(follow_up.kind, follow_up.payload, attempt_id=attempt.pk,
                    delay=follow_up.delay, key=f"{follow_up.kind}:{attempt.pk}:{new.value}")
    log.info("attempt status changed", extra={"attempt_id": attempt.pk, "old": old.value,
                                              "new": new.value, "actor": by.actor.value})
