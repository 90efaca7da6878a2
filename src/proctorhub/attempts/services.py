"""Use cases on attempts other than status changes: create, archive, sweep timed-out attempts."""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from proctorhub.accounts.models import User
from proctorhub.attempts import timing
from proctorhub.attempts.lifecycle import SYSTEM, ActedBy, apply_action
from proctorhub.attempts.models import Attempt
from proctorhub.attempts.statuses import IN_PROGRESS, NOT_STARTED, TIMED, Action, Status
from proctorhub.errors import Conflict, IllegalTransition, InvalidInput, ProviderFailed
from proctorhub.exams.models import Exam
from proctorhub.notifications.outbox import emit
from proctorhub.providers.base import ProviderError
from proctorhub.providers.registry import UnknownProvider, get_provider

log = logging.getLogger(__name__)


def create_attempt(*, exam: Exam, user: User, by: ActedBy) -> Attempt:
    """Create a learner's attempt and register it with the exam's provider.

    One live attempt per learner and exam (a resumable errored attempt is resumed by a new one),
    and one proctored attempt in progress per learner across exams. The provider is called before
    anything is stored, so a provider failure leaves no half-registered attempt.
    """
    if not exam.is_active:
        raise Conflict(f"exam {exam.pk} is not active; activate it before creating attempts")
    try:
        provider = get_provider(exam.backend)
    except UnknownProvider as exc:
        raise InvalidInput(f"exam {exam.pk} uses {exc}") from None
    taking_as_proctored = exam.is_proctored and exam.backend != "null"
    draft = Attempt(exam=exam, user=user, backend=exam.backend,
                    taking_as_proctored=taking_as_proctored, is_sample_attempt=exam.is_sample)
    with transaction.atomic():
        # Known before registering, so the provider is told the time the learner really has.
        draft.resumed_from = _check_can_create(exam, user, taking_as_proctored)
    try:
        draft.external_id = provider.register_attempt(draft)
    except ProviderError as exc:
        log.warning("provider refused registration", extra={"exam_id": exam.pk, "user_id": user.pk})
        raise ProviderFailed(f"{exam.backend} could not register the attempt: {exc}") from None
    try:
        with transaction.atomic():
            # Checked again under the lock: the provider call ran outside any transaction.
            resumed_from = _check_can_create(exam, user, taking_as_proctored)
            draft.resumed_from = resumed_from
            draft._change_reason = f"{by.label} ({by.actor.value}) created"
            draft.save()
            if resumed_from is not None:
                resumed_from.is_resumable = False
                resumed_from._change_reason = f"resumed by attempt {draft.pk}"
                resumed_from.save(update_fields=["is_resumable", "modified_at"])
            emit("attempt.created", {"attempt_id": draft.pk, "exam_id": exam.pk,
                                     "content_id": exam.content_id, "course_id": exam.course_id,
                                     "status": draft.status},
                 attempt_id=draft.pk, key=f"attempt.created:{draft.pk}")
    except IntegrityError:
        _unregister_quietly(provider, draft)
        raise Conflict("the provider returned an id already used by another attempt") from None
    except Conflict:
        _unregister_quietly(provider, draft)
        raise
    return draft


def _check_can_create(exam: Exam, user: User, taking_as_proctored: bool) -> Attempt | None:
    """Lock the learner, enforce the one-attempt rules, return an attempt to resume (if any)."""
    User.objects.select_for_update().filter(pk=user.pk).first()
    live = Attempt.objects.filter(user=user, is_archived=False)
    resumed_from = None
    for existing in live.filter(exam=exam).order_by("-id"):
        if existing.status == Status.ERROR and existing.is_resumable:
            resumed_from = resumed_from or existing
            continue
        if existing.status == Status.ERROR and existing.completed_at is not None:
            continue  # a submitted attempt the provider could not review: the learner may retake
        if existing.status == Status.ERROR and Attempt.objects.filter(resumed_from=existing).exists():
            continue  # already resumed by a later attempt, which is the one that counts
        raise Conflict(
            f"learner already has attempt {existing.pk} ({existing.status}) for exam {exam.pk}; "
            "archive it (DELETE /api/v1/attempts/{id}) to allow a new one"
        )
    if taking_as_proctored:
        busy = live.filter(status__in=IN_PROGRESS, taking_as_proctored=True).exclude(exam=exam)
        other = busy.first()
        if other is not None:
            raise Conflict(
                f"learner has proctored attempt {other.pk} in progress ({other.status}); "
                "finish it before starting another proctored exam"
            )
    return resumed_from


def _unregister_quietly(provider, attempt: Attempt) -> None:
    try:
        provider.remove_attempt(attempt)
    except Exception:  # noqa: BLE001 - best effort; the attempt was never stored
        log.warning("could not remove attempt from provider", extra={"backend": attempt.backend})


@transaction.atomic
def archive_attempt(attempt_id: int, by: ActedBy, *, reason: str = "") -> Attempt:
    """Reset/delete: keep the row, flag it archived. It stays findable by both codes."""
    from proctorhub.attempts.lifecycle import lock_attempt

    attempt = lock_attempt(attempt_id)
    if attempt.is_archived:
        return attempt
    attempt.is_archived = True
    attempt.archived_at = timezone.now()
    attempt._change_reason = f"{by.label} ({by.actor.value}) archived" + (
        f"; {reason}" if reason else "")
    if by.user is not None and hasattr(by.user, "username"):
        attempt._history_user = by.user
    attempt.save()
    emit("attempt.archived", {"attempt_id": attempt.pk, "attempt_code": attempt.attempt_code,
                              "course_id": attempt.exam.course_id, "exam_id": attempt.exam_id,
                              "content_id": attempt.exam.content_id, "status": attempt.status,
                              "reason": reason},
         attempt_id=attempt.pk, key=f"attempt.archived:{attempt.pk}")
    transaction.on_commit(lambda: _remove_from_provider(attempt.pk))
    return attempt


def _remove_from_provider(attempt_id: int) -> None:
    attempt = Attempt.objects.select_related("exam").get(pk=attempt_id)
    try:
        get_provider(attempt.backend).remove_attempt(attempt)
    except Exception:  # noqa: BLE001
        log.warning("provider removal failed", extra={"attempt_id": attempt_id})


def sweep_timed_out(now=None) -> dict[str, int]:
    """Submit started attempts whose time ran out; expire unstarted ones past the due date."""
    now = now or timezone.now()
    counts = {"timed_out": 0, "expired": 0}
    running = Attempt.objects.filter(status__in=TIMED, is_archived=False,
                                      allowed_time_limit_mins__isnull=False)
    for attempt in running.only("id", "started_at", "allowed_time_limit_mins").iterator():
        end = timing.deadline(attempt)
        if end is None or end > now:
            continue
        try:
            with transaction.atomic():
                apply_action(attempt.pk, Action.TIME_OUT, SYSTEM, reason="time limit reached")
                apply_action(attempt.pk, Action.SUBMIT, SYSTEM, reason="submitted at time out")
            counts["timed_out"] += 1
        except IllegalTransition:
            continue  # someone else moved it meanwhile
    overdue = Attempt.objects.filter(status__in=NOT_STARTED, is_archived=False,
                                     exam__due_date__lte=now)
    for attempt_id in overdue.values_list("id", flat=True):
        try:
            apply_action(attempt_id, Action.EXPIRE, SYSTEM, reason="due date passed")
            counts["expired"] += 1
        except IllegalTransition:
            continue
    return counts
