"""Time allowed for an attempt, fixed when it starts, and time remaining."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from decimal import Decimal

from proctorhub.attempts.models import Attempt
from proctorhub.exams.models import Allowance


def allowed_minutes(attempt: Attempt, now: datetime) -> int | None:
    """Minutes the learner gets from ``now``: time limit, plus allowance or times multiplier,
    never past the due date. A resumed attempt gets only the time its predecessor had left.
    ``None`` means untimed."""
    exam = attempt.exam
    if attempt.resumed_from_id and attempt.resumed_from.time_remaining_seconds is not None:
        minutes: float | None = attempt.resumed_from.time_remaining_seconds / 60
    elif exam.time_limit_mins is None:
        minutes = None
    else:
        minutes = float(exam.time_limit_mins)
        allowance = Allowance.objects.filter(exam=exam, user=attempt.user).first()
        if allowance is not None:
            if allowance.time_multiplier:
                minutes = float(Decimal(exam.time_limit_mins) * allowance.time_multiplier)
            minutes += allowance.additional_minutes
    if exam.due_date is not None:
        until_due = (exam.due_date - now).total_seconds() / 60
        minutes = until_due if minutes is None else min(minutes, until_due)
    if minutes is None:
        return None
    return max(0, math.floor(minutes))


def deadline(attempt: Attempt) -> datetime | None:
    if attempt.started_at is None or attempt.allowed_time_limit_mins is None:
        return None
    return attempt.started_at + timedelta(minutes=attempt.allowed_time_limit_mins)


def seconds_left(attempt: Attempt, now: datetime) -> int | None:
    end = deadline(attempt)
    if end is None:
        return None
    return max(0, int((end - now).total_seconds()))
