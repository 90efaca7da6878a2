"""Benchmark phase: how fast a webhook backlog drains once the LMS receiver is back.

The situation it measures: the LMS webhook receiver was down during an exam's review burst, so
every event of those reviews waits in the outbox. With a webhook endpoint registered, PSI review
callbacks are posted in-process (real events: ``review.received``, ``attempt.status_changed``,
``support.suspicious_review``); then a receiver on loopback (verifying each Standard Webhooks
signature) starts and ``proctorhub worker --embedded`` (what an operator runs without a broker,
with its default options) is started, and the time until the last webhook delivery is recorded
is measured. Then the same webhook rows are replayed with 1 and 8 send threads against a receiver
that answers at once and one that answers after 20 ms.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench import procs


class _Receiver(ThreadingHTTPServer):
    daemon_threads = True


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as an LMS behind a load balancer answers

    def do_POST(self):  # noqa: N802 - http.server's naming
        from standardwebhooks.webhooks import Webhook, WebhookVerificationError

        rx: _Receiver = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        try:
            Webhook(rx.secret).verify(body, dict(self.headers))
            status = 204
        except WebhookVerificationError:
            status = 400
        if rx.delay:
            time.sleep(rx.delay)
        with rx.lock:
            rx.counts[status] = rx.counts.get(status, 0) + 1
            rx.ids.add(self.headers.get("webhook-id"))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def start_receiver(secret: str) -> _Receiver:
    rx = _Receiver(("127.0.0.1", 0), _Handler)
    rx.secret, rx.counts, rx.ids, rx.lock, rx.delay = secret, {}, set(), threading.Lock(), 0.0
    threading.Thread(target=rx.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return rx


#: Replays of the same webhook backlog: (send threads, receiver latency in ms).
REPLAYS = ((1, 0), (8, 0), (1, 20), (8, 20))


def phase_outbox(env: dict, attempt_ids: list[int], *, timeout: float = 300.0) -> dict:
    """The whole backlog (every destination: in a full run also the tracking and email rows the
    earlier phases left, since their server ran without a runner) drained with the default
    options until no webhook row is pending, then the webhook rows replayed (REPLAYS) with one
    and eight send threads against a receiver answering at once and one answering after 20 ms
    (an LMS across a network)."""
    from django.utils import timezone

    from bench.run import phase_inproc  # bench.run imports this module
    from proctorhub.notifications.models import OutboxDelivery, State, WebhookEndpoint

    rx_secret = "whsec_" + "YmVuY2gtd2ViaG9vay1zZWNyZXQtMzJieXRlcyE="
    rx = start_receiver(rx_secret)
    endpoint = WebhookEndpoint.objects.create(
        name="bench-lms", url=f"http://127.0.0.1:{rx.server_address[1]}/hooks", secret=rx_secret)
    webhooks = OutboxDelivery.objects.filter(destination=endpoint.destination)
    try:
        phase_inproc(attempt_ids)  # the review burst; the events wait for the worker
        result = {"callbacks": len(attempt_ids), "webhook_backlog": webhooks.count(),
                  "other_destinations_backlog": OutboxDelivery.objects.exclude(
                      destination=endpoint.destination).filter(state=State.PENDING).count()}
        first = _drain_round(env, rx, webhooks, threads=None, latency_ms=0, timeout=timeout)
        result.update(first, replays=[])
        for threads, latency_ms in REPLAYS:
            webhooks.update(state=State.PENDING, tries=0, next_attempt_at=timezone.now(),
                            delivered_at=None, last_error="")
            result["replays"].append(_drain_round(env, rx, webhooks, threads=threads,
                                                  latency_ms=latency_ms, timeout=timeout))
    finally:
        rx.shutdown()
        rx.server_close()
    result["runner"] = ("proctorhub worker --embedded, receiver on loopback (HTTP/1.1 "
                        "keep-alive, verifies signatures); first drain with default options")
    return result


def _drain_round(env: dict, rx: _Receiver, webhooks, *, threads: int | None, latency_ms: int,
                 timeout: float) -> dict:
    """Start a worker (``send_threads``: its default when None), time until no webhook row is
    pending, stop it."""
    from django.db.models import Count

    tmp = Path(env["PROCTORHUB_VAR_DIR"])
    worker_env = dict(env)
    if threads is not None:
        conf = tmp / f"worker-{threads}.toml"
        conf.write_text(Path(env["PROCTORHUB_CONFIG"]).read_text()
                        + f"\n[webhooks]\nsend_threads = {threads}\n")
        worker_env["PROCTORHUB_CONFIG"] = str(conf)
    with rx.lock:
        rx.counts, rx.ids, rx.delay = {}, set(), latency_ms / 1000
    from proctorhub.notifications.models import OutboxDelivery, State

    pending = OutboxDelivery.objects.filter(state=State.PENDING)
    backlog, pending_before = webhooks.count(), pending.count()
    worker_log = open(tmp / "worker.log", "a")  # noqa: SIM115
    started = time.perf_counter()
    worker = subprocess.Popen(
        [str(Path(sys.executable).parent / "proctorhub"), "worker", "--embedded"],
        env=env_with(worker_env), stdout=worker_log, stderr=subprocess.STDOUT)
    try:
        drained = _wait_drained(webhooks, started, timeout, worker)
    finally:
        procs.stop(worker, worker_log)
    rows_sent = pending_before - pending.count()  # every destination's rows sent meanwhile
    return {"send_threads": threads or "default", "receiver_latency_ms": latency_ms,
            "drained_s": drained, "webhooks_per_s": backlog / drained if drained else None,
            "rows_sent": rows_sent, "rows_per_s": rows_sent / drained if drained else None,
            "states": dict(webhooks.values_list("state").annotate(n=Count("id"))),
            "receiver_answers": {str(k): v for k, v in rx.counts.items()},
            "distinct_webhook_ids": len(rx.ids)}


def run_outbox(env: dict, attempt_ids: list[int]) -> dict:
    result = phase_outbox(env, attempt_ids)
    replays = ", ".join(f"{r['send_threads']}t/{r['receiver_latency_ms']}ms "
                        f"{r['webhooks_per_s'] or 0:.0f}/s" for r in result["replays"])
    print(f"   outbox: {result['webhook_backlog']} webhooks drained in {result['drained_s']} s; "
          f"replays {replays}", file=sys.stderr, flush=True)
    return result


def env_with(env: dict) -> dict:
    return {**os.environ, **env}


def _wait_drained(webhooks, started: float, timeout: float, worker) -> float | None:
    from proctorhub.notifications.models import State

    while time.perf_counter() - started < timeout:
        if not webhooks.filter(state=State.PENDING).exists():
            return time.perf_counter() - started
        if worker.poll() is not None:
            raise SystemExit(f"proctorhub worker exited ({worker.returncode}); see worker.log")
        time.sleep(0.05)
    return None
