"""The raw floor: the writes one review needs, issued directly (psycopg / sqlite3), no ORM.

Per review, one transaction: lock the attempt row, record the delivery, upsert the review,
replace its comments, update the attempt's status, insert one history row for the review and one
for the attempt, and insert the outbox events (review.received, attempt.status_changed, plus
support.suspicious_review for suspicious) with one delivery row each (tracking) — what proctorhub
writes with its default configuration.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from datetime import UTC, datetime

#: Attempt columns derived for the staff queue; the history table does not keep them
#: (``proctorhub.attempts.models.DERIVED_FIELDS``, repeated so this module needs no Django).
DERIVED_FIELDS = ("review_status", "review_is_staff", "review_sha256", "queue_priority",
                  "activity_at")

STATUS_TARGET = {"passed": "verified", "violation": "verified", "not_reviewed": "error",
                 "suspicious": "second_review_required"}


class Floor:
    def __init__(self, kind: str, dsn: str):
        self.kind, self.dsn = kind, dsn

    def connect(self):
        if self.kind == "postgres":
            import psycopg

            return psycopg.connect(self.dsn, autocommit=True)
        conn = sqlite3.connect(self.dsn, timeout=20, isolation_level=None,
                               check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    def q(self, sql: str) -> str:
        if self.kind == "postgres":
            return sql
        return sql.replace("%s", "?").replace(" FOR UPDATE", "")

    def js(self, value):
        if self.kind == "postgres":
            from psycopg.types.json import Jsonb

            return Jsonb(value)
        return json.dumps(value)

    def apply(self, conn, attempt_id: int, status: str, raw: dict, comments: list[dict]) -> None:
        now = datetime.now(UTC)
        q, js = self.q, self.js
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE" if self.kind == "sqlite" else "BEGIN")
        try:
            cur.execute(q("SELECT * FROM attempts_attempt WHERE id = %s FOR UPDATE"), (attempt_id,))
            row = cur.fetchone()
            cols = [d[0] for d in cur.description]
            attempt = dict(zip(cols, row, strict=True))
            digest = hashlib.sha256(json.dumps({"status": status, "raw": raw},
                                               sort_keys=True).encode()).hexdigest()
            cur.execute(q(
                "INSERT INTO reviews_delivery (provider, received_at, outcome, http_status, detail, "
                "attempt_code, external_id, attempt_id, payload, payload_sha256, video_key_id, "
                "video_link_encrypted) VALUES (%s, %s, 'applied', 200, '', %s, %s, %s, %s, %s, '', '')"),
                ("software_secure", now, attempt["attempt_code"], attempt["external_id"],
                 attempt_id, js(raw), digest))
            cur.execute(q(
                "INSERT INTO reviews_review (attempt_id, attempt_code, provider, status, "
                "is_staff_review, payload_sha256, raw, video_key_id, video_link_encrypted, "
                "staff_reason, created_at, modified_at) VALUES "
                "(%s, %s, 'software_secure', %s, %s, %s, %s, '', '', '', %s, %s) "
                "ON CONFLICT (attempt_id) DO UPDATE SET status = excluded.status, "
                "raw = excluded.raw, payload_sha256 = excluded.payload_sha256, "
                "modified_at = excluded.modified_at RETURNING *"),
                (attempt_id, attempt["attempt_code"], status, False, digest, js(raw), now, now))
            rrow = cur.fetchone()
            review = dict(zip([d[0] for d in cur.description], rrow, strict=True))
            cur.execute(q("DELETE FROM reviews_reviewcomment WHERE review_id = %s"), (review["id"],))
            if comments:
                values = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(comments))
                params = []
                for c in comments:
                    params += [review["id"], c["start"], c["stop"], c["duration"], c["comment"],
                               c["status"]]
                cur.execute(q("INSERT INTO reviews_reviewcomment (review_id, start, stop, duration, "
                              f"comment, status) VALUES {values}"), params)
            self._history(cur, "reviews_historicalreview", review, now, "review " + status)
            new_status = STATUS_TARGET[status]
            priority = {"second_review_required": 0, "error": 1}.get(new_status, 2)
            cur.execute(q("UPDATE attempts_attempt SET status = %s, modified_at = %s, "
                          "review_status = %s, review_sha256 = %s, queue_priority = %s "
                          "WHERE id = %s"),
                        (new_status, now, status, digest, priority, attempt_id))
            attempt["status"], attempt["modified_at"] = new_status, now
            self._history(cur, "attempts_historicalattempt", attempt, now, "provider verify")
            kinds = ["review.received", "attempt.status_changed"]
            if status == "suspicious":
                kinds.append("support.suspicious_review")
            for kind in kinds:
                key = f"{kind}:{attempt_id}:{digest}"
                payload = {"attempt_id": attempt_id, "attempt_code": attempt["attempt_code"],
                           "review_status": status, "new_status": new_status}
                cur.execute(q(
                    "INSERT INTO notifications_outboxevent (kind, payload, idempotency_key, "
                    "attempt_id, state, tries, next_attempt_at, last_error, created_at) VALUES "
                    "(%s, %s, %s, %s, 'pending', 0, %s, '', %s) RETURNING id"),
                    (kind, js(payload), key, attempt_id, now, now))
                event_id = cur.fetchone()[0]
                cur.execute(q(
                    "INSERT INTO notifications_outboxdelivery (event_id, destination, "
                    "idempotency_key, attempt_id, state, tries, next_attempt_at, last_error, "
                    "created_at) VALUES (%s, 'tracking', %s, %s, 'pending', 0, %s, '', %s)"),
                    (event_id, key + "/tracking", attempt_id, now, now))
            cur.execute("COMMIT")
        except BaseException:
            cur.execute("ROLLBACK")
            raise

    def _history(self, cur, table: str, row: dict, now, reason: str) -> None:
        data = dict(row)
        data.pop("id")
        data["id"] = row["id"]
        data.update(history_date=now, history_change_reason=reason, history_type="~",
                    history_user_id=None)
        for derived in DERIVED_FIELDS:  # columns the history tables do not keep
            data.pop(derived, None)
        for key in ("raw", "payload"):
            if key in data and data[key] is not None and not isinstance(data[key], str):
                data[key] = self.js(data[key])
        cols = ", ".join(data)
        marks = ", ".join(["%s"] * len(data))
        cur.execute(self.q(f"INSERT INTO {table} ({cols}) VALUES ({marks})"), list(data.values()))

    def run(self, jobs: list[tuple[int, str, dict, list[dict]]], threads: int) -> dict:
        """Apply every job with ``threads`` connections; return reviews/s and latencies."""
        parts = [jobs[i::threads] for i in range(threads)]
        latencies: list[float] = []
        errors: list[BaseException] = []
        lock = threading.Lock()

        def work(part):
            conn = self.connect()
            mine = []
            try:
                for job in part:
                    t0 = time.perf_counter()
                    self.apply(conn, *job)
                    mine.append((time.perf_counter() - t0) * 1000)
            except BaseException as exc:  # a failed floor must fail the run, not look fast
                errors.append(exc)
            finally:
                conn.close()
            with lock:
                latencies.extend(mine)

        ts = [threading.Thread(target=work, args=(p,)) for p in parts]
        start = time.perf_counter()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        elapsed = time.perf_counter() - start
        if errors:
            raise RuntimeError(f"the raw floor failed: {errors[0]!r}") from errors[0]
        return {"reviews": len(jobs), "threads": threads, "elapsed_s": elapsed,
                "per_s": len(jobs) / elapsed, "latencies_ms": latencies}
