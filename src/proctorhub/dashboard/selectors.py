"""Reads for the staff pages: the review queue, its counts and CSV export, exams, allowances.

The queue reads the derived columns the attempt row keeps (``queue_priority``, ``activity_at``,
``review_status``, ``review_is_staff``) through partial indexes, never joining reviews. A page is
a keyset page (:mod:`proctorhub.dashboard.keyset`) and every chip count stops at
:func:`count_cap`, so the page costs the same with ten thousand attempts as with a million, and a
constant number of queries whatever its size. Attempt-page reads live in
:mod:`proctorhub.dashboard.attempt_selectors`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Q, QuerySet

from proctorhub.attempts import queue as queue_rule
from proctorhub.attempts.models import Attempt
from proctorhub.attempts.statuses import Status
from proctorhub.dashboard.access import scoped
from proctorhub.dashboard.forms import ALL, ATTENTION, SUSPICIOUS
from proctorhub.dashboard.keyset import Cursor, QueuePage, capped_counts, paginate
from proctorhub.exams.models import Allowance, Exam
from proctorhub.providers.registry import available

#: A provider (not staff) said "suspicious": someone should look, even if the policy decided.
SUSPICIOUS_Q = Q(review_status="suspicious", review_is_staff=False)
#: What needs a human (second reviews, errors, suspicious provider reviews): the stored priority.
ATTENTION_Q = Q(queue_priority__in=queue_rule.NEEDS_A_HUMAN)
#: Chip counts stop here: "1,000+" says there are more (``DASHBOARD_COUNT_CAP`` overrides).
DEFAULT_COUNT_CAP = 1000

#: Chips above the queue: (key, label); :func:`with_status` says what each one counts.
COUNT_CHIPS: list[tuple[str, str]] = [
    (ATTENTION, "Needs a human"),
    (Status.SECOND_REVIEW_REQUIRED.value, "Second review required"),
    (SUSPICIOUS, "Suspicious (provider)"),
    (Status.ERROR.value, "Error"),
    (Status.SUBMITTED.value, "Submitted"),
    (Status.VERIFIED.value, "Verified"),
    (Status.REJECTED.value, "Rejected"),
    (ALL, "All"),
]


def count_cap() -> int:
    return int(getattr(settings, "DASHBOARD_COUNT_CAP", DEFAULT_COUNT_CAP))


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


def exam_ids_in_view(courses: list[str] | None, f: dict[str, Any],
                     exams: list[Exam] | None = None) -> list[int] | None:
    """The exams the queue may show, when the view is narrower than every exam (``None``).

    Only an index hint: the course scope and the course filter still apply to every query
    (``filtered_attempts``); these ids let each exam's rows be read as one index range.
    ``exams``: the user's exams if already loaded (:func:`filter_options`), else one query."""
    if f["exam"]:
        return [f["exam"]]
    if courses is None and not f["course"]:
        return None
    if exams is None:
        exams = list(scoped(Exam.objects.all(), courses, "course_id").only("id", "course_id"))
    return sorted(e.pk for e in exams if not f["course"] or e.course_id == f["course"])


def with_status(qs: QuerySet[Attempt], status: str) -> QuerySet[Attempt]:
    if status == ATTENTION:
        return qs.filter(ATTENTION_Q)
    if status == ALL:
        return qs
    if status == SUSPICIOUS:
        return qs.filter(SUSPICIOUS_Q)
    return qs.filter(status=status)


def priorities_for(status: str) -> tuple[int, ...]:
    """The queue priorities rows under this status chip can have (``attempts.queue`` rule)."""
    if status == ATTENTION:
        return queue_rule.NEEDS_A_HUMAN
    reviews = [(r, staff) for r in ("suspicious", "passed") for staff in (False, True)]
    if status == SUSPICIOUS:
        found = {queue_rule.priority(s.value, "suspicious", False) for s in Status}
    elif status == ALL:
        found = {queue_rule.priority(s.value, r, staff) for s in Status for r, staff in reviews}
    else:
        found = {queue_rule.priority(status, r, staff) for r, staff in reviews}
    return tuple(sorted(found))


def queue(courses: list[str] | None, f: dict[str, Any]) -> QuerySet[Attempt]:
    """The whole queue, ordered (CSV export): second reviews first, then suspicious/errored,
    then by age."""
    qs = with_status(filtered_attempts(courses, f), f["status"])
    if f["sort"] == "oldest":
        order = ("queue_priority", "activity_at", "id")
    else:
        order = ("queue_priority", "-activity_at", "-id")
    return qs.select_related("exam", "user").order_by(*order)


def queue_page(courses: list[str] | None, f: dict[str, Any], exam_ids: list[int] | None,
               after: Cursor | None = None, before: Cursor | None = None) -> QueuePage:
    """One page of the queue in two queries (ids, then rows): see :mod:`keyset`.

    ``exam_ids``: :func:`exam_ids_in_view`."""
    qs = with_status(filtered_attempts(courses, f), f["status"])
    return paginate(qs, priorities_for(f["status"]), exam_ids, newest=f["sort"] == "newest",
                    per_page=f["per_page"], after=after, before=before)


def queue_counts(courses: list[str] | None, f: dict[str, Any],
                 exam_ids: list[int] | None = None) -> list[dict[str, Any]]:
    """Counts per status chip under the current filters (the status filter aside), each capped
    at :func:`count_cap`, plus the current status if no chip shows it: one query."""
    qs = filtered_attempts(courses, f)
    if exam_ids is not None:
        qs = qs.filter(exam_id__in=exam_ids)
    chips = list(COUNT_CHIPS)
    if f["status"] not in {key for key, _ in chips}:
        chips.append((f["status"], f["status"].replace("_", " ")))
    cap = count_cap()
    totals = capped_counts({key: with_status(qs, key) for key, _ in chips}, cap)
    return [{"key": key, "label": label, "count": min(totals[key], cap),
             "capped": totals[key] > cap,
             "display": f"{cap:,}+" if totals[key] > cap else f"{totals[key]:,}",
             "active": key == f["status"], "chip": i < len(COUNT_CHIPS)}
            for i, (key, label) in enumerate(chips)]


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
        waited = waiting(a, now)
        yield writer.writerow([_cell(v) for v in (
            a.pk, a.exam.course_id, a.exam_id, a.exam.exam_name, a.user.username,
            a.user.lms_user_id, a.status, a.review_status,
            ("yes" if a.review_is_staff else "no") if a.review_status else "", a.backend,
            a.external_id, a.created_at, a.started_at, a.completed_at,
            a.allowed_time_limit_mins,
            "" if waited is None else f"{waited.total_seconds() / 3600:.1f}")])


def review_of(attempt: Attempt):
    """The attempt's review when ``select_related("review")`` fetched it, else ``None``."""
    try:
        return attempt.review
    except Attempt.review.RelatedObjectDoesNotExist:
        return None


def waiting(attempt: Attempt, now: datetime) -> timedelta | None:
    """How long the attempt has waited since it was submitted (or created)."""
    return None if attempt.activity_at is None else now - attempt.activity_at


# --- exams and allowances ---------------------------------------------------------------------

def exams_for(courses: list[str] | None) -> list[Exam]:
    """Exams in the user's courses with their allowance and live-attempt counts (one query)."""
    qs = scoped(Exam.objects.all(), courses, "course_id").annotate(
        allowance_count=Count("allowances", distinct=True),
        # The same rule as the queue's "needs a human", seen from the exam.
        attention_count=Count("attempts", distinct=True, filter=Q(
            attempts__is_archived=False, attempts__queue_priority__in=queue_rule.NEEDS_A_HUMAN)),
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
