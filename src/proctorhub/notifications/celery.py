"""The Celery app for scale-out sending: ``proctorhub worker`` (or ``celery -A`` this module).

Configured from Django settings ``CELERY_*`` (``CELERY_BROKER_URL`` from the environment, e.g.
``redis://127.0.0.1:6379/0`` or ``amqp://guest:guest@127.0.0.1:5672//``). Tasks carry only row
ids; the rows themselves, their claim and their outcome live in the database, so a lost task
loses nothing: the periodic sweep (:func:`sweep`) sends whatever is due.
"""

from __future__ import annotations

import logging
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "proctorhub.settings")

log = logging.getLogger(__name__)

app = Celery("proctorhub")
app.config_from_object("django.conf:settings", namespace="CELERY")


@app.task(name="proctorhub.outbox.send", ignore_result=True)
def send(ids: list[int]) -> int:
    """Send these just-committed rows (and the rows queued behind them per attempt)."""
    from proctorhub.notifications.dispatch import send_rows

    return send_rows([int(i) for i in ids])


@app.task(name="proctorhub.outbox.sweep", ignore_result=True)
def sweep() -> dict[str, int]:
    """Send everything due (missed tasks, retries, expired leases); submit timed-out attempts.

    A backlog (rows piled up while a receiver was down) is sent in passes for up to
    SWEEP_BACKLOG_SECONDS; sweeps running at once on other workers take other rows.
    """
    from proctorhub.runtime.runner import run_once

    return run_once(backlog_seconds=SWEEP_BACKLOG_SECONDS)


SWEEP_BACKLOG_SECONDS = 60.0


def enqueue(ids: list[int], *, countdown: float = 0) -> bool:
    """Ask a worker to send ``ids``; False (logged) if the broker can't be reached."""
    try:
        send.apply_async((ids,), countdown=countdown or None, retry=True,
                         retry_policy=app.conf.task_publish_retry_policy)
    except Exception as exc:  # noqa: BLE001 - the rows are safe in the database; the sweep sends
        log.warning("could not enqueue outbox rows; the sweep will send them",
                    extra={"delivery_ids": ids[:20], "error": type(exc).__name__})
        return False
    return True
