"""proctorhub benchmark: review callbacks over HTTP and in-process, the raw floor, lifecycle,
outbox drain, growth.

``python -m bench [--db sqlite|postgres] [--attempts N] [--concurrency C] [--quick] [--growth]``

Each database gets a fresh database of its own (``proctorhub_bench`` on PostgreSQL, a temporary
file for SQLite), migrated, with PSI callback credentials in a temporary TOML file. Every phase
runs in a child process per database (Django's settings are read once per process). Results are
printed as a table and written to ``bench/results/<date>-<db>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench import outbox, procs

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
FIXTURES = ROOT / "tests" / "fixtures" / "psi"
PSI_FILES = ["review_clean.json", "review_rules_violation.json", "review_suspicious.json",
             "review_not_reviewed.json"]
PG_ADMIN = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres")
PG_DB = os.environ.get("BENCH_PG_DB", "proctorhub_bench")  # your own name on a shared server
BASIC = ("psi", "bench-callback-password")
URL = "/api/v1/providers/software_secure/reviews"
COURSE = "course-v1:Bench+B1+2026"


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))
    return s[k]


def lat_summary(values: list[float]) -> dict:
    return {"p50_ms": round(pct(values, 50), 2), "p95_ms": round(pct(values, 95), 2),
            "p99_ms": round(pct(values, 99), 2), "max_ms": round(max(values), 2) if values else None,
            "mean_ms": round(statistics.fmean(values), 2) if values else None}


def pg_reachable() -> bool:
    try:
        import psycopg

        psycopg.connect(PG_ADMIN, connect_timeout=3).close()
        return True
    except Exception:  # noqa: BLE001
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- parent -------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    ap.add_argument("--db", choices=["sqlite", "postgres"], action="append",
                    help="database to run on (repeatable; default both when PostgreSQL is reachable)")
    ap.add_argument("--attempts", type=int, default=2000, help="review callbacks over HTTP (N)")
    ap.add_argument("--concurrency", type=int, default=50, help="concurrent HTTP callers")
    ap.add_argument("--quick", action="store_true",
                    help="smaller in-process samples, no growth phase")
    ap.add_argument("--growth", action="store_true", help="run the growth phase even with --quick")
    ap.add_argument("--sizes", default="10000,100000",
                    help="growth sizes (attempts in the database), comma-separated; add 1000000 "
                         "for the 1M point")
    ap.add_argument("--outbox-callbacks", type=int,
                    help="review callbacks whose webhooks make the outbox backlog "
                         "(default 1000; 300 with --quick)")
    ap.add_argument("--only", choices=["growth", "outbox"],
                    help="run only this phase (results go to <date>-<db>-only-<phase>.json)")
    ap.add_argument("--keep", action="store_true",
                    help=f"keep the database ({PG_DB} / the temporary SQLite file) for inspection")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(args)
        return
    dbs = args.db or (["sqlite", "postgres"] if pg_reachable() else ["sqlite"])
    if "postgres" in dbs and not pg_reachable():
        sys.exit(f"PostgreSQL is not reachable at {PG_ADMIN} (set BENCH_PG_URL)")
    if not args.db and "postgres" not in dbs:
        print(f"PostgreSQL is not reachable at {PG_ADMIN}: running on SQLite only.")
    RESULTS.mkdir(parents=True, exist_ok=True)
    results = []
    for db in dbs:
        cmd = [sys.executable, "-m", "bench.run", "--child", db, "--attempts", str(args.attempts),
               "--concurrency", str(args.concurrency), "--sizes", args.sizes,
               "--outbox-callbacks",
               str(args.outbox_callbacks or (300 if args.quick else 1000))]
        if args.quick:
            cmd.append("--quick")
        if args.growth:
            cmd.append("--growth")
        if args.keep:
            cmd.append("--keep")
        if args.only:
            cmd += ["--only", args.only]
        print(f"== {db}: {' '.join(cmd[1:])}", flush=True)
        out = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        if out.returncode != 0:
            sys.exit(f"benchmark on {db} failed (exit {out.returncode})")
        path = Path(out.stdout.strip().splitlines()[-1])
        results.append(json.loads(path.read_text()))
        print(f"   wrote {path.relative_to(ROOT)}")
    from bench.report import table

    print()
    print(table(results))


def log(msg: str) -> None:
    print(f"   [{datetime.now(UTC):%H:%M:%S}] {msg}", file=sys.stderr, flush=True)


def prepare_env(db: str) -> tuple[dict, str]:
    tmp = Path(tempfile.mkdtemp(prefix="proctorhub-bench-"))
    conf = tmp / "bench.toml"
    conf.write_text(f'[providers.software_secure]\ncallback_basic_auth = "{BASIC[0]}:{BASIC[1]}"\n')
    if db == "postgres":
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
            c.execute(f"CREATE DATABASE {PG_DB}")
        url = PG_ADMIN.rsplit("/", 1)[0] + "/" + PG_DB
        floor_dsn = url
    else:
        url = f"sqlite:///{tmp}/bench.sqlite3"
        floor_dsn = str(tmp / "bench.sqlite3")
    env = {"DATABASE_URL": url, "PROCTORHUB_CONFIG": str(conf), "PROCTORHUB_VAR_DIR": str(tmp),
           "PROCTORHUB_ENV": "development", "DEBUG": "false", "SECRET_KEY": "bench-" + "k" * 50,
           "ALLOWED_HOSTS": "*", "PROCTORHUB_TRACKING_PATH": str(tmp / "tracking.log")}
    os.environ.update(env)
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proctorhub.settings")
    return env, floor_dsn


def child(args) -> None:
    db = args.child
    env, floor_dsn = prepare_env(db)
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proctorhub.settings")
    django.setup()
    import logging

    logging.disable(logging.INFO)  # one log line per delivery would measure the terminal
    from django.core.management import call_command

    log(f"{db}: migrating a fresh database")
    call_command("migrate", interactive=False, verbosity=0)
    n, quick = args.attempts, args.quick
    n_inproc = 200 if quick else 500
    result: dict = {"db": db, "date": datetime.now(UTC).isoformat(timespec="seconds"),
                    "machine": machine(), "args": {"attempts": n, "concurrency": args.concurrency,
                                                   "quick": quick}}
    if args.only == "growth":
        exam, _ = setup_base(0)
        result["growth"] = run_growth(db, exam, args.sizes)
        return finish(args, db, env, result, suffix="-only-growth")
    n_outbox = args.outbox_callbacks
    if args.only == "outbox":
        exam, users = setup_base(n_outbox)
        result["outbox"] = outbox.run_outbox(env, make_attempts(exam, users, "W"))
        return finish(args, db, env, result, suffix="-only-outbox")
    exam, users = setup_base(n + n_inproc + n + 100 + n + n_outbox)
    http_ids = make_attempts(exam, users[:n], "H")
    inproc_ids = make_attempts(exam, users[n:n + n_inproc], "I")
    floor_ids = make_attempts(exam, users[n + n_inproc:2 * n + n_inproc], "F")
    low_ids = make_attempts(exam, users[2 * n + n_inproc:2 * n + n_inproc + 100], "L")
    open_ids = make_attempts(exam, users[2 * n + n_inproc + 100:3 * n + n_inproc + 100], "O")
    result["inproc"] = phase_inproc(inproc_ids)
    log(f"in-process: {result['inproc']['per_s']:.0f}/s, "
        f"{result['inproc']['queries_mean']:.1f} queries per callback")
    result["http"] = phase_http(env, http_ids, args.concurrency, low_ids, open_ids)
    log(f"HTTP: {result['http']['per_s']:.0f}/s, p99 {result['http']['latency']['p99_ms']} ms")
    result["floor"] = phase_floor(db, floor_dsn, floor_ids, result)
    log(f"floor: {result['floor']['two']['per_s']:.0f}/s (2 conns)")
    result["lifecycle"] = phase_lifecycle(100 if quick else 300)
    log(f"lifecycle: {result['lifecycle']['per_s']:.0f}/s")
    result["outbox"] = outbox.run_outbox(env, make_attempts(exam, users[3 * n + n_inproc + 100:], "W"))
    if not quick or args.growth:
        result["growth"] = run_growth(db, exam, args.sizes)
    finish(args, db, env, result)


def run_growth(db: str, exam, sizes: str) -> dict:
    from bench.growth import phase_growth

    return phase_growth(db, exam, [int(s) for s in sizes.split(",") if s])


def finish(args, db: str, env: dict, result: dict, suffix: str = "") -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    name = f"{datetime.now(UTC):%Y-%m-%d}-{db}{suffix}"
    largest = max((p["attempts"] for p in (result.get("growth") or {}).get("points", [])), default=0)
    if largest > 200_000:  # a long growth run does not overwrite the day's default run
        name += f"-growth{largest // 1000}k"
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    if not args.keep:
        cleanup(db, env)
    print(path)


def cleanup(db: str, env: dict) -> None:
    """Remove the temporary directory and the benchmark database (``--keep`` leaves them)."""
    import shutil

    from django.db import connections

    connections.close_all()
    shutil.rmtree(env["PROCTORHUB_VAR_DIR"], ignore_errors=True)
    if db == "postgres":
        import psycopg

        with psycopg.connect(PG_ADMIN, autocommit=True) as c:
            c.execute(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")


def machine() -> dict:
    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) // 1024} MiB"
    except OSError:
        pass
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu": cpu, "memory": mem, "python": platform.python_version(),
            "platform": platform.platform()}


def setup_base(n_users: int):
    from proctorhub.accounts.models import User
    from proctorhub.exams.models import Exam

    exam = Exam.objects.create(course_id=COURSE, content_id="block-v1:final", exam_name="Final",
                               time_limit_mins=90, is_proctored=True, backend="software_secure")
    User.objects.bulk_create(
        [User(username=f"bench{i}", lms_user_id=f"b{i}", email=f"b{i}@example.org", password="!")
         for i in range(n_users)], batch_size=2000)
    users = list(User.objects.filter(username__startswith="bench").order_by("id")
                 .values_list("id", flat=True))
    return exam, users


def make_attempts(exam, user_ids: list[int], prefix: str) -> list[int]:
    from django.utils import timezone

    from proctorhub.attempts.models import Attempt

    now = timezone.now()
    drafts = [Attempt(exam=exam, user_id=u, backend="software_secure",
                      external_id=f"SSI-{prefix}-{u}", status="submitted", taking_as_proctored=True,
                      started_at=now, completed_at=now, allowed_time_limit_mins=90)
              for u in user_ids]
    for draft in drafts:
        draft.refresh_derived()  # bulk_create skips save(), which fills the queue columns
    Attempt.objects.bulk_create(drafts, batch_size=2000)
    return list(Attempt.objects.filter(external_id__startswith=f"SSI-{prefix}-").order_by("id")
                .values_list("id", flat=True))


def bodies_for(attempt_ids: list[int]) -> list[str]:
    from proctorhub.attempts.models import Attempt

    templates = [(FIXTURES / name).read_text() for name in PSI_FILES]
    codes = dict(Attempt.objects.filter(pk__in=attempt_ids)
                 .values_list("id", "attempt_code"))
    ext = dict(Attempt.objects.filter(pk__in=attempt_ids).values_list("id", "external_id"))
    return [templates[i % 4].replace("{attempt_code}", codes[a]).replace("{external_id}", ext[a])
            for i, a in enumerate(attempt_ids)]


def basic_auth() -> str:
    import base64

    return "Basic " + base64.b64encode(f"{BASIC[0]}:{BASIC[1]}".encode()).decode()


TX_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT")


def phase_inproc(attempt_ids: list[int]) -> dict:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    bodies = bodies_for(attempt_ids)
    counts, saves, lats, by_status = [], [], [], {}
    sample_sql: list[str] = []
    auth = basic_auth()
    start = time.perf_counter()
    for i, body in enumerate(bodies):
        connection.queries_log.clear()  # the log keeps 9,000 entries; counts need it short
        with CaptureQueriesContext(connection) as ctx:
            t0 = time.perf_counter()
            resp = client.generic("POST", URL, body, content_type="application/json",
                                  HTTP_AUTHORIZATION=auth)
            lats.append((time.perf_counter() - t0) * 1000)
        if resp.status_code != 200:
            raise SystemExit(f"in-process callback answered {resp.status_code}: {resp.content[:300]}")
        sql = [q["sql"] for q in ctx.captured_queries]
        counts.append(len(sql))
        saves.append(sum(1 for s in sql if s.startswith(TX_CONTROL)))
        by_status.setdefault(PSI_FILES[i % 4], len(sql))
        if i < 4:
            sample_sql.append([s[:160] for s in sql])
    elapsed = time.perf_counter() - start
    # Re-delivery of an identical payload: changes nothing.
    connection.queries_log.clear()
    with CaptureQueriesContext(connection) as ctx:
        client.generic("POST", URL, bodies[0], content_type="application/json",
                       HTTP_AUTHORIZATION=auth)
    return {"callbacks": len(bodies), "elapsed_s": elapsed, "per_s": len(bodies) / elapsed,
            "latency": lat_summary(lats), "queries_mean": statistics.fmean(counts),
            "queries_max": max(counts), "queries_min": min(counts),
            "tx_control_mean": statistics.fmean(saves),
            "queries_excluding_tx_control_mean": statistics.fmean(counts) - statistics.fmean(saves), "queries_by_fixture": by_status,
            "queries_redelivery": len(ctx.captured_queries), "sample_sql": sample_sql}


def server_threads(env: dict) -> int:
    """``proctorhub serve``'s default (4 threads per worker on PostgreSQL, sync workers on
    SQLite) unless ``BENCH_SERVER_THREADS`` says otherwise."""
    default = "1" if env["DATABASE_URL"].startswith("sqlite") else "4"
    return int(os.environ.get("BENCH_SERVER_THREADS", default))


#: The open-loop run offers this fraction of the closed-loop throughput.
OPEN_LOOP_LOAD = 0.6


def phase_http(env: dict, attempt_ids: list[int], concurrency: int, low_ids: list[int],
               open_ids: list[int]) -> dict:
    from proctorhub.attempts.models import Attempt

    port = free_port()
    threads = server_threads(env)
    tmp = Path(env["PROCTORHUB_VAR_DIR"])
    server_log = open(tmp / "serve.log", "w")  # noqa: SIM115
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "proctorhub"), "serve", "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--threads", str(threads), "--no-runner", "--no-migrate"],
        env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=server_log, cwd=ROOT)
    try:
        wait_for(port, server)
        bodies = bodies_for(attempt_ids)
        job = {"host": "127.0.0.1", "port": port, "path": URL, "auth": basic_auth(),
               "bodies": bodies, "concurrency": concurrency}
        # Warm both workers (imports, connections) before measuring.
        warm = subprocess.run([sys.executable, "-m", "bench.loadgen"], input=json.dumps(
            {**job, "bodies": [bodies[0]] * 20, "concurrency": 4}), capture_output=True, text=True,
            cwd=ROOT, check=True)
        del warm
        out = subprocess.run([sys.executable, "-m", "bench.loadgen"], input=json.dumps(
            {**job, "bodies": bodies[1:]}), capture_output=True, text=True, cwd=ROOT, check=True)
        data = json.loads(out.stdout)
        # The same at concurrency 2 (= workers): the service time, without queueing.
        out = subprocess.run([sys.executable, "-m", "bench.loadgen"], input=json.dumps(
            {**job, "bodies": bodies_for(low_ids), "concurrency": 2}), capture_output=True,
            text=True, cwd=ROOT, check=True)
        low = json.loads(out.stdout)
        # Open loop: the same callers, but requests arrive at a fixed rate below capacity, as a
        # provider's burst does; latency counts from when each request was due.
        rate = OPEN_LOOP_LOAD * len(data["latencies_ms"]) / data["elapsed_s"]
        out = subprocess.run([sys.executable, "-m", "bench.loadgen"], input=json.dumps(
            {**job, "bodies": bodies_for(open_ids), "rate": rate}), capture_output=True,
            text=True, cwd=ROOT, check=True)
        opened = json.loads(out.stdout)
    finally:
        procs.stop(server, server_log)
    lats = data["latencies_ms"]
    statuses = data["statuses"]
    applied = Attempt.objects.filter(pk__in=attempt_ids).exclude(status="submitted").count()
    return {"callbacks": len(lats), "concurrency": concurrency, "elapsed_s": data["elapsed_s"],
            "per_s": len(lats) / data["elapsed_s"], "latency": lat_summary(lats),
            "statuses": statuses, "non_200": sum(v for k, v in statuses.items() if k != "200"),
            "attempts_moved": applied,
            "server": f"gunicorn, 2 workers x {threads} threads (proctorhub serve)",
            "open_loop": {"offered_per_s": rate, "callers": concurrency,
                          "callbacks": len(opened["latencies_ms"]),
                          "per_s": len(opened["latencies_ms"]) / opened["elapsed_s"],
                          "latency": lat_summary(opened["latencies_ms"]),
                          "non_200": sum(v for k, v in opened["statuses"].items() if k != "200")},
            "at_concurrency_2": {"callbacks": len(low["latencies_ms"]),
                                 "per_s": len(low["latencies_ms"]) / low["elapsed_s"],
                                 "latency": lat_summary(low["latencies_ms"])}}


def wait_for(port: int, server) -> None:
    import urllib.request

    deadline = time.time() + 60
    while time.time() < deadline:
        if server.poll() is not None:
            raise SystemExit("proctorhub serve exited; see serve.log in the bench temp dir")
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/health", timeout=2)
            return
        except OSError as exc:
            if getattr(exc, "code", None):  # an HTTP error answer: the server is up
                return
            time.sleep(0.3)
    raise SystemExit("proctorhub serve did not answer within 60 s")


def phase_floor(db: str, dsn: str, attempt_ids: list[int], result: dict) -> dict:
    from bench.floor import Floor
    from proctorhub.providers.software_secure.reviews import normalize_review
    from proctorhub.reviews.intake import redact

    bodies = bodies_for(attempt_ids)
    jobs = []
    for a, body in zip(attempt_ids, bodies, strict=True):
        payload = redact(json.loads(body))
        review = normalize_review(None, payload)
        jobs.append((a, review.status, payload, [c.__dict__ for c in review.comments]))
    floor = Floor(db, dsn)
    half = len(jobs) // 2
    one = floor.run(jobs[:half], 1)
    two = floor.run(jobs[half:], 2)
    for r in (one, two):
        r["latency"] = lat_summary(r.pop("latencies_ms"))
    return {"one": one, "two": two,
            "http_fraction": result["http"]["per_s"] / two["per_s"],
            "inproc_fraction": result["inproc"]["per_s"] / one["per_s"],
            "writes": "lock attempt, insert delivery, upsert review, replace comments, "
                      "update attempt, 2 history rows, 2-3 outbox events + 1 delivery row each"}


def phase_lifecycle(n: int) -> dict:
    from proctorhub.accounts.models import User
    from proctorhub.attempts.lifecycle import ActedBy, apply_action
    from proctorhub.attempts.services import create_attempt
    from proctorhub.attempts.statuses import Actor
    from proctorhub.exams.models import Exam

    exam = Exam.objects.create(course_id=COURSE, content_id="block-v1:quiz", exam_name="Quiz",
                               time_limit_mins=30, is_proctored=True, backend="null")
    User.objects.bulk_create([User(username=f"life{i}", lms_user_id=f"life{i}", password="!")
                              for i in range(n)])
    users = list(User.objects.filter(username__startswith="life").order_by("id"))
    learner, system = ActedBy(Actor.LEARNER, "bench"), ActedBy(Actor.SYSTEM, "bench")
    lats = []
    start = time.perf_counter()
    for user in users:
        t0 = time.perf_counter()
        attempt = create_attempt(exam=exam, user=user, by=learner)
        apply_action(attempt.pk, "ready", system)
        apply_action(attempt.pk, "start", learner)
        apply_action(attempt.pk, "submit", learner)
        lats.append((time.perf_counter() - t0) * 1000)
    elapsed = time.perf_counter() - start
    return {"cycles": n, "per_s": n / elapsed, "latency": lat_summary(lats),
            "exam_backend": "null", "steps": "create_attempt, ready, start, submit (services)"}


if __name__ == "__main__":
    main()
