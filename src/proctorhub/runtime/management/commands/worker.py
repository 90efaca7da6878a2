"""``proctorhub worker``: a Celery worker for the outbox, or the embedded loop without a broker.

- With ``CELERY_BROKER_URL`` set: a Celery worker consuming the outbox tasks enqueued on commit,
  plus a sweep thread in the same process that every ``[outbox] sweep_seconds`` sends whatever is
  due (retries, rows whose task was lost while the broker was down, expired leases) and submits
  timed-out attempts. Run as many workers as you like: rows are claimed, never sent twice at once.
- ``--embedded`` (or no broker configured): the broker-less loop of ``proctorhub serve``'s
  background thread, in the foreground. ``--once``: one pass of it, then exit.
"""

from __future__ import annotations

import signal
import threading

from django.conf import settings
from django.core.management.base import BaseCommand

from proctorhub.runtime.runner import run_forever, run_once, start_thread


class Command(BaseCommand):
    help = ("Send outbox events and submit timed-out attempts: a Celery worker when "
            "CELERY_BROKER_URL is set, else (or with --embedded) the embedded loop.")

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="one embedded pass, then exit")
        parser.add_argument("--embedded", action="store_true",
                            help="run the broker-less loop even if a broker is configured")
        parser.add_argument("--poll-seconds", type=float, default=1.0,
                            help="embedded loop: pause between passes")
        parser.add_argument("--concurrency", type=int, default=4, help="Celery: threads")
        parser.add_argument("--pool", default="threads",
                            help="Celery pool: threads (default; sending is I/O), prefork, solo")
        parser.add_argument("--loglevel", default="INFO")
        parser.add_argument("--no-sweep", action="store_true",
                            help="Celery: no sweep thread (run `celery beat` for the sweep)")

    def handle(self, *args, once, embedded, poll_seconds, concurrency, pool, loglevel,
               no_sweep, **options):
        if once:
            self.stdout.write(str(run_once()))
            return
        broker = getattr(settings, "CELERY_BROKER_URL", "")
        if embedded or not broker:
            if not broker:
                self.stderr.write("CELERY_BROKER_URL is not set: running the embedded loop "
                                  "(no broker needed; one process sends)")
            stop = threading.Event()
            signal.signal(signal.SIGTERM, lambda *_: stop.set())
            signal.signal(signal.SIGINT, lambda *_: stop.set())
            run_forever(stop, poll_seconds=poll_seconds)
            return
        from proctorhub.notifications.celery import app

        sweeper = None
        if not no_sweep:
            sweeper = start_thread(poll_seconds=float(settings.CONFIG.outbox["sweep_seconds"]))
        try:
            app.worker_main(["worker", f"--loglevel={loglevel}", f"--pool={pool}",
                             f"--concurrency={concurrency}",
                             f"--queues={app.conf.task_default_queue}"])
        finally:
            if sweeper is not None:
                sweeper[1].set()
