"""``proctorhub worker``: run the background loop (outbox + timeout sweep) in the foreground."""

from __future__ import annotations

import signal
import threading

from django.core.management.base import BaseCommand

from proctorhub.runtime.runner import run_forever, run_once


class Command(BaseCommand):
    help = "Send outbox events and submit timed-out attempts until stopped (or once, with --once)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="one pass, then exit")
        parser.add_argument("--poll-seconds", type=float, default=1.0)

    def handle(self, *args, once, poll_seconds, **options):
        if once:
            self.stdout.write(str(run_once()))
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        run_forever(stop, poll_seconds=poll_seconds)
