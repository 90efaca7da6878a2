"""``proctorhub serve``: migrate, then serve with gunicorn plus the embedded background runner."""

from __future__ import annotations

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from gunicorn.app.base import BaseApplication

from proctorhub.runtime.runner import start_thread


class _Gunicorn(BaseApplication):
    def __init__(self, app, options):
        self.application, self.options = app, options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return self.application


class Command(BaseCommand):
    help = "Serve the API and staff pages (gunicorn), migrating first, with the background runner."

    def add_arguments(self, parser):
        parser.add_argument("--bind", default="127.0.0.1:8000", help="HOST:PORT to listen on")
        parser.add_argument("--workers", type=int, default=2)
        parser.add_argument("--threads", type=int, default=None,
                            help="threads per worker (gthread); 1 = gunicorn's sync workers. "
                                 "Default: 4 on PostgreSQL (a thread waiting on the database "
                                 "leaves the CPU to another), 1 on SQLite (one writer at a time)")
        parser.add_argument("--no-migrate", action="store_true", help="do not migrate first")
        parser.add_argument("--no-runner", action="store_true",
                            help="do not run the outbox/sweep thread (use 'proctorhub worker')")

    def handle(self, *args, bind, workers, threads, no_migrate, no_runner, **options):
        if ":" not in bind:
            self.stderr.write(f"--bind must be HOST:PORT, not {bind!r}")
            raise SystemExit(2)
        if not no_migrate:
            call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        import os

        if not os.environ.get("PROCTORHUB_BASE_URL"):
            settings.CONFIG.base_url = f"http://{bind}"

        from proctorhub.wsgi import application

        def when_ready(server):
            if not no_runner:
                start_thread()

        on_sqlite = settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
        if threads is None:
            threads = 1 if on_sqlite else 4
        if threads > 1 and on_sqlite:
            # Threads of one process share SQLite's single writer and stall one another.
            self.stderr.write("--threads above 1 needs PostgreSQL; on SQLite use --threads 1")
            raise SystemExit(2)
        _Gunicorn(application, {
            "bind": bind, "workers": workers, "when_ready": when_ready, "threads": threads,
            "worker_class": "gthread" if threads > 1 else "sync",
            # Threaded workers keep connections alive. Closing an idle one races with a client
            # sending on it (the client sees the connection dropped): keep them longer than a
            # caller's pauses (and than the usual 60 s load-balancer idle timeout).
            "keepalive": 75,
            "accesslog": "-", "timeout": 60, "graceful_timeout": 10,
        }).run()
