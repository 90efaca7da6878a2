"""Course staff reviewing an attempt: settle second reviews, override verified <-> rejected."""

from __future__ import annotations

import logging

from proctorhub.accounts.models import User
from proctorhub.attempts.lifecycle import ActedBy
from proctorhub.attempts.models import Attempt
from proctorhub.attempts.statuses import REVIEWABLE, Actor, Status
from proctorhub.errors import Forbidden, IllegalTransition, InvalidInput
from proctorhub.providers.base import NormalizedReview
from proctorhub.providers.registry import get_provider
from proctorhub.reviews import video
from proctorhub.reviews.models import Review, VideoLinkView
from proctorhub.reviews.services import Applied, apply_review

log = logging.getLogger(__name__)

STAFF_STATUSES = ("passed", "violation", "suspicious")


def review_by_staff(attempt: Attempt, user: User, *, status: str, reason: str,
                    comment: str = "") -> Applied:
    """Staff verdict through the same pipeline as provider reviews (history, events)."""
    if status not in STAFF_STATUSES:
        raise InvalidInput(f"staff reviews take status {', '.join(STAFF_STATUSES)}, not {status!r}")
    if not reason.strip():
        raise InvalidInput("a staff review needs a reason")
    if attempt.status in (Status.VERIFIED, Status.REJECTED):
        actor = Actor.STAFF  # an override: the table requires a reason for it
    elif attempt.status in REVIEWABLE:
        actor = Actor.REVIEWER
    else:
        raise IllegalTransition(f"attempt {attempt.pk} is {attempt.status}; staff review "
                                "submitted, second_review_required, error, verified or rejected "
                                "attempts")
    review = NormalizedReview(status=status, reviewed_by=user.email or None)
    raw = {"status": status, "comment": comment, "reason": reason, "reviewed_by": user.pk}
    applied = apply_review(attempt.pk, review, provider="staff", raw=raw,
                           by=ActedBy(actor, f"user:{user.pk}", user), reviewer=user,
                           reason=reason)
    if applied.review is None:  # identical to the review in place
        applied.review = Review.objects.get(attempt=attempt)
    return applied


def reveal_video_link(review: Review, user: User) -> str:
    """Decrypt the review's video link for course staff; every view is recorded."""
    if not review.video_link_encrypted:
        raise InvalidInput("this review has no video link")
    if not user.is_authenticated or not isinstance(user, User):
        raise Forbidden("only course staff may watch review videos")
    link = video.decrypt(get_provider(review.attempt.backend), review.video_key_id,
                         review.video_link_encrypted)
    VideoLinkView.objects.create(review=review, user=user)
    log.info("review video link viewed", extra={"attempt_id": review.attempt_id,
                                                "user_id": user.pk})
    return link
