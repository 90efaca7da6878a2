"""The embedded background runner: drains the outbox, sweeps timed-out attempts and settles
review deliveries abandoned without an outcome.

``proctorhub serve`` runs it in a thread of the server process (no broker needed on one machine);
``proctorhub worker`` runs the same loop in the foreground.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connections

from proctorhub.attempts.services import sweep_timed_out
from proctorhub.notifications.dispatch import drain
from proctorhub.reviews.abandoned import settle_abandoned_deliveries

log = logging.getLogger(__name__)


#: Outbox rows one pass sends at most. A full pass means more rows are due (a backlog after an
#: outage): the loop goes on at once instead of pausing ``poll_seconds``.
PASS_LIMIT = 100


def run_once(*, sweep: bool = True, backlog_seconds: float = 0.0) -> dict[str, int]:
    """One pass; with ``backlog_seconds``, further passes while they come back full, for up to
    that long (the Celery sweep task, which runs once per beat, uses this to drain a backlog)."""
    sent = last = drain(PASS_LIMIT)
    deadline = time.monotonic() + backlog_seconds
    while last >= PASS_LIMIT and time.monotonic() < deadline:
        last = drain(PASS_LIMIT)
        sent += last
    counts = sweep_timed_out() if sweep else {}
    if sweep:
        counts["deliveries_abandoned"] = settle_abandoned_deliveries()
    return {"outbox_sent": sent, **counts}


def run_forever(stop: threading.Event, *, poll_seconds: float = 1.0) -> None:
    sweep_every = float(settings.CONFIG.attempts.get("sweep_interval_seconds", 30))
    last_sweep = 0.0
    while not stop.is_set():
        close_old_connections()
        backlog = False
        try:
            now = time.monotonic()
            do_sweep = now - last_sweep >= sweep_every
            result = run_once(sweep=do_sweep)
            if do_sweep:
                last_sweep = now
            if any(result.values()):
                log.info("background run", extra=result)
            backlog = result["outbox_sent"] >= PASS_LIMIT
        except Exception:  # noqa: BLE001 - the loop must survive a bad row or a database blip
            log.exception("background runner iteration failed")
        if not backlog:
            stop.wait(poll_seconds)
    connections.close_all()


def start_thread(poll_seconds: float = 1.0) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=run_forever, args=(stop,), kwargs={"poll_seconds": poll_seconds},
                              name="proctorhub-runner", daemon=True)
    thread.start()
    return thread, stop
