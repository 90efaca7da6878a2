"""Real receivers on loopback for the outbox tests, and helpers to drive the outbox.

- :class:`WebhookReceiver`: an HTTP server that verifies Standard Webhooks signatures with
  ``standardwebhooks.Webhook.verify`` and records deliveries; it can answer 500, hang or be
  slow, and counts the requests it has in flight.
- :class:`FakeZendesk`: speaks the slice of the Zendesk API that zenpy uses to create and look up
  tickets (``/api/v2/tickets.json``), checks the API token, records tickets.

Fixtures built on them: :mod:`tests.outbox_fixtures`.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import threading
import time
import uuid
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import redis
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from proctorhub.notifications.dispatch import drain
from proctorhub.notifications.models import OutboxDelivery, State


class _Server(ThreadingHTTPServer):
    """Tracks its open connections, so that closing it drops keep-alive clients too (a receiver
    that goes down must not go on answering on connections opened before)."""

    daemon_threads = True

    def __init__(self, *args, **kwargs):
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def process_request(self, request, client_address):
        with self.sockets_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        pass  # a client that hung up on a keep-alive connection (after its timeout)

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        with self.sockets_lock:
            for sock in list(self.open_sockets):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def _serve(handler_cls, owner) -> _Server:
    server = _Server(("127.0.0.1", 0), handler_cls)
    server.owner = owner
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                     daemon=True).start()
    return server


class _WebhookHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as an LMS behind a load balancer answers

    def do_POST(self):  # noqa: N802 - http.server's naming
        rx: WebhookReceiver = self.server.owner
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with rx.lock:
            rx.requests += 1
            number = rx.requests
            rx.in_flight += 1
            rx.max_in_flight = max(rx.max_in_flight, rx.in_flight)
        try:
            time.sleep(rx.delay_seconds)
            self._handle(rx, body, number)
        finally:
            with rx.lock:
                rx.in_flight -= 1

    def _handle(self, rx: WebhookReceiver, body: bytes, number: int):
        mode = rx.mode
        if mode == "fail":
            rx.refused += 1
            return self._answer(500)
        if mode == "hang" or (mode == "hang_after" and number > rx.hang_after):
            time.sleep(rx.hang_seconds)  # the sender gives up first; we still process it late
        try:
            data = Webhook(rx.secret).verify(body, dict(self.headers))
        except WebhookVerificationError as exc:
            rx.bad_signatures.append(str(exc))
            return self._answer(400)
        with rx.lock:
            rx.received.append((self.headers["webhook-id"], data))
        self._answer(rx.status)

    def _answer(self, status: int):
        try:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
        except OSError:
            pass  # the sender hung up (timed out)

    def log_message(self, *args):
        pass


class WebhookReceiver:
    def __init__(self, secret: str):
        self.secret = secret
        # ok | fail (answer 500) | hang (answer after hang_seconds) | hang_after (hang_after n)
        self.mode = "ok"
        self.hang_after = 0
        self.requests = 0
        self.status = 204
        self.hang_seconds = 0.6
        self.received: list[tuple[str, dict]] = []
        self.bad_signatures: list[str] = []
        self.refused = 0
        self.delay_seconds = 0.0      # every answer waits this long (a slow receiver)
        self.in_flight = self.max_in_flight = 0  # requests being answered now / at most so far
        self.lock = threading.Lock()
        self.server = _serve(_WebhookHandler, self)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"

    def unique(self) -> list[tuple[str, dict]]:
        """Deliveries with copies (same webhook-id) dropped, as a receiver should."""
        seen, out = set(), []
        for msg_id, data in list(self.received):
            if msg_id not in seen:
                seen.add(msg_id)
                out.append((msg_id, data))
        return out

    def close(self):
        self.server.close()


class _ZendeskHandler(BaseHTTPRequestHandler):
    def _authorized(self) -> bool:
        zd: FakeZendesk = self.server.owner
        expected = base64.b64encode(f"{zd.email}/token:{zd.token}".encode()).decode()
        if self.headers.get("Authorization") == f"Basic {expected}":
            return True
        self._json(401, {"error": "Couldn't authenticate you"})
        return False

    def do_GET(self):  # noqa: N802
        zd: FakeZendesk = self.server.owner
        if not self._authorized():
            return
        url = urlsplit(self.path)
        wanted = parse_qs(url.query).get("external_id", [None])[0]
        found = [t for t in zd.tickets if wanted is None or t["external_id"] == wanted]
        self._json(200, {"tickets": found, "count": len(found), "next_page": None,
                         "previous_page": None})

    def do_POST(self):  # noqa: N802
        zd: FakeZendesk = self.server.owner
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        if not self._authorized():
            return
        if zd.fail_next:
            zd.fail_next -= 1
            return self._json(503, {"error": "Service unavailable"})
        ticket = dict(body["ticket"], id=len(zd.tickets) + 1, status="new")
        zd.tickets.append(ticket)
        self._json(201, {"ticket": ticket, "audit": {"id": 900 + ticket["id"],
                                                     "ticket_id": ticket["id"], "events": []}})

    def _json(self, status: int, payload: dict):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class FakeZendesk:
    email, token = "agent@example.org", "zd-token-123"

    def __init__(self):
        self.tickets: list[dict] = []
        self.fail_next = 0
        self.server = _serve(_ZendeskHandler, self)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# --- Celery with the machine's Redis ---------------------------------------------------------
REDIS_URL = os.environ.get("PROCTORHUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def redis_up() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


# One queue for this test session (Celery caches its queues once used): concurrent test runs on
# the same Redis don't take each other's tasks.
QUEUE = f"proctorhub-test-{uuid.uuid4().hex[:10]}"


def queued() -> int:
    return redis.Redis.from_url(REDIS_URL).llen(QUEUE)


def make_due() -> int:
    """Time travel: every pending row (backing off or leased) is due now.

    In-process handler rows (the mock provider's delayed review post) are left alone.
    """
    return OutboxDelivery.objects.filter(state=State.PENDING).exclude(destination="handler").update(
        next_attempt_at=timezone.now() - timedelta(seconds=1))


def drain_all(rounds: int = 50) -> None:
    """Drain until nothing due is left (rows queued behind others included)."""
    for _ in range(rounds):
        if not drain(limit=1000):
            return
