"""Tracking log: one JSON object a line per event, for analytics pipelines.

Shape (no names or emails; the LMS user id is the LMS's own opaque id)::

    {"name": "proctorhub.attempt.status_changed", "time": "2026-05-01T10:00:00+00:00",
     "event_id": 12, "course_id": "course-v1:...", "exam_id": 3, "content_id": "block-v1:...",
     "attempt_id": 7, "status": "verified", "old_status": "submitted", "lms_user_id": "42"}

``[tracking] path`` is a file (relative to the var dir unless absolute, appended to with one
``write`` per line, so concurrent workers don't interleave) or ``stdout``. Sent at least once:
a line may repeat after a crash; ``event_id`` lets a pipeline drop the copy.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC
from pathlib import Path
from typing import Any

from django.conf import settings

from proctorhub.notifications.channels.webhooks import _content_id
from proctorhub.notifications.dispatch import Skipped
from proctorhub.notifications.models import OutboxDelivery, OutboxEvent

FIELDS = ("course_id", "exam_id", "content_id", "attempt_id", "old_status", "review_status",
          "lms_user_id")


def line_for(event: OutboxEvent) -> dict[str, Any]:
    p = event.payload
    line: dict[str, Any] = {
        "name": f"proctorhub.{event.kind}",
        "time": event.created_at.astimezone(UTC).isoformat(),
        "event_id": event.pk,
    }
    for key in FIELDS:
        if p.get(key) is not None:
            line[key] = p[key]
    if event.attempt_id is not None:
        line.setdefault("attempt_id", event.attempt_id)
    if "exam_id" in p and "content_id" not in p:  # events stored before payloads carried it
        line["content_id"] = _content_id(p["exam_id"])
    line["status"] = p.get("new_status") or p.get("status") or p.get("review_status")
    return line


def target() -> str:
    path = str(settings.CONFIG.tracking.get("path") or "").strip()
    if not path or path == "stdout":
        return path
    full = Path(path)
    if not full.is_absolute():
        full = Path(settings.CONFIG.var_dir) / full
    return str(full)


def send(delivery: OutboxDelivery, event: OutboxEvent) -> None:
    text = json.dumps(line_for(event), separators=(",", ":"), default=str) + "\n"
    where = target()
    if not where:
        raise Skipped("[tracking] path is empty (tracking is off)")
    if where == "stdout":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    data = text.encode()
    os.makedirs(os.path.dirname(where) or ".", exist_ok=True)
    fd = os.open(where, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
