"""Reads for the staff pages: the review queue, its counts and CSV export, exams, allowances.

The queue page issues a constant number of queries whatever its page size: each row's exam,
learner and review come through ``select_related``; priority and age are SQL annotations; the
counts are one aggregate. Attempt-page reads live in :mod:`proctorhub.dashboard.attempt_selectors`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.db.models import Case, Count, IntegerField, Q, QuerySet, Value, When

from proctorhub.attempts.models import Attempt
from proctorhub.attempts.statuses import Status
from proctorhub.dashboard.access import scoped
from proctorhub.dashboard.forms import ALL, ATTENTION, SUSPICIOUS
from proctorhub.exams.models import Allowance, Exam
from proctorhub.providers.registry import available

#: A provider (not staff) said "suspicious": someone should look, even if the policy decided.
SUSPICIOUS_Q = Q(review__status="suspicious", review__is_staff_review=False)
#: What needs a human: second reviews first, then suspicious provider reviews and errors.
ATTENTION_Q = Q(status=Status.SECOND_REVIEW_REQUIRED) | Q(status=Status.ERROR) | SUSPICIOUS_Q

PRIORITY = Case(
    When(status=Status.SECOND_REVIEW_REQUIRED, then=Value(0)),
    When(Q(status=Status.ERROR) | SUSPICIOUS_Q, then=Value(1)),
    default=Value(2),
    output_field=IntegerField(),
)

#: Chips above the queue: (key, label, condition). One aggregate query computes them all.
COUNT_CHIPS: list[tuple[str, str, Q | None]] = [
    (ATTENTION, "Needs a human", ATTENTION_Q),
    (Status.SECOND_REVIEW_REQUIRED.value, "Second review required",
     Q(status=Status.SECOND_REVIEW_REQUIRED)),
    (SUSPICIOUS, "Suspicious (provider)", SUSPICIOUS_Q),
    (Status.ERROR.value, "Error", Q(status=Status.ERROR)),
    (Status.SUBMITTED.value, "Submitted", Q(status=Status.SUBMITTED)),
    (Status.VERIFIED.value, "Verified", Q(status=Status.VERIFIED)),
    (Status.REJECTED.value, "Rejected", Q(status=Status.REJECTED)),
    (ALL, "All", None),
]


def day_start(day) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def filtered_attempts(courses: list[str] | None, f: dict[str, Any]) -> QuerySet[Attempt]:
    """Live attempts in the user's courses matching every filter except the status."""
    qs = scoped(Attempt.objects.filter(is_archived=False), courses)
    if f["course"]:
        qs = qs.filter(exam__course_id=f["course"])
    if f["exam"]:
        qs = qs.filter(exam_id=f["exam"])
    if f["provider"]:
        qs = qs.filter(backend=f["provider"])
    # ``activity_at``: "submitted" time, or creation for attempts never submitted (stored).
    if f["date_from"]:
        qs = qs.filter(activity_at__gte=day_start(f["date_from"]))
    if f["date_to"]:
        qs = qs.filter(activity_at__lt=day_start(f["date_to"] + timedelta(days=1)))
    if f["q"]:
        text = f["q"]
        match = (Q(user__username__icontains=text) | Q(user__lms_user_id=text)
                 | Q(external_id__iexact=text))
        if text.isdigit():
            match |= Q(pk=int(text))
        qs = qs.filter(match)
    return qs


def with_status(qs: QuerySet[Attempt], status: str) -> QuerySet[Attempt]:
    if status == ATTENTION:
        return qs.filter(ATTENTION_Q)
    if status == ALL:
        return qs
    if status == SUSPICIOUS:
        return qs.filter(SUSPICIOUS_Q)
    return qs.filter(status=status)


def queue(courses: list[str] | None, f: dict[str, Any]) -> QuerySet[Attempt]:
    """The queue, ordered: second reviews first, then suspicious/errored, then by age."""
    qs = with_status(filtered_attempts(courses, f), f["status"]).annotate(priority=PRIORITY)
    age = "activity_at" if f["sort"] == "oldest" else "-activity_at"
    return (qs.select_related("exam", "user", "review")
            .order_by("priority", age, "id" if f["sort"] == "oldest" else "-id"))


def queue_counts(courses: list[str] | None, f: dict[str, Any]) -> list[dict[str, Any]]:
    """Counts per status chip under the current filters (the status filter aside): one query."""
    qs = filtered_attempts(courses, f)
    totals = qs.aggregate(**{key: Count("id", filter=cond) if cond is not None else Count("id")
                             for key, _, cond in COUNT_CHIPS})
    return [{"key": key, "label": label, "count": totals[key], "active": key == f["status"]}
            for key, label, _ in COUNT_CHIPS]


def filter_options(courses: list[str] | None) -> dict[str, Any]:
    """Choices for the course, exam and provider filters: at most two queries."""
    if courses is None:
        course_ids = list(Exam.objects.order_by("course_id").values_list("course_id", flat=True)
                          .distinct())
    else:
        course_ids = sorted(courses)
    exams = list(scoped(Exam.objects.all(), courses, "course_id")
                 .only("id", "course_id", "exam_name", "is_active")
                 .order_by("course_id", "exam_name", "id"))
    return {"courses": course_ids, "exams": exams, "providers": available()}


# --- CSV export -------------------------------------------------------------------------------

CSV_COLUMNS = ["attempt_id", "course_id", "exam_id", "exam_name", "username", "lms_user_id",
               "status", "review_status", "reviewed_by_staff", "provider", "external_id",
               "created_at", "started_at", "submitted_at", "allowed_time_limit_mins",
               "waiting_hours"]


def _cell(value: Any) -> str:
    """A CSV cell that a spreadsheet will not run as a formula."""
    text = "" if value is None else value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(qs: QuerySet[Attempt], now: datetime) -> Iterator[str]:
    """The filtered queue as CSV lines, streamed in chunks (one query per 2,000 rows)."""
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    for a in qs.iterator(chunk_size=2000):
        review = getattr(a, "review", None)
        waited = (now - a.activity_at).total_seconds() / 3600
        yield writer.writerow([_cell(v) for v in (
            a.pk, a.exam.course_id, a.exam_id, a.exam.exam_name, a.user.username,
            a.user.lms_user_id, a.status, review.status if review else "",
            ("yes" if review.is_staff_review else "no") if review else "", a.backend,
            a.external_id, a.created_at, a.started_at, a.completed_at,
            a.allowed_time_limit_mins, f"{waited:.1f}")])


def review_of(attempt: Attempt):
    """The attempt's review when ``select_related("review")`` fetched it, else ``None``."""
    try:
        return attempt.review
    except Attempt.review.RelatedObjectDoesNotExist:
        return None


# --- exams and allowances ---------------------------------------------------------------------

def exams_for(courses: list[str] | None) -> list[Exam]:
    """Exams in the user's courses with their allowance and live-attempt counts (one query)."""
    qs = scoped(Exam.objects.all(), courses, "course_id").annotate(
        allowance_count=Count("allowances", distinct=True),
        # The same rule as the queue's "needs a human", seen from the exam.
        attention_count=Count("attempts", distinct=True, filter=Q(attempts__is_archived=False) & (
            Q(attempts__status__in=[Status.SECOND_REVIEW_REQUIRED, Status.ERROR])
            | Q(attempts__review__status="suspicious", attempts__review__is_staff_review=False))),
    )
    return list(qs.order_by("course_id", "exam_name", "id"))


def allowances_for(exam: Exam) -> list[Allowance]:
    return list(Allowance.objects.filter(exam=exam).select_related("user")
                .order_by("user__username", "id"))


def learners_by_username(usernames: list[str]) -> tuple[dict[str, Any], list[str]]:
    """Known learners (synced from the LMS) for the usernames, and the usernames not known."""
    from proctorhub.accounts.models import User

    found = {u.username: u for u in User.objects.filter(username__in=usernames,
                                                        lms_user_id__isnull=False)}
    return found, [name for name in usernames if name not in found]
