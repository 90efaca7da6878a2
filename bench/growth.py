"""Growth phase of the benchmark: callback latency and the staff queue as attempts grow.

The queue is timed twice at each size: as global staff (every course) and as staff of one course
(``GROW_COURSE_OF_STAFF``, 5 of the 50 exams), both on the default view (needs a human, oldest
first, 25 rows, chip counts).
"""

from __future__ import annotations

import statistics
import time
from datetime import timedelta

from bench.run import log, make_attempts, phase_inproc

GROW_COURSES = 10
GROW_EXAMS_PER_COURSE = 5
GROW_COURSE_OF_STAFF = "course-v1:Grow+C0+2026"


def phase_growth(db: str, exam, sizes: list[int]) -> dict:
    from django.test import Client

    from proctorhub.accounts.models import User
    from proctorhub.accounts.services import grant_course_role
    from proctorhub.attempts.models import Attempt

    clients = {"queue": Client(), "queue_course_staff": Client()}
    clients["queue"].force_login(User.objects.create_user(
        "bench-staff", password="x", is_staff=True, is_superuser=True))
    course_staff = User.objects.create_user("bench-course-staff", password="x")
    grant_course_role(course_staff, GROW_COURSE_OF_STAFF)
    clients["queue_course_staff"].force_login(course_staff)
    points = []
    for size in sizes:
        have = Attempt.objects.count()
        if have < size:
            log(f"growth: inserting {size - have:,} attempts")
            bulk_insert_attempts(db, exam.pk, size - have, tag=str(size))
        probe = make_attempts(exam, _probe_users(120, str(size)), f"P{size}")
        fill_missing_derived()
        analyze(db)
        phase = phase_inproc(probe[:100])
        point = {"attempts": Attempt.objects.count(),
                 "callback_p50_ms": phase["latency"]["p50_ms"],
                 "callback_p95_ms": phase["latency"]["p95_ms"],
                 "callback_queries": phase["queries_mean"]}
        for name, client in clients.items():
            times = time_page(client, "/staff/")
            point[f"{name}_median_ms"] = round(statistics.median(times), 2)
            point[f"{name}_max_ms"] = round(max(times), 2)
        log(f"growth {point}")
        points.append(point)
    first, last = points[0], points[-1]
    return {"points": points,
            "callback_ratio": last["callback_p50_ms"] / first["callback_p50_ms"],
            "queue_ratio": last["queue_median_ms"] / first["queue_median_ms"],
            "queue_course_staff_ratio": (last["queue_course_staff_median_ms"]
                                         / first["queue_course_staff_median_ms"]),
            "ratio_of": f"{last['attempts']:,} / {first['attempts']:,} attempts"}


def time_page(client, url: str, runs: int = 7) -> list[float]:
    for _ in range(2):
        client.get(url)  # warm
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        resp = client.get(url)
        times.append((time.perf_counter() - t0) * 1000)
        assert resp.status_code == 200, resp.status_code
    return times


def _probe_users(n: int, tag: str) -> list[int]:
    from proctorhub.accounts.models import User

    User.objects.bulk_create([User(username=f"probe{tag}-{i}", lms_user_id=f"p{tag}-{i}",
                                   password="!") for i in range(n)])
    return list(User.objects.filter(username__startswith=f"probe{tag}-").order_by("id")
                .values_list("id", flat=True))


#: (status, review status, reviewed by staff) of the inserted attempts, in proportion: 80%
#: verified, 5% each second review (suspicious), error (not reviewed), submitted (no review yet)
#: and rejected — half by staff, half straight from a suspicious provider review (the policy
#: rejects practice attempts), which still needs a human. 12.5% need a human.
GROWTH_MIX = ([("verified", "passed", False)] * 80 + [("second_review_required", "suspicious",
                                                        False)] * 5
              + [("error", "not_reviewed", False)] * 5 + [("submitted", "", False)] * 5
              + [("rejected", "suspicious", True), ("rejected", "suspicious", False)] * 2
              + [("rejected", "violation", True)])


def growth_exams() -> list[int]:
    """50 exams in 10 courses of 5 (created on first use)."""
    from proctorhub.exams.models import Exam

    grow = Exam.objects.filter(course_id__startswith="course-v1:Grow")
    if not grow.exists():
        Exam.objects.bulk_create([
            Exam(course_id=f"course-v1:Grow+C{c}+2026", content_id=f"block-v1:g{c}-{e}",
                 exam_name=f"G{c}-{e}", time_limit_mins=60, backend="software_secure")
            for c in range(GROW_COURSES) for e in range(GROW_EXAMS_PER_COURSE)])
    return list(grow.order_by("id").values_list("id", flat=True))


def bulk_insert_attempts(db: str, exam_id: int, count: int, tag: str) -> None:
    """Attempts of 2,000 learners across 50 exams, mixed final statuses, submitted one second
    apart (COPY on PostgreSQL). ``bulk_create`` and COPY skip ``Attempt.save()``, so the derived
    columns are written here, with the model's own rule."""
    import secrets

    from django.db import connection, transaction
    from django.utils import timezone

    from proctorhub.attempts.queue import priority

    exams = growth_exams()
    users = _probe_users(2000, f"grow{tag}")
    now = timezone.now()
    cols = ["exam_id", "user_id", "backend", "attempt_code", "external_id", "status",
            "started_at", "completed_at", "allowed_time_limit_mins", "taking_as_proctored",
            "is_sample_attempt", "is_resumable", "is_archived", "created_at", "modified_at",
            "review_status", "review_is_staff", "review_sha256", "queue_priority", "activity_at"]

    def rows():
        for i in range(count):
            status, review, by_staff = GROWTH_MIX[i % len(GROWTH_MIX)]
            done = now - timedelta(seconds=count - i)
            created = done - timedelta(hours=1)
            # Every exam gets the whole mix: the exam index must not follow the mix index.
            exam = exams[(i + i // len(GROWTH_MIX)) % len(exams)]
            yield (exam, users[i % len(users)], "software_secure",
                   secrets.token_hex(20).upper(), f"G{tag}-{i}", status, created, done, 60,
                   True, False, False, False, created, done, review, by_staff, "",
                   priority(status, review, by_staff), done)

    with transaction.atomic(), connection.cursor() as cur:
        if db == "postgres":
            with cur.cursor.copy(f"COPY attempts_attempt ({', '.join(cols)}) FROM STDIN") as copy:
                for row in rows():
                    copy.write_row(row)
        else:
            sql = (f"INSERT INTO attempts_attempt ({', '.join(cols)}) "
                   f"VALUES ({', '.join(['%s'] * len(cols))})")
            batch = []
            for row in rows():
                batch.append(row)
                if len(batch) == 5000:
                    cur.executemany(sql, batch)
                    batch = []
            if batch:
                cur.executemany(sql, batch)


def fill_missing_derived() -> int:
    """Derived columns of attempts written without ``save()`` and without ``refresh_derived()``
    (a safety net for rows the other phases may add): one UPDATE, as the 0002 migration's
    backfill does. Returns the number of rows fixed."""
    from django.db.models import Case, Q, Value, When
    from django.db.models.functions import Coalesce

    from proctorhub.attempts import queue
    from proctorhub.attempts.models import Attempt

    return Attempt.objects.filter(activity_at__isnull=True).update(
        activity_at=Coalesce("completed_at", "created_at"), queue_priority=Case(
            When(status="second_review_required", then=Value(queue.SECOND_REVIEW)),
            When(Q(status="error") | Q(review_status="suspicious", review_is_staff=False),
                 then=Value(queue.FLAGGED)),
            default=Value(queue.ROUTINE)))


def analyze(db: str) -> None:
    """Statistics for the planner; on PostgreSQL also what autovacuum would do after a bulk
    insert (set the visibility map, so index-only scans skip the heap) — the benchmark's server
    may run with ``autovacuum = off``, a production one does not."""
    from django.db import connection

    with connection.cursor() as cur:
        if db == "postgres":
            cur.execute("VACUUM (ANALYZE) attempts_attempt")
        cur.execute("ANALYZE")
