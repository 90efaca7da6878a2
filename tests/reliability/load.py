"""Mixed load against a real server: gunicorn (2 workers) on its own PostgreSQL database.

Traffic for ``seconds``: attempt creation and actions (ready, start, submit, reads) from an LMS
client, and PSI review callbacks — of which 20% are identical re-deliveries and 5% are the same
new review posted twice at once. Afterwards the database is checked: every review present exactly
once with its comments once, every attempt in the status the policy gives, one
``review.received`` event per reviewed attempt, one support notification per suspicious one.

Used by ``test_load_pg.py``; also runnable alone:
``DATABASE_URL=postgres://postgres@127.0.0.1:5432/x .venv/bin/python -m tests.reliability.load 30``
"""

from __future__ import annotations

import base64
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlparse, urlunparse

import psycopg
import requests

FIXTURES = Path(__file__).parent.parent / "fixtures" / "psi"
LABELS = {"review_clean.json": "passed", "review_rules_violation.json": "violation",
          "review_suspicious.json": "suspicious", "review_not_reviewed.json": "not_reviewed"}
POLICY = {"passed": "verified", "violation": "verified", "suspicious": "second_review_required",
          "not_reviewed": "error"}
BASIC = ("psi", "load-test-pass")
DB_NAME = "proctorhub_reliability"
COURSE = "course-v1:Load+L101+2026"
THREADS = 12


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fresh_database(base_url: str, name: str = DB_NAME) -> str:
    """Drop and create ``name`` on the server of ``base_url``; return its URL."""
    url = urlparse(base_url)
    with psycopg.connect(host=url.hostname or "127.0.0.1", port=url.port or 5432,
                         user=url.username or "postgres", password=url.password or None,
                         dbname="postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return urlunparse(url._replace(path=f"/{name}"))


@dataclass
class Server:
    """``proctorhub serve --workers 2 --no-runner`` on a fresh database, with PSI credentials."""

    database_url: str
    seconds_to_start: float = 90
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="ph-load-")))
    port: int = field(default_factory=_free_port)
    proc: subprocess.Popen | None = None
    token: str = ""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str]:
        config = self.workdir / "proctorhub.toml"
        key = base64.b64encode(os.urandom(32)).decode()
        if not config.exists():
            config.write_text(
                "[providers.software_secure]\n"
                f'callback_basic_auth = "{":".join(BASIC)}"\n'
                f'video_review_key = "{key}"\n')
        env = {k: v for k, v in os.environ.items() if not k.startswith("PROCTORHUB_")}
        env.update(DATABASE_URL=self.database_url, PROCTORHUB_CONFIG=str(config),
                   PROCTORHUB_VAR_DIR=str(self.workdir), PROCTORHUB_ENV="test",
                   SECRET_KEY="reliability-" + "k" * 40, DEBUG="false")
        return env

    def start(self) -> Server:
        env = self.env
        subprocess.run([_bin("proctorhub"), "migrate", "--verbosity", "0"], env=env, check=True)
        out = subprocess.run([_bin("proctorhub"), "create-api-client", "load-lms", "--scope", "lms"],
                             env=env, check=True, capture_output=True, text=True).stdout
        self.token = out.strip().splitlines()[-1]
        self.log = open(self.workdir / "server.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [_bin("proctorhub"), "serve", "--bind", f"127.0.0.1:{self.port}", "--workers", "2",
             "--no-runner", "--no-migrate"], env=env, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.seconds_to_start
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.tail()}")
            try:
                health = requests.get(f"{self.base}/api/v1/health", timeout=2,
                                      headers={"Authorization": f"Bearer {self.token}"})
                if health.status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.3)
        self.stop()  # never leave a half-started server behind
        raise RuntimeError(f"server did not start: {self.tail()}")

    def tail(self, n: int = 4000) -> str:
        path = self.workdir / "server.log"
        return path.read_text()[-n:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "log", None):
            self.log.close()

    def cleanup(self) -> None:
        shutil.rmtree(self.workdir, ignore_errors=True)


@dataclass
class Load:
    server: Server
    seconds: float
    seed: int = 0
    statuses: Counter = field(default_factory=Counter)     # (kind, http status) -> count
    errors: Counter = field(default_factory=Counter)       # transport errors by kind
    server_errors: list = field(default_factory=list)      # (kind, status, body) of every 5xx
    fresh: list = field(default_factory=list)              # attempts ready to be reviewed
    delivered: list = field(default_factory=list)          # (attempt id, body) already posted
    expected: dict = field(default_factory=dict)           # attempt id -> (review status, comments)
    created: list = field(default_factory=list)            # every attempt id made
    lock: threading.Lock = field(default_factory=threading.Lock)
    exam_ids: list = field(default_factory=list)
    #: Faults mode: seconds into the run at which every server connection to PostgreSQL is
    #: terminated (pg_terminate_backend). 503 answers with Retry-After are then allowed, and the
    #: refused callbacks are re-delivered afterwards, as PSI would.
    interrupt_at: tuple = ()
    unavailable: int = 0                                   # 503s with Retry-After
    to_retry: list = field(default_factory=list)           # callback bodies answered 503/error
    terminated: int = 0

    # --- HTTP ----------------------------------------------------------------------------------
    def _call(self, http, kind, method, path, **kw):
        try:
            response = http.request(method, self.server.base + path, timeout=30, **kw)
        except requests.RequestException as exc:
            with self.lock:
                self.errors[f"{kind}: {type(exc).__name__}"] += 1
            return None
        with self.lock:
            self.statuses[(kind, response.status_code)] += 1
            retryable = (response.status_code == 503 and response.headers.get("Retry-After")
                         and self.interrupt_at)
            if retryable:
                self.unavailable += 1
            elif response.status_code >= 500:
                self.server_errors.append((kind, response.status_code, response.text[:300]))
        return response

    def lms(self) -> requests.Session:
        http = requests.Session()
        http.headers["Authorization"] = f"Bearer {self.server.token}"
        return http

    def setup(self) -> None:
        http = self.lms()
        for i in range(3):
            r = self._call(http, "exam", "POST", "/api/v1/exams", json={
                "course_id": COURSE, "content_id": f"load-{i}", "exam_name": f"Load {i}",
                "time_limit_mins": 120, "backend": "mock", "is_proctored": True})
            assert r is not None and r.status_code == 201, r and r.text
            self.exam_ids.append(r.json()["id"])

    # --- traffic ---------------------------------------------------------------------------------
    def lifecycle(self, http, rnd, db) -> None:
        """Create an attempt, give it PSI's ids, ready, start, usually submit, read it back."""
        n = rnd.randrange(10**12)
        r = self._call(http, "create", "POST", "/api/v1/attempts", json={
            "exam_id": rnd.choice(self.exam_ids),
            "user": {"lms_user_id": f"load-{n}", "username": f"load{n}"}})
        if r is None or r.status_code != 201:
            return
        attempt = r.json()
        locator = f"SSI-LOAD-{attempt['id']}"
        # Made as a mock attempt, then given PSI's ids directly (as tests/psi_helpers does):
        # no call to PSI's registration service.
        db.execute("UPDATE attempts_attempt SET backend = 'software_secure', external_id = %s "
                   "WHERE id = %s", (locator, attempt["id"]))
        with self.lock:
            self.created.append(attempt["id"])
        path = f"/api/v1/attempts/{attempt['id']}/actions"
        actions = ["ready", "start"] + (["submit"] if rnd.random() < 0.7 else [])
        for action in actions:
            r = self._call(http, action, "POST", path, json={"action": action})
            if r is None or r.status_code != 200:
                return
        self._call(http, "read", "GET", f"/api/v1/attempts/{attempt['id']}")
        with self.lock:
            self.fresh.append(SimpleNamespace(id=attempt["id"], attempt_code=attempt["attempt_code"],
                                              external_id=locator))

    def review_body(self, attempt, rnd) -> tuple[bytes, str, int]:
        name = rnd.choice(sorted(LABELS))
        text = (FIXTURES / name).read_text().replace("{attempt_code}", attempt.attempt_code)
        body = json.loads(text.replace("{external_id}", attempt.external_id))
        comments = len(body.get("webCamComments") or []) + len(body.get("desktopComments") or [])
        return json.dumps(body).encode(), LABELS[name], comments

    def post_review(self, http, kind, body) -> None:
        r = self._call(http, kind, "POST", "/api/v1/providers/software_secure/reviews", data=body,
                       auth=BASIC, headers={"Content-Type": "application/json"})
        if r is None or r.status_code >= 500:
            with self.lock:
                self.to_retry.append(body)

    def redeliver_failed(self) -> None:
        """What PSI does with a refused callback: send it again until it is taken."""
        http = requests.Session()
        for body in self.to_retry:
            for _ in range(20):
                r = self._call(http, "review retried after fault", "POST",
                               "/api/v1/providers/software_secure/reviews", data=body,
                               auth=BASIC, headers={"Content-Type": "application/json"})
                if r is not None and r.status_code == 200:
                    break
                time.sleep(0.5)
            else:
                self.server_errors.append(("retry", 0, "a retried delivery never landed"))

    def interrupter(self, started: float) -> None:
        """Terminate the server's PostgreSQL connections (not the load generator's) on time."""
        for at in self.interrupt_at:
            time.sleep(max(0.0, started + at - time.monotonic()))
            with psycopg.connect(self.server.database_url, autocommit=True) as db:
                rows = db.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
                    "current_database() AND pid <> pg_backend_pid() AND application_name <> "
                    "'reliability-load'").fetchall()
            with self.lock:
                self.terminated += len(rows)

    def callback(self, http, rnd) -> bool:
        r = rnd.random()
        with self.lock:
            if r < 0.20 and self.delivered:
                _, body = rnd.choice(self.delivered)
                attempt = None
            elif self.fresh:
                attempt = self.fresh.pop(rnd.randrange(len(self.fresh)))
            else:
                return False
        if attempt is None:
            self.post_review(http, "review re-delivery", body)
            return True
        body, status, comments = self.review_body(attempt, rnd)
        with self.lock:
            self.expected[attempt.id] = (status, comments)
        if r < 0.25:  # 5%: the same new review twice at once
            other = threading.Thread(target=self.post_review,
                                     args=(requests.Session(), "review concurrent duplicate", body))
            other.start()
            self.post_review(http, "review concurrent duplicate", body)
            other.join()
        else:
            self.post_review(http, "review", body)
        with self.lock:
            self.delivered.append((attempt.id, body))
        return True

    def worker(self, index: int, until: float) -> None:
        rnd = random.Random(self.seed * 1000 + index)
        http, psi = self.lms(), requests.Session()
        with psycopg.connect(self.server.database_url, autocommit=True,
                             application_name="reliability-load") as db:
            while time.monotonic() < until:
                if rnd.random() < 0.5 and self.callback(psi, rnd):
                    continue
                self.lifecycle(http, rnd, db)

    def run(self) -> dict:
        self.setup()
        started = time.monotonic()
        until = started + self.seconds
        threads = [threading.Thread(target=self.worker, args=(i, until)) for i in range(THREADS)]
        if self.interrupt_at:
            threads.append(threading.Thread(target=self.interrupter, args=(started,)))
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.redeliver_failed()
        elapsed = time.monotonic() - started
        total = sum(self.statuses.values())
        return {"seconds": round(elapsed, 1), "requests": total,
                "requests_per_second": round(total / elapsed, 1),
                "attempts": len(self.created), "reviewed": len(self.expected),
                "by_kind": {f"{k} {s}": n for (k, s), n in sorted(self.statuses.items())},
                "transport_errors": dict(self.errors), "server_errors": len(self.server_errors),
                **({"connections_terminated": self.terminated,
                    "answered_503_retry_after": self.unavailable,
                    "callbacks_retried": len(self.to_retry)} if self.interrupt_at else {})}

    # --- checks ----------------------------------------------------------------------------------
    def check(self) -> list[str]:
        """Everything the database must show after the load; a list of problems (empty: good)."""
        problems = [f"{k} answered {s}: {b}" for k, s, b in self.server_errors[:20]]
        problems += [f"transport error {k} x{n}" for k, n in self.errors.items()]
        with psycopg.connect(self.server.database_url) as db:
            reviews = {row[0]: row[1:] for row in db.execute(
                "SELECT attempt_id, status, id FROM reviews_review")}
            comments = dict(db.execute(
                "SELECT r.attempt_id, count(c.id) FROM reviews_review r "
                "LEFT JOIN reviews_reviewcomment c ON c.review_id = r.id GROUP BY r.attempt_id"))
            statuses = dict(db.execute("SELECT id, status FROM attempts_attempt"))
            review_count = dict(db.execute(
                "SELECT attempt_id, count(*) FROM reviews_review GROUP BY attempt_id"))
            received = Counter(dict(db.execute(
                "SELECT attempt_id, count(*) FROM notifications_outboxevent "
                "WHERE kind = 'review.received' GROUP BY attempt_id")))
            support = Counter(dict(db.execute(
                "SELECT attempt_id, count(*) FROM notifications_outboxevent "
                "WHERE kind = 'support.suspicious_review' GROUP BY attempt_id")))
            applied = Counter(dict(db.execute(
                "SELECT attempt_id, count(*) FROM reviews_delivery WHERE outcome = 'applied' "
                "GROUP BY attempt_id")))
            outcomes = Counter(dict(db.execute(
                "SELECT outcome, count(*) FROM reviews_delivery GROUP BY outcome")))
        for attempt_id, (status, n_comments) in self.expected.items():
            if review_count.get(attempt_id) != 1:
                problems.append(f"attempt {attempt_id}: {review_count.get(attempt_id, 0)} reviews")
                continue
            if reviews[attempt_id][0] != status:
                problems.append(f"attempt {attempt_id}: review {reviews[attempt_id][0]} != {status}")
            if comments.get(attempt_id) != n_comments:
                problems.append(f"attempt {attempt_id}: {comments.get(attempt_id)} comments, "
                                f"expected {n_comments}")
            if statuses[attempt_id] != POLICY[status]:
                problems.append(f"attempt {attempt_id}: status {statuses[attempt_id]}, the policy "
                                f"says {POLICY[status]} for {status}")
            if received[attempt_id] != 1:
                problems.append(f"attempt {attempt_id}: {received[attempt_id]} review.received")
            if support[attempt_id] != (1 if status == "suspicious" else 0):
                problems.append(f"attempt {attempt_id}: {support[attempt_id]} support notices")
            if applied[attempt_id] != 1 and not self.interrupt_at:
                # (with faults, a review can commit and its delivery record then fail to save)
                problems.append(f"attempt {attempt_id}: {applied[attempt_id]} applied deliveries")
        extra = set(reviews) - set(self.expected)
        if extra:
            problems.append(f"reviews for attempts never reviewed: {sorted(extra)[:10]}")
        unexpected = set(outcomes) - {"applied", "duplicate"} - (
            {"failed", "received", ""} if self.interrupt_at else set())
        if unexpected:
            problems.append(f"delivery outcomes other than applied/duplicate: {dict(outcomes)}")
        for attempt_id in set(self.created) - set(self.expected):
            if statuses.get(attempt_id) not in ("ready_to_start", "started", "submitted",
                                                "created"):
                problems.append(f"unreviewed attempt {attempt_id} is {statuses.get(attempt_id)}")
        self.outcomes = dict(outcomes)
        return problems


def main(seconds: float) -> int:
    url = fresh_database(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/x"))
    server = Server(url).start()
    try:
        load = Load(server, seconds)
        summary = load.run()
    finally:
        server.stop()
    problems = load.check()
    summary["delivery_outcomes"] = load.outcomes
    print(json.dumps(summary, indent=2))
    for p in problems[:50]:
        print("PROBLEM:", p)
    if not problems:
        server.cleanup()
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(float(sys.argv[1]) if len(sys.argv) > 1 else 30))
