"""What a review means for the attempt: the default status policy of DESIGN.md, configurable."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from proctorhub.attempts.models import Attempt
from proctorhub.attempts.statuses import Action


@dataclass(frozen=True)
class Decision:
    action: Action | None
    why: str


def decide(review_status: str, attempt: Attempt, *, from_staff: bool) -> Decision:
    """The action to apply to ``attempt`` for a review, or ``None`` to store it and change nothing."""
    exam = attempt.exam
    if attempt.is_archived:
        return Decision(None, "attempt is archived: review stored, status unchanged")
    if not exam.is_proctored or not attempt.taking_as_proctored:
        return Decision(None, "exam is not proctored: review stored, status unchanged")
    if review_status in ("passed", "violation"):
        return Decision(Action.VERIFY, f"{review_status} reviews verify the attempt")
    if review_status == "not_reviewed":
        return Decision(Action.REVIEW_ERROR, "not reviewed is a technical failure")
    if review_status == "suspicious":
        if from_staff:
            return Decision(Action.REJECT, "suspicious from course staff rejects")
        if attempt.is_sample_attempt:
            return Decision(Action.REJECT, "suspicious on a practice/onboarding attempt rejects")
        if not settings.CONFIG.reviews.get("require_failure_second_reviews", True):
            return Decision(Action.REJECT, "second reviews are off: suspicious rejects")
        return Decision(Action.REQUIRE_SECOND_REVIEW, "suspicious needs a second review")
    raise ValueError(f"unknown review status {review_status!r}")


def describe() -> list[dict[str, str]]:
    """The policy as shown to staff."""
    second = settings.CONFIG.reviews.get("require_failure_second_reviews", True)
    return [
        {"review": "passed", "attempt": "verified"},
        {"review": "violation", "attempt": "verified"},
        {"review": "not_reviewed", "attempt": "error (technical failure; the learner may retake)"},
        {"review": "suspicious", "attempt": "second_review_required" if second else "rejected"},
        {"review": "suspicious (staff, practice or onboarding)", "attempt": "rejected"},
    ]
