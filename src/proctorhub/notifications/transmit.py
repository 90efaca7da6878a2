"""Run prepared sends (HTTP only, no database) several at once on a small thread pool.

The dispatcher reads and writes the database on its own thread; only the network calls a channel
prepared (see ``webhooks.prepare_send``) run here, so a slow receiver costs its round trip once
per pool width instead of once per row. ``[webhooks] send_threads`` sets the width (1 = in line).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from django.conf import settings

Transmit = Callable[[], None]

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_width = 0


def width() -> int:
    return max(1, int(settings.CONFIG.webhooks.get("send_threads", 8)))


def _executor(threads: int) -> ThreadPoolExecutor:
    global _pool, _width
    with _lock:
        if _pool is None or _width != threads:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="outbox-send")
            _width = threads
        return _pool


def run_all(jobs: list[tuple[str, Transmit]]
            ) -> Iterator[list[tuple[int, BaseException | None]]]:
    """Run each ``(destination, call)``; yield, as they finish, groups of ``(index of the job,
    its exception or None when it worked)`` — so a caller can record what is done while a slow
    request is still out.

    Once a call to a destination fails, calls to it that have not started yet are not made:
    they come back as :class:`NotTried` (the dispatcher hands those rows back unsent).
    """
    failed: set[str] = set()

    def run(destination: str, call: Transmit) -> BaseException | None:
        if destination in failed:
            return NotTried(destination)
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - the dispatcher decides what a failure means
            failed.add(destination)
            return exc
        return None

    threads = width()
    if threads == 1 or len(jobs) == 1:
        for i, (destination, call) in enumerate(jobs):
            yield [(i, run(destination, call))]
        return
    pool = _executor(threads)
    pending = {pool.submit(run, d, c): i for i, (d, c) in enumerate(jobs)}
    while pending:
        done, _ = wait(pending, return_when=FIRST_COMPLETED)
        yield [(pending.pop(f), f.result()) for f in done]


class NotTried(Exception):
    """The call was skipped because an earlier call to the same destination just failed."""
