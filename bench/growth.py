"""Growth phase of the benchmark: callback latency and the staff queue as attempts grow."""

from __future__ import annotations

import statistics
import time

from bench.run import log, make_attempts, phase_inproc


def phase_growth(db: str, exam, sizes: list[int]) -> dict:
    from django.test import Client

    from proctorhub.accounts.models import User
    from proctorhub.attempts.models import Attempt

    staff = User.objects.create_user("bench-staff", password="x", is_staff=True, is_superuser=True)
    staff_client = Client()
    staff_client.force_login(staff)
    points = []
    for size in sizes:
        have = Attempt.objects.count()
        if have < size:
            log(f"growth: inserting {size - have:,} attempts")
            bulk_insert_attempts(db, exam.pk, size - have, tag=str(size))
        analyze(db)
        probe = make_attempts(exam, _probe_users(120, str(size)), f"P{size}")
        phase = phase_inproc(probe[:100])
        for _ in range(2):
            staff_client.get("/staff/")  # warm
        times = []
        for _ in range(7):
            t0 = time.perf_counter()
            resp = staff_client.get("/staff/")
            times.append((time.perf_counter() - t0) * 1000)
            assert resp.status_code == 200, resp.status_code
        point = {"attempts": Attempt.objects.count(),
                 "callback_p50_ms": phase["latency"]["p50_ms"],
                 "callback_p95_ms": phase["latency"]["p95_ms"],
                 "callback_queries": phase["queries_mean"],
                 "queue_median_ms": round(statistics.median(times), 2),
                 "queue_max_ms": round(max(times), 2)}
        log(f"growth {point}")
        points.append(point)
    first, last = points[0], points[-1]
    return {"points": points,
            "callback_ratio": last["callback_p50_ms"] / first["callback_p50_ms"],
            "queue_ratio": last["queue_median_ms"] / first["queue_median_ms"],
            "ratio_of": f"{last['attempts']:,} / {first['attempts']:,} attempts"}


def _probe_users(n: int, tag: str) -> list[int]:
    from proctorhub.accounts.models import User

    User.objects.bulk_create([User(username=f"probe{tag}-{i}", lms_user_id=f"p{tag}-{i}",
                                   password="!") for i in range(n)])
    return list(User.objects.filter(username__startswith=f"probe{tag}-").order_by("id")
                .values_list("id", flat=True))


GROWTH_STATUSES = (["verified"] * 80 + ["rejected"] * 5 + ["second_review_required"] * 5
                   + ["error"] * 5 + ["submitted"] * 5)


def bulk_insert_attempts(db: str, exam_id: int, count: int, tag: str) -> None:
    """Attempts of 2,000 learners across 50 exams, mixed final statuses (COPY on PostgreSQL)."""
    import secrets

    from django.db import connection, transaction
    from django.utils import timezone

    from proctorhub.exams.models import Exam

    exams = list(Exam.objects.filter(course_id__startswith="course-v1:Grow").values_list(
        "id", flat=True))
    if not exams:
        Exam.objects.bulk_create([Exam(course_id=f"course-v1:Grow+G{i}+2026",
                                       content_id=f"block-v1:g{i}", exam_name=f"G{i}",
                                       time_limit_mins=60, backend="software_secure")
                                  for i in range(50)])
        exams = list(Exam.objects.filter(course_id__startswith="course-v1:Grow").values_list(
            "id", flat=True))
    users = _probe_users(2000, f"grow{tag}")
    now = timezone.now()
    cols = ["exam_id", "user_id", "backend", "attempt_code", "external_id", "status",
            "started_at", "completed_at", "allowed_time_limit_mins", "taking_as_proctored",
            "is_sample_attempt", "is_resumable", "is_archived", "created_at", "modified_at"]

    def rows():
        for i in range(count):
            yield (exams[i % len(exams)], users[i % len(users)], "software_secure",
                   secrets.token_hex(20).upper(), f"G{tag}-{i}",
                   GROWTH_STATUSES[i % len(GROWTH_STATUSES)], now, now, 60, True, False, False,
                   False, now, now)

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


def analyze(db: str) -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("ANALYZE")
