"""LMS webhooks, signed per the Standard Webhooks specification (``standardwebhooks``).

Each request carries ``webhook-id`` (the delivery's idempotency key: the same on every re-send,
so a receiver drops copies), ``webhook-timestamp`` (Unix seconds of this send) and
``webhook-signature`` (``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`` with the
endpoint's ``whsec_`` secret). The body::

    {"type": "attempt.status_changed", "timestamp": "<when it happened, ISO 8601>",
     "data": {...event payload..., "event_id": 123, "content_id": "...", "credit": {...}}}
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import requests
from django.conf import settings
from standardwebhooks.webhooks import Webhook

from proctorhub import __version__
from proctorhub.notifications.dispatch import GiveUp, RetryLater
from proctorhub.notifications.models import OutboxDelivery, OutboxEvent, WebhookEndpoint

RETRY_STATUSES = {408, 409, 425, 429}
_local = threading.local()


def credit_for(old_status: str | None, new_status: str) -> dict[str, Any] | None:
    """What the LMS should do with credit and grades when an attempt reaches ``new_status``.

    - submitted → requirement ``submitted``
    - verified → ``satisfied``; after ``rejected`` also undo the grade override
    - rejected → ``failed`` and override the grade to zero
    - declined / error → ``failed``
    """
    if new_status == "submitted":
        return {"requirement_status": "submitted", "grade_override": None}
    if new_status == "verified":
        undo = {"action": "undo"} if old_status == "rejected" else None
        return {"requirement_status": "satisfied", "grade_override": undo}
    if new_status == "rejected":
        return {"requirement_status": "failed",
                "grade_override": {"action": "override", "earned_all": 0.0,
                                   "earned_graded": 0.0}}
    if new_status in ("declined", "error"):
        return {"requirement_status": "failed", "grade_override": None}
    return None


def body_for(event: OutboxEvent) -> dict[str, Any]:
    """The JSON body; built from the stored event only, so every re-send carries the same data."""
    data = dict(event.payload)
    data["event_id"] = event.pk
    if event.kind == "attempt.status_changed":
        data["credit"] = credit_for(data.get("old_status"), data.get("new_status", ""))
    if "exam_id" in data and "content_id" not in data:
        data["content_id"] = _content_id(data["exam_id"])
    return {"type": event.kind, "timestamp": event.created_at.astimezone(UTC).isoformat(),
            "data": data}


def _content_id(exam_id: int) -> str | None:
    from proctorhub.exams.models import Exam

    return Exam.objects.filter(pk=exam_id).values_list("content_id", flat=True).first()


def signed_headers(secret: str, msg_id: str, body: str, *, now: datetime | None = None
                   ) -> dict[str, str]:
    now = now or datetime.now(UTC)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, now, body),
        "Content-Type": "application/json",
        "User-Agent": f"proctorhub/{__version__}",
    }


def _session() -> requests.Session:
    session = getattr(_local, "session", None)
    if session is None:
        session = _local.session = requests.Session()
    return session


def _endpoint_id(destination: str) -> int:
    return int(destination.split(":", 1)[1])


_UNSET = object()


def attach_endpoints(rows: list[OutboxDelivery]) -> None:
    """Read the endpoints of a claimed batch's webhook rows in one query (``send`` would read
    each row's on its own); a row whose endpoint is gone gets ``None``."""
    webhook_rows = [r for r in rows if r.destination.startswith("webhook:")]
    if not webhook_rows:
        return
    found = WebhookEndpoint.objects.in_bulk({_endpoint_id(r.destination) for r in webhook_rows})
    for row in webhook_rows:
        row.webhook_endpoint = found.get(_endpoint_id(row.destination))


def send(delivery: OutboxDelivery, event: OutboxEvent) -> None:
    prepare_send(delivery, event)()


def prepare_send(delivery: OutboxDelivery, event: OutboxEvent) -> Callable[[], None]:
    """Everything a send reads from the database, done here; the returned call only talks HTTP
    (so the dispatcher may run it on another thread, several receivers at once)."""
    endpoint_id = _endpoint_id(delivery.destination)
    endpoint = getattr(delivery, "webhook_endpoint", _UNSET)
    if endpoint is _UNSET:
        endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise GiveUp(f"webhook endpoint {endpoint_id} no longer exists")
    if not endpoint.is_active:
        raise GiveUp(f"webhook endpoint {endpoint_id} is disabled; enable it, then replay")
    body = json.dumps(body_for(event), separators=(",", ":"), sort_keys=True, default=str)
    headers = signed_headers(endpoint.secret, delivery.idempotency_key, body)
    timeout = float(settings.CONFIG.webhooks.get("timeout_seconds", 10))
    url = endpoint.url
    return lambda: _post(url, body, headers, timeout)


def _post(url: str, body: str, headers: dict[str, str], timeout: float) -> None:
    response = _session().post(url, data=body.encode(), headers=headers,
                               timeout=timeout, allow_redirects=False)
    status = response.status_code
    if 200 <= status < 300:
        return
    if status >= 500 or status in RETRY_STATUSES:
        raise RetryLater(f"{url} answered {status}")
    # 3xx (not followed: a redirect could leak the signed body elsewhere) and other 4xx won't
    # change on retry; parked as dead for the operator to fix and replay.
    raise GiveUp(f"{url} answered {status}: {response.text[:200]}")
