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
from proctorhub.errors import Conflict
from proctorhub.notifications.outbox import emit
from proctorhub.providers.base import NormalizedReview
from proctorhub.reviews.models import Review, ReviewComment
from proctorhub.reviews.policy import Decision, decide

log = logging.getLogger(__name__)


@dataclass
class Applied:
    review: Review
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
    """Upsert the attempt's one review, replace its comments, move the status by policy.

    An identical re-delivery (same digest) changes nothing and emits nothing.
    """
    attempt = lock_attempt(attempt_id)
    digest = payload_digest({"status": review.status, "raw": raw})
    # Read after the lock, in its own statement: on PostgreSQL a row joined into the locking
    # query comes from the snapshot taken before waiting, so a review committed by the
    # transaction we waited for would be missed.
    existing = Review.objects.filter(attempt=attempt).first()
    old_status = attempt.status
    if existing is not None and existing.payload_sha256 == digest:
        return Applied(existing, True, old_status, old_status, "identical re-delivery: no change")
    if existing is not None and not settings.CONFIG.reviews.get("allow_review_updates", True):
        raise Conflict(f"attempt {attempt.pk} already has a review and review updates are "
                       "disabled ([reviews] allow_review_updates = false)")
    from_staff = by.actor in (Actor.REVIEWER, Actor.STAFF)
    obj = existing or Review(attempt=attempt, attempt_code=attempt.attempt_code)
    obj.provider, obj.status, obj.raw, obj.payload_sha256 = provider, review.status, raw, digest
    obj.reviewed_by, obj.is_staff_review, obj.staff_reason = reviewer, from_staff, reason
    if video[1]:
        obj.video_key_id, obj.video_link_encrypted = video
    obj._change_reason = f"{by.label} ({by.actor.value}) review {review.status}"
    obj.save()
    if not from_staff and existing is not None:
        # A provider's review replaces its comments; a staff verdict keeps the provider's.
        obj.comments.all().delete()
    ReviewComment.objects.bulk_create(
        ReviewComment(review=obj, start=c.start, stop=c.stop, duration=c.duration,
                      comment=c.comment, status=c.status) for c in review.comments
    )
    decision = decide(review.status, attempt, from_staff=from_staff)
    attempt.review_status, attempt.review_is_staff = review.status, from_staff
    attempt.review_sha256 = digest
    note = _move_status(attempt, decision, by, reason)  # updates ``attempt`` in place
    attempt.refresh_derived()
    Attempt.objects.filter(pk=attempt.pk).update(
        review_status=attempt.review_status, review_is_staff=from_staff, review_sha256=digest,
        queue_priority=attempt.queue_priority)
    emit("review.received", {"attempt_id": attempt.pk, "attempt_code": attempt.attempt_code,
                             "review_status": review.status, "provider": provider,
                             "course_id": attempt.exam.course_id, "exam_id": attempt.exam_id,
                             "applies": decision.action is not None},
         attempt_id=attempt.pk, key=f"review.received:{attempt.pk}:{digest}")
    if review.status == "suspicious" and not from_staff and decision.action is not None:
        # Support hears once per suspicious provider review of a live, proctored attempt.
        emit("support.suspicious_review",
             {"attempt_id": attempt.pk, "course_id": attempt.exam.course_id,
              "exam_id": attempt.exam_id, "review_status": review.status},
             attempt_id=attempt.pk, key=f"support.suspicious_review:{attempt.pk}:{digest}")
    return Applied(obj, False, old_status, attempt.status, note)


def _move_status(attempt, decision: Decision, by: ActedBy, reason: str = "") -> str:
    if decision.action is None:
        return decision.why
    proctored = attempt.taking_as_proctored
    if attempt.status in (Status.STARTED, Status.READY_TO_SUBMIT, Status.TIMED_OUT):
        # A review that arrives before the learner submitted first submits the attempt.
        apply_action_locked(attempt, Action.SUBMIT,
                            ActedBy(Actor.PROVIDER, by.label) if by.actor == Actor.PROVIDER else
                            ActedBy(Actor.SYSTEM, by.label),
                            reason="review arrived before submission")
    if find_transition(attempt.status, decision.action, by.actor, proctored=proctored) is None:
        return (f"status unchanged: {decision.action.value} is not allowed from "
                f"{attempt.status} for {by.actor.value}")
    apply_action_locked(attempt, decision.action, by,
                        reason=f"{decision.why}; {reason}" if reason else decision.why)
    return decision.why
