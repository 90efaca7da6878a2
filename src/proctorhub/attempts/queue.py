"""Where an attempt stands in the staff queue: one rule, stored on the attempt row.

Second reviews come first, then errors and reviews a provider (not staff) called suspicious, then
everything else. The rule lives here, in one place; :meth:`Attempt.save` and the review store
write its result to ``Attempt.queue_priority`` so the queue reads an indexed column.
"""

from __future__ import annotations

SECOND_REVIEW = 0
FLAGGED = 1
ROUTINE = 2

NEEDS_A_HUMAN = (SECOND_REVIEW, FLAGGED)


def priority(status: str, review_status: str, review_is_staff: bool) -> int:
    if status == "second_review_required":
        return SECOND_REVIEW
    if status == "error" or (review_status == "suspicious" and not review_is_staff):
        return FLAGGED
    return ROUTINE
