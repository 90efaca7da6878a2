"""Reads of reviews, shaped for the API: never the photo, never the raw video link."""

from __future__ import annotations

from typing import Any

from proctorhub.reviews.models import Review


def _who(user) -> str | None:
    return user.email or user.username if user is not None else None


def review_document(review: Review) -> dict[str, Any]:
    history = review.history.order_by("history_date", "history_id").select_related("history_user")
    return {
        "status": review.status,
        "provider": review.provider,
        "reviewed_by": _who(review.reviewed_by),
        "is_staff_review": review.is_staff_review,
        "has_video": bool(review.video_link_encrypted),
        "comments": [
            {"start": c.start, "stop": c.stop, "duration": c.duration, "comment": c.comment,
             "status": c.status}
            for c in review.comments.all()
        ],
        "history": [
            {"status": h.status, "reviewed_by_id": h.reviewed_by_id, "date": h.history_date,
             "reason": h.history_change_reason, "staff_reason": h.staff_reason}
            for h in history
        ],
        "created_at": review.created_at,
        "modified_at": review.modified_at,
    }
