"""Apply a normalized review to an attempt: one transaction, attempt row locked."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from proctorhub.attempts.lifecycle import ActedBy, apply_action_locked, lock_attempt
from proctorhub.attempts.models import Attempt
from proctorhub.attempts.statuses import Action, Actor, Status, find_transition
from proctorhub.attempts.store import save_attempt
from proctorhub.errors import Conflict
from proctorhub.notifications import outbox
from proctorhub.providers.base import NormalizedReview
from proctorhub.reviews.models import Review, ReviewComment
from proctorhub.reviews.policy import Decision, decide
from proctorhub.reviews.store import save_review

log = logging.getLogger(__name__)


@dataclass
class Applied:
    review: Review | None  # None for an identical re-delivery
    duplicate: bool
    old_status: str
    new_status: str
    note: str


def payload_digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()


@transaction.atomic
def apply_review(attempt_id: int, review: NormalizedReview, *, provider: str, raw: Any,
                 by: ActedBy, reviewer=None, reason: str = "",
                 video: tuple[str, str] = ("", "")) -> Applied:
    """Lock the attempt, then :func:`apply_review_locked`."""
    return apply_review_locked(lock_attempt(attempt_id), review, provider=provider, raw=raw,
                               by=by, reviewer=reviewer, reason=reason, video=video)


def apply_review_locked(attempt: Attempt, review: NormalizedReview, *, provider: str, raw: Any,
                        by: ActedBy, reviewer=None, reason: str = "",
                        video: tuple[str, str] = ("", "")) -> Applied:
    """Upsert the attempt's one review, replace its comments, move the status by policy — on an
    attempt the caller locked (:func:`lock_attempt`) in its open transaction.

    An identical re-delivery (same digest) changes nothing and emits nothing. The attempt row
    carries the digest of the review last applied, so this needs no read beyond the locked row
    (which PostgreSQL re-reads after any wait for the lock). On PostgreSQL the writes are three
    statements: review with history and comments, attempt with history, outbox.
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("apply_review_locked needs the caller's transaction holding the lock")
    digest = payload_digest({"status": review.status, "raw": raw})
    old_status = attempt.status
    if attempt.review_sha256 == digest:
        return Applied(None, True, old_status, old_status, "identical re-delivery: no change")
    has_review = bool(attempt.review_status)
    if has_review and not settings.CONFIG.reviews.get("allow_review_updates", True):
        raise Conflict(f"attempt {attempt.pk} already has a review and review updates are "
                       "disabled ([reviews] allow_review_updates = false)")
    from_staff = by.actor in (Actor.REVIEWER, Actor.STAFF)
    obj = Review(attempt=attempt, attempt_code=attempt.attempt_code, provider=provider,
                 status=review.status, raw=raw, payload_sha256=digest, reviewed_by=reviewer,
                 is_staff_review=from_staff, staff_reason=reason,
                 video_key_id=video[0], video_link_encrypted=video[1])
    obj._change_reason = f"{by.label} ({by.actor.value}) review {review.status}"
    if by.user is not None:
        obj._history_user = by.user
    comments = [ReviewComment(start=c.start, stop=c.stop, duration=c.duration, comment=c.comment,
                              status=c.status) for c in review.comments]
    # A provider's review replaces its comments; a staff verdict keeps the provider's.
    save_review(obj, comments, replace_comments=not from_staff,
                keep=() if video[1] else ("video_key_id", "video_link_encrypted"))
    attempt.review_status, attempt.review_is_staff = review.status, from_staff
    attempt.review_sha256 = digest
    decision = decide(review.status, attempt, from_staff=from_staff)
    with outbox.batch():
        note, moved = _move_status(attempt, decision, by, reason)  # updates ``attempt`` in place
        if not moved:
            save_attempt(attempt, history=False)  # the review columns only
        outbox.emit("review.received",
                    {"attempt_id": attempt.pk, "attempt_code": attempt.attempt_code,
                     "review_status": review.status, "provider": provider,
                     "course_id": attempt.exam.course_id, "exam_id": attempt.exam_id,
                     "content_id": attempt.exam.content_id, "applies": decision.action is not None},
                    attempt_id=attempt.pk, key=f"review.received:{attempt.pk}:{digest}")
        if review.status == "suspicious" and not from_staff and decision.action is not None:
            # Support hears once per suspicious provider review of a live, proctored attempt.
            outbox.emit("support.suspicious_review",
                        {"attempt_id": attempt.pk, "course_id": attempt.exam.course_id,
                         "exam_id": attempt.exam_id, "content_id": attempt.exam.content_id,
                         "review_status": review.status},
                        attempt_id=attempt.pk,
                        key=f"support.suspicious_review:{attempt.pk}:{digest}")
    return Applied(obj, False, old_status, attempt.status, note)


def _move_status(attempt, decision: Decision, by: ActedBy, reason: str = "") -> tuple[str, bool]:
    """Apply the policy's decision; ``(note, whether the attempt row was saved)``."""
    if decision.action is None:
        return decision.why, False
    moved = False
    proctored = attempt.taking_as_proctored
    if attempt.status in (Status.STARTED, Status.READY_TO_SUBMIT, Status.TIMED_OUT):
        # A review that arrives before the learner submitted first submits the attempt.
        apply_action_locked(attempt, Action.SUBMIT,
                            ActedBy(Actor.PROVIDER, by.label) if by.actor == Actor.PROVIDER else
                            ActedBy(Actor.SYSTEM, by.label),
                            reason="review arrived before submission")
        moved = True
    if find_transition(attempt.status, decision.action, by.actor, proctored=proctored) is None:
        return (f"status unchanged: {decision.action.value} is not allowed from "
                f"{attempt.status} for {by.actor.value}"), moved
    apply_action_locked(attempt, decision.action, by,
                        reason=f"{decision.why}; {reason}" if reason else decision.why)
    return decision.why, True
