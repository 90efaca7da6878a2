"""The mock provider end to end: submit -> outbox -> real HTTP callback -> review -> status.

The review leaves through the outbox and comes back over real HTTP to a live server, exactly as in
the demo; nothing here calls the intake directly.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from django.conf import settings

from proctorhub.attempts.models import Attempt
from proctorhub.notifications.dispatch import drain
from proctorhub.notifications.models import OutboxEvent
from proctorhub.providers.registry import get_provider
from proctorhub.reviews.models import Delivery, Review
from tests.conftest import submitted_attempt as submitted


@pytest.fixture
def base_url():
    """Point ``settings.CONFIG.base_url`` somewhere for one test; restored afterwards."""
    saved = settings.CONFIG.base_url

    def point_at(url: str) -> str:
        settings.CONFIG.base_url = url.rstrip("/")
        return settings.CONFIG.base_url

    yield point_at
    settings.CONFIG.base_url = saved


@pytest.fixture
def callback_server(live_server, base_url):
    """A live server that the mock's outbox channel posts its reviews to."""
    return base_url(live_server.url)


def mock_settings(providers_config, outcome: str, delay: float = 0) -> None:
    providers_config["mock"] = {"review_outcome": outcome, "review_delay_seconds": delay}


def post_rows(attempt: Attempt):
    return OutboxEvent.objects.filter(kind="mock.post_review", attempt_id=attempt.pk)


def support_events(attempt: Attempt):
    return OutboxEvent.objects.filter(kind="support.suspicious_review", attempt_id=attempt.pk)


def callback_url(base: str, attempt: Attempt) -> str:
    return f"{base}/api/v1/providers/mock/attempts/{attempt.external_id}/reviewed"


@pytest.mark.django_db(transaction=True)
def test_suspicious_review_round_trip_and_redelivery(
    callback_server, providers_config, exam, learner
):
    mock_settings(providers_config, "suspicious")
    attempt = submitted(exam, learner)

    row = post_rows(attempt).get()
    assert row.state == "pending" and row.tries == 0
    assert row.payload == {"external_id": attempt.external_id, "status": "suspicious"}
    assert not Delivery.objects.exists()

    drain()

    row.refresh_from_db()
    assert row.state == "delivered", row.last_error
    assert row.tries == 1 and row.last_error == ""
    attempt.refresh_from_db()
    assert attempt.status == "second_review_required"
    review = Review.objects.get(attempt=attempt)
    assert review.status == "suspicious" and review.provider == "mock"
    assert not review.is_staff_review
    comments = list(review.comments.values("comment", "status", "start", "stop", "duration"))
    assert comments == [
        {
            "comment": "Candidate left the room",
            "status": "suspicious",
            "start": 812,
            "stop": 901,
            "duration": 89,
        }
    ]
    delivery = Delivery.objects.get()
    assert delivery.outcome == "applied" and delivery.http_status == 200
    assert delivery.attempt_id == attempt.pk
    assert delivery.payload == get_provider("mock").review_body("suspicious")
    assert support_events(attempt).count() == 1
    changes = OutboxEvent.objects.filter(kind="attempt.status_changed", attempt_id=attempt.pk)
    assert changes.order_by("-id").first().payload["new_status"] == "second_review_required"
    change_count = changes.count()

    # Draining again sends nothing new to the callback.
    drain()
    assert Delivery.objects.count() == 1

    # The provider re-sends the same review: recorded, but nothing changes and nobody is told.
    token = get_provider("mock").callback_token
    response = requests.post(
        callback_url(callback_server, attempt),
        json=get_provider("mock").review_body("suspicious"),
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "duplicate"
    assert Delivery.objects.count() == 2
    assert Delivery.objects.order_by("-id").first().outcome == "duplicate"
    assert Review.objects.filter(attempt=attempt).count() == 1
    assert review.comments.count() == 1
    assert support_events(attempt).count() == 1
    assert changes.count() == change_count
    assert Attempt.objects.get(pk=attempt.pk).status == "second_review_required"


@pytest.mark.django_db(transaction=True)
def test_callback_refuses_a_wrong_token(callback_server, providers_config, exam, learner):
    mock_settings(providers_config, "passed", delay=3600)
    attempt = submitted(exam, learner)
    response = requests.post(
        callback_url(callback_server, attempt),
        json=get_provider("mock").review_body("passed"),
        headers={"Authorization": "Bearer not-the-token"},
        timeout=10,
    )
    assert response.status_code == 401
    assert Delivery.objects.get().outcome == "rejected"
    assert not Review.objects.exists()
    assert Attempt.objects.get(pk=attempt.pk).status == "submitted"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("outcome", "practice", "second_reviews", "expected"),
    [
        ("passed", False, True, "verified"),
        ("violation", False, True, "verified"),
        ("not_reviewed", False, True, "error"),
        ("suspicious", True, True, "rejected"),
        ("suspicious", False, False, "rejected"),
    ],
    ids=["passed", "violation", "not_reviewed", "suspicious-practice", "suspicious-no-2nd-review"],
)
def test_review_outcomes(
    callback_server,
    providers_config,
    reviews_config,
    make_exam,
    learner,
    outcome,
    practice,
    second_reviews,
    expected,
):
    mock_settings(providers_config, outcome)
    reviews_config["require_failure_second_reviews"] = second_reviews
    exam = make_exam(is_practice_exam=practice)
    attempt = submitted(exam, learner)
    assert post_rows(attempt).get().state == "pending"

    drain()

    assert post_rows(attempt).get().state == "delivered"
    assert Attempt.objects.get(pk=attempt.pk).status == expected
    review = Review.objects.get(attempt=attempt)
    assert review.status == outcome
    expected_comments = [
        c["comment"] for c in get_provider("mock").review_body(outcome)["comments"]
    ]
    assert [c.comment for c in review.comments.all()] == expected_comments
    assert Delivery.objects.get().outcome == "applied"
    assert support_events(attempt).count() == (1 if outcome == "suspicious" else 0)


@pytest.mark.django_db(transaction=True)
def test_review_delay_holds_the_post_back(callback_server, providers_config, exam, learner):
    mock_settings(providers_config, "passed", delay=3600)
    attempt = submitted(exam, learner)

    drain()

    row = post_rows(attempt).get()
    assert row.state == "pending" and row.tries == 0 and row.delivered_at is None
    assert not Delivery.objects.exists()
    assert not Review.objects.exists()
    assert Attempt.objects.get(pk=attempt.pk).status == "submitted"


@pytest.mark.django_db(transaction=True)
def test_review_delay_zero_with_no_proctoring_posts_nothing(
    callback_server, providers_config, make_exam, learner
):
    mock_settings(providers_config, "passed")
    attempt = submitted(make_exam(is_proctored=False), learner)
    assert not post_rows(attempt).exists()
    drain()
    assert not Delivery.objects.exists()


def test_failing_callback_stays_pending_for_retry(base_url, providers_config, exam, learner):
    base_url("http://127.0.0.1:9")  # nothing listens on the discard port
    mock_settings(providers_config, "passed")
    attempt = submitted(exam, learner)

    drain()

    row = post_rows(attempt).get()
    assert row.state == "pending"
    assert row.tries == 1
    assert row.last_error != ""
    assert row.delivered_at is None
    assert not Delivery.objects.exists()
    assert Attempt.objects.get(pk=attempt.pk).status == "submitted"
    # Backed off: draining again right away does not hammer the dead endpoint.
    drain()
    row.refresh_from_db()
    assert row.tries == 1 and row.state == "pending"


@pytest.mark.django_db(transaction=True)
def test_refused_callback_is_parked_dead_not_retried(
    callback_server, providers_config, reviews_config, exam, learner
):
    mock_settings(providers_config, "passed")
    reviews_config["max_body_bytes"] = 10  # our callback answers 413: retrying cannot help
    attempt = submitted(exam, learner)

    drain()

    row = post_rows(attempt).get()
    assert row.state == "dead"
    assert row.tries == 1
    assert "413" in row.last_error
    assert Delivery.objects.get().outcome == "rejected"
    assert Attempt.objects.get(pk=attempt.pk).status == "submitted"


class _Unavailable(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def unavailable_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Unavailable)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_unavailable_callback_is_retried(
    base_url, unavailable_server, providers_config, exam, learner
):
    base_url(unavailable_server)
    mock_settings(providers_config, "passed")
    attempt = submitted(exam, learner)

    drain()

    row = post_rows(attempt).get()
    assert row.state == "pending"
    assert row.tries == 1
    assert "503" in row.last_error
    assert row.next_attempt_at > row.created_at
