"""Keyset pagination of the review queue, and counts that stop at a cap.

The queue is ordered by ``(queue_priority, activity_at, id)``: priority always ascending, age and
id ascending ("oldest first") or descending ("newest first"). A page never counts or skips rows:
its "next" link carries the last row's key, its "previous" link the first row's, and the next
query starts right after (or before) that key.

Priority takes at most three values, so a page is read as one query: a ``UNION ALL`` of one
branch per priority (and, for a few exams, per exam), each ``WHERE queue_priority = p [AND
exam_id = e] ORDER BY activity_at, id LIMIT n+1`` — an ordered range of a partial index (see
``Attempt.Meta.indexes``), read forwards or backwards — merged and cut to ``n+1`` rows. The cost of
a page is then bounded by the page size, whatever the number of attempts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import Q, QuerySet

from proctorhub.attempts.models import Attempt

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
ONE_MICROSECOND = timedelta(microseconds=1)
#: Up to this many exams, a page reads one index range per (exam, priority); beyond, one range
#: per priority over all the exams (then sorted).
MAX_EXAM_BRANCHES = 24


@dataclass(frozen=True)
class Cursor:
    """A row's place in the queue, and the number of the page it is on (shown, never trusted
    for access: the filters and the course scope apply to every page)."""

    priority: int
    activity_at: datetime
    pk: int
    page: int = 1

    def token(self) -> str:
        micros = (self.activity_at - EPOCH) // ONE_MICROSECOND
        return f"{self.priority}.{micros}.{self.pk}.{self.page}"

    @classmethod
    def parse(cls, text: str | None) -> Cursor | None:
        """The cursor of a ``token()``; ``None`` for anything else (the first page is shown)."""
        try:
            priority, micros, pk, page = (int(part) for part in (text or "").split("."))
            return cls(priority, EPOCH + timedelta(microseconds=micros), pk, max(page, 1))
        except (ValueError, OverflowError):
            return None

    @classmethod
    def of(cls, attempt: Attempt, page: int) -> Cursor | None:
        if attempt.activity_at is None:  # save() always sets it; a row without one has no place
            return None
        return cls(attempt.queue_priority, attempt.activity_at, attempt.pk, page)


@dataclass
class QueuePage:
    rows: list[Attempt]
    number: int
    next_cursor: Cursor | None = None
    previous_cursor: Cursor | None = None

    @property
    def has_next(self) -> bool:
        return self.next_cursor is not None

    @property
    def has_previous(self) -> bool:
        return self.previous_cursor is not None


def _beyond(cursor: Cursor, descending: bool) -> Q:
    """Rows of the cursor's priority strictly past it in (activity_at, id) order.

    Written as a range on ``activity_at`` (an index bound) plus a tie-break on ``id``."""
    t, pk = cursor.activity_at, cursor.pk
    if descending:
        return Q(activity_at__lte=t) & (Q(activity_at__lt=t) | Q(pk__lt=pk))
    return Q(activity_at__gte=t) & (Q(activity_at__gt=t) | Q(pk__gt=pk))


def _branch_sql(qs: QuerySet[Attempt], cursor: Cursor | None, age_descending: bool,
                limit: int) -> tuple[str, tuple] | None:
    if cursor is not None:
        qs = qs.filter(_beyond(cursor, age_descending))
    order = ("-activity_at", "-id") if age_descending else ("activity_at", "id")
    sliced = qs.order_by(*order).values_list("queue_priority", "activity_at", "id")[:limit]
    try:
        return sliced.query.sql_with_params()
    except EmptyResultSet:
        return None


def ordered_ids(qs: QuerySet[Attempt], priorities: Sequence[int],
                exam_ids: Sequence[int] | None, *, newest: bool, limit: int,
                cursor: Cursor | None = None, backwards: bool = False) -> list[int]:
    """Ids of up to ``limit`` rows of ``qs`` in queue order, after ``cursor`` (or before it,
    nearest first, when ``backwards``): one query."""
    age_descending = newest != backwards
    parts = []
    for p in priorities:
        if cursor is not None and (p > cursor.priority if backwards else p < cursor.priority):
            continue
        for branch in _exam_branches(qs.filter(queue_priority=p), exam_ids):
            sql = _branch_sql(branch, cursor if cursor and cursor.priority == p else None,
                              age_descending, limit)
            if sql is not None:
                parts.append(sql)
    if not parts:
        return []
    union = " UNION ALL ".join(f"SELECT * FROM ({sql}) AS b{i}" for i, (sql, _) in enumerate(parts))
    priority_dir = "DESC" if backwards else "ASC"
    age_dir = "DESC" if age_descending else "ASC"
    sql = (f"SELECT id FROM ({union}) AS page ORDER BY queue_priority {priority_dir}, "
           f"activity_at {age_dir}, id {age_dir} LIMIT {int(limit)}")
    params = [value for _, branch_params in parts for value in branch_params]
    with connections[qs.db].cursor() as cur:
        cur.execute(sql, params)
        return [row[0] for row in cur.fetchall()]


def _exam_branches(qs: QuerySet[Attempt], exam_ids: Sequence[int] | None) -> Iterable[QuerySet]:
    if exam_ids is not None and len(exam_ids) <= MAX_EXAM_BRANCHES:
        return [qs.filter(exam_id=e) for e in exam_ids]
    return [qs if exam_ids is None else qs.filter(exam_id__in=exam_ids)]


def fetch_rows(ids: list[int]) -> list[Attempt]:
    """The attempts of ``ids`` with their exam and learner, in the order of ``ids``: one query."""
    if not ids:
        return []
    found = Attempt.objects.select_related("exam", "user").in_bulk(ids)
    return [found[i] for i in ids if i in found]


def paginate(qs: QuerySet[Attempt], priorities: Sequence[int], exam_ids: Sequence[int] | None,
             *, newest: bool, per_page: int, after: Cursor | None = None,
             before: Cursor | None = None) -> QueuePage:
    """One page of the queue: the first, the one after ``after`` or the one before ``before``."""
    common = {"newest": newest, "limit": per_page + 1}
    if before is not None:
        ids = ordered_ids(qs, priorities, exam_ids, cursor=before, backwards=True, **common)
        if len(ids) >= per_page:  # fewer: the rows before moved away; show the first page
            more = len(ids) > per_page
            rows = fetch_rows(ids[:per_page][::-1])
            number = max(before.page - 1, 2) if more else 1
            return QueuePage(rows, number, next_cursor=Cursor.of(rows[-1], number),
                             previous_cursor=Cursor.of(rows[0], number) if more else None)
        after = None
    ids = ordered_ids(qs, priorities, exam_ids, cursor=after, **common)
    if after is not None and not ids:  # past the end (rows moved away): the first page
        return paginate(qs, priorities, exam_ids, newest=newest, per_page=per_page)
    rows = fetch_rows(ids[:per_page])
    number = after.page + 1 if after is not None else 1
    return QueuePage(rows, number,
                     next_cursor=Cursor.of(rows[-1], number) if len(ids) > per_page else None,
                     previous_cursor=Cursor.of(rows[0], number) if after is not None else None)


# --- capped counts ------------------------------------------------------------------------------

def capped_counts(querysets: dict[str, QuerySet], cap: int) -> dict[str, int]:
    """How many rows each queryset has, counting at most ``cap + 1`` (so a result above ``cap``
    means "more than cap"): one query, ``SELECT (SELECT count(*) FROM (… LIMIT cap+1)), …``."""
    counts = dict.fromkeys(querysets, 0)
    parts: list[tuple[str, str, tuple]] = []
    db = None
    for key, qs in querysets.items():
        db = qs.db
        try:
            sql, params = qs.order_by().values("pk")[:cap + 1].query.sql_with_params()
        except EmptyResultSet:
            continue
        parts.append((key, sql, params))
    if not parts:
        return counts
    sql = "SELECT " + ", ".join(f"(SELECT COUNT(*) FROM ({part}) AS c{i})"
                                for i, (_, part, _) in enumerate(parts))
    with connections[db].cursor() as cur:
        cur.execute(sql, [value for _, _, params in parts for value in params])
        row = cur.fetchone()
    counts.update({key: int(n) for (key, _, _), n in zip(parts, row, strict=True)})
    return counts
