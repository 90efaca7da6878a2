"""PostgreSQL: write a transaction's outbox events and all their deliveries in one statement.

Python decides the fixed destinations (handler, tracking, support, learner email); the active
webhook endpoints that want each public kind are joined in SQL, so emitting reads no endpoint
rows. Events are inserted in emit order (ids follow it, which per-attempt ordering relies on);
an event whose key exists already is skipped with its deliveries, as ``emit`` promises; an event
with no destination at all is written as delivered.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.utils import timezone

from proctorhub.db.sql import execute, qn
from proctorhub.notifications.models import OutboxDelivery, OutboxEvent, State, WebhookEndpoint
from proctorhub.notifications.routing import HANDLER

NO_DESTINATION = "no destination for this kind"

#: SQL twin of :meth:`WebhookEndpoint.wants` (``w`` the endpoint, ``v.kind`` the event's kind).
WANTS_SQL = ("(w.event_kinds IS NULL OR w.event_kinds IN ('null', '[]', '{}', '\"\"') "
             "OR (jsonb_typeof(w.event_kinds) = 'array' AND (w.event_kinds @> '[\"*\"]' "
             "OR w.event_kinds @> jsonb_build_array(v.kind))))")


@dataclass
class Pending:
    """An emitted event not yet written."""

    kind: str
    payload: dict[str, Any]
    key: str
    attempt_id: int | None
    when: datetime
    fixed: list[str]   # destinations decided in Python
    public: bool       # webhooks may subscribe to it


@dataclass
class Written:
    event_ids: dict[str, tuple[int, str]]        # key -> (event id, state), inserted ones only
    deliveries: list[tuple[int, datetime]]       # (delivery id, next attempt at)


def write(pendings: list[Pending]) -> Written:
    now = timezone.now()
    payload_field = OutboxEvent._meta.get_field("payload")
    rows, params = [], []
    for n, p in enumerate(pendings):
        rows.append("(%s::int, %s::varchar, %s::jsonb, %s::varchar, %s::bigint, %s::timestamptz, "
                    "%s::text[], %s::boolean)")
        params += [n, p.kind, payload_field.get_db_prep_save(p.payload, connection), p.key,
                   p.attempt_id, p.when, p.fixed, p.public]
    events, deliveries = qn(OutboxEvent._meta.db_table), qn(OutboxDelivery._meta.db_table)
    endpoints = qn(WebhookEndpoint._meta.db_table)
    sql = f"""
WITH v (ord, kind, payload, key, attempt_id, next_at, fixed, public) AS (VALUES {', '.join(rows)}),
dests (key, destination) AS (
    SELECT v.key, f.destination FROM v, unnest(v.fixed) AS f(destination)
    UNION ALL
    SELECT v.key, 'webhook:' || w.id FROM v JOIN {endpoints} w
        ON v.public AND w.is_active AND {WANTS_SQL}
),
x AS (SELECT v.*, EXISTS (SELECT 1 FROM dests WHERE dests.key = v.key) AS has FROM v),
e AS (
    INSERT INTO {events} (kind, payload, idempotency_key, attempt_id, state, tries,
                          next_attempt_at, last_error, created_at, delivered_at)
    SELECT kind, payload, key, attempt_id,
           CASE WHEN has THEN %s ELSE %s END, 0, next_at,
           CASE WHEN has THEN '' ELSE %s END, %s::timestamptz,
           CASE WHEN has THEN NULL ELSE %s::timestamptz END
    FROM x ORDER BY ord
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id, idempotency_key, attempt_id, next_attempt_at, state
),
ins AS (
    INSERT INTO {deliveries} (event_id, destination, idempotency_key, attempt_id, state, tries,
                              next_attempt_at, last_error, created_at, delivered_at)
    SELECT e.id, d.destination,
           CASE WHEN d.destination = %s THEN e.idempotency_key
                ELSE e.idempotency_key || '/' || d.destination END,
           e.attempt_id, %s, 0, e.next_attempt_at, '', %s::timestamptz, NULL
    FROM e JOIN dests d ON d.key = e.idempotency_key
    ORDER BY e.id, d.destination
    RETURNING id, next_attempt_at
)
SELECT 'e', id, idempotency_key, state, NULL::timestamptz FROM e
UNION ALL
SELECT 'd', id, NULL, NULL, next_attempt_at FROM ins"""
    params += [State.PENDING, State.DELIVERED, NO_DESTINATION, now, now, HANDLER, State.PENDING,
               now]
    written = Written({}, [])
    for what, pk, key, state, when in execute(sql, params):
        if what == "e":
            written.event_ids[key] = (pk, state)
        else:
            written.deliveries.append((pk, when))
    return written
