"""The PSI review callback: every fixture, every rule of the pipeline, over HTTP."""

from __future__ import annotations

import pytest

from proctorhub.attempts.models import Attempt
from proctorhub.attempts.services import archive_attempt
from proctorhub.notifications.models import OutboxEvent
from proctorhub.reviews.models import Delivery, Review
from tests.conftest import STAFF
from tests.psi_helpers import (
    LABELS,
    TOKEN,
    URL,
    basic_header,
    payload,
    post,
    psi_attempt,
)

EXPECTED_STATUS = {"passed": "verified", "violation": "verified", "suspicious":
                   "second_review_required", "not_reviewed": "error"}


@pytest.fixture
def attempt(psi_submitted):
    return psi_submitted


def _events(attempt, kind):
    return list(OutboxEvent.objects.filter(attempt_id=attempt.pk, kind=kind))


@pytest.mark.parametrize("fixture", sorted(LABELS))
def test_each_fixture_is_applied_to_a_live_attempt(anon, attempt, fixture):
    label, status = LABELS[fixture]
    body = payload(fixture, attempt)
    response = post(anon, body)
    assert response.status_code == 200 and response.content == b"OK"
    attempt.refresh_from_db()
    assert attempt.status == EXPECTED_STATUS[status]
    review = Review.objects.get(attempt=attempt)
    assert review.status == status and review.reviewed_by is None and review.provider == "software_secure"
    expected = sorted((c["eventStart"], c["comments"]) for key in ("webCamComments", "desktopComments")
                      for c in body.get(key) or [])
    assert sorted(review.comments.values_list("start", "comment")) == expected
    # Redacted: the photo is dropped, the video link kept only encrypted.
    assert "userPhotoBase64String" not in str(review.raw) and "videoReviewLink" not in str(review.raw)
    assert review.video_link_encrypted and body["videoReviewLink"] not in review.video_link_encrypted
    delivery = Delivery.objects.get(attempt=attempt)
    assert delivery.outcome == "applied" and delivery.http_status == 200
    assert "iVBORw0KGgo" not in str(delivery.payload)
    received = _events(attempt, "review.received")
    assert len(received) == 1 and received[0].payload["review_status"] == status
    changes = [e.payload["new_status"] for e in _events(attempt, "attempt.status_changed")]
    assert changes[-1] == EXPECTED_STATUS[status]
    assert len(_events(attempt, "support.suspicious_review")) == (status == "suspicious")


@pytest.mark.parametrize("fixture", sorted(LABELS))
def test_archived_attempt_stores_the_review_and_changes_nothing_live(anon, attempt, fixture):
    archive_attempt(attempt.pk, STAFF, reason="reset")
    events_before = OutboxEvent.objects.filter(kind="attempt.status_changed").count()
    response = post(anon, payload(fixture, attempt))
    assert response.status_code == 200
    attempt.refresh_from_db()
    assert attempt.status == "submitted" and attempt.is_archived
    assert Review.objects.get(attempt=attempt).status == LABELS[fixture][1]
    assert OutboxEvent.objects.filter(kind="attempt.status_changed").count() == events_before
    assert not _events(attempt, "support.suspicious_review")


def test_identical_redelivery_changes_nothing_and_notifies_nobody_again(anon, attempt):
    body = payload("review_suspicious.json", attempt)
    assert post(anon, body).status_code == 200
    rows = OutboxEvent.objects.count(), Review.history.count()
    comments = list(Review.objects.get(attempt=attempt).comments.values_list("id", flat=True))
    again = post(anon, body)
    assert again.status_code == 200 and again.content == b"OK"
    assert (OutboxEvent.objects.count(), Review.history.count()) == rows
    assert list(Review.objects.get(attempt=attempt).comments.values_list("id", flat=True)) == comments
    assert list(Delivery.objects.order_by("id").values_list("outcome", flat=True)) == [
        "applied", "duplicate"]


def test_locator_case_is_ignored(anon, attempt):
    response = post(anon, payload("review_clean.json", attempt, locator=attempt.external_id.upper()))
    assert response.status_code == 200
    assert Attempt.objects.get(pk=attempt.pk).status == "verified"


def test_mismatched_locator_is_refused_and_applies_nothing(anon, attempt):
    response = post(anon, payload("review_clean.json", attempt, locator="SOMEONE-ELSE"))
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "SOMEONE-ELSE" in detail and attempt.external_id in detail
    assert not Review.objects.exists() and Attempt.objects.get(pk=attempt.pk).status == "submitted"
    assert Delivery.objects.get().outcome == "rejected"


def test_callback_simulation_skips_the_locator_check(anon, attempt, reviews_config):
    reviews_config["allow_callback_simulation"] = True
    response = post(anon, payload("review_clean.json", attempt, locator="SOMEONE-ELSE"))
    assert response.status_code == 200


def test_unknown_code_is_kept_as_orphaned(anon, attempt):
    body = payload("review_clean.json", attempt)
    body["examMetaData"]["examCode"] = "NOPE"
    response = post(anon, body)
    assert response.status_code == 400
    assert "could not locate attempt code NOPE" in response.json()["detail"]
    assert Delivery.objects.get().outcome == "orphaned" and not Review.objects.exists()


def test_unknown_review_status_is_refused(anon, attempt):
    response = post(anon, payload("review_unknown_status.json", attempt))
    assert response.status_code == 400
    assert response.json()["detail"].startswith("unexpected reviewStatus")
    assert not Review.objects.exists() and Attempt.objects.get(pk=attempt.pk).status == "submitted"


def test_updates_on_replace_the_review_and_its_comments_keeping_history(anon, attempt):
    post(anon, payload("review_suspicious.json", attempt))
    clean = payload("review_clean.json", attempt)
    response = post(anon, clean)
    assert response.status_code == 200
    review = Review.objects.get(attempt=attempt)
    expected = sorted(c["comments"] for c in clean["webCamComments"] + clean["desktopComments"])
    assert review.status == "passed"
    assert sorted(review.comments.values_list("comment", flat=True)) == expected
    assert [h.status for h in review.history.order_by("history_id")] == ["suspicious", "passed"]
    assert Attempt.objects.get(pk=attempt.pk).status == "verified"


def test_updates_off_answers_409_and_changes_nothing(anon, attempt, reviews_config):
    reviews_config["allow_review_updates"] = False
    post(anon, payload("review_suspicious.json", attempt))
    response = post(anon, payload("review_clean.json", attempt))
    assert response.status_code == 409 and "updates are" in response.json()["detail"]
    assert Review.objects.get(attempt=attempt).status == "suspicious"
    assert Attempt.objects.get(pk=attempt.pk).status == "second_review_required"


def test_second_reviews_off_rejects_suspicious(anon, attempt, reviews_config):
    reviews_config["require_failure_second_reviews"] = False
    post(anon, payload("review_suspicious.json", attempt))
    assert Attempt.objects.get(pk=attempt.pk).status == "rejected"


def test_suspicious_on_a_practice_attempt_rejects(anon, psi, make_exam, learner):
    attempt = psi_attempt(make_exam(is_practice_exam=True), learner)
    post(anon, payload("review_suspicious.json", attempt))
    assert Attempt.objects.get(pk=attempt.pk).status == "rejected"


def test_review_before_submission_submits_first(anon, psi, exam, learner):
    attempt = psi_attempt(exam, learner, submitted=False)
    post(anon, payload("review_clean.json", attempt))
    attempt.refresh_from_db()
    assert attempt.status == "verified" and attempt.completed_at is not None
    changes = [e.payload["new_status"] for e in _events(attempt, "attempt.status_changed")]
    assert changes[-2:] == ["submitted", "verified"]


def test_unproctored_exam_stores_the_review_only(anon, psi, exam, learner):
    attempt = psi_attempt(exam, learner)
    Attempt.objects.filter(pk=attempt.pk).update(taking_as_proctored=False)
    assert post(anon, payload("review_suspicious.json", attempt)).status_code == 200
    assert Attempt.objects.get(pk=attempt.pk).status == "submitted"
    assert Review.objects.get(attempt=attempt).status == "suspicious"


@pytest.mark.parametrize("auth, url, code", [
    (basic_header(), URL, 200),
    (basic_header("psi", "wrong"), URL, 401),
    ("", URL, 401),
    ("Basic !!!notbase64", URL, 401),
    ("", f"{URL}/{TOKEN}", 200),
    ("", f"{URL}/wrong-token", 401),
    (basic_header(), "/edx_proctoring/proctoring_review_callback/", 200),
    ("", "/edx_proctoring/proctoring_review_callback/", 401),
])
def test_caller_authentication(anon, attempt, auth, url, code):
    response = post(anon, payload("review_clean.json", attempt), url=url, auth=auth)
    assert response.status_code == code
    delivery = Delivery.objects.get()
    assert delivery.outcome == ("applied" if code == 200 else "rejected")
    if code == 401:
        assert response.json()["error"] == "unauthenticated"
        assert not Review.objects.exists() and delivery.payload is None


def test_ip_allowlist(anon, attempt, psi):
    psi["callback_allowed_ips"] = ["10.9.0.0/16"]
    assert post(anon, payload("review_clean.json", attempt)).status_code == 401
    psi["callback_allowed_ips"] = ["127.0.0.0/8"]
    assert post(anon, payload("review_clean.json", attempt)).status_code == 200


def test_no_credentials_configured_refuses_everyone(anon, attempt, psi):
    psi.pop("callback_basic_auth"), psi.pop("callback_token")
    response = post(anon, payload("review_clean.json", attempt))
    assert response.status_code == 401 and "callback_basic_auth" in response.json()["detail"]


def test_body_is_json_whatever_the_content_type(anon, attempt):
    response = post(anon, payload("review_clean.json", attempt), content_type="text/plain")
    assert response.status_code == 200


@pytest.mark.parametrize("body, needle", [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "JSON object"),
    (b'{"examMetaData": {}}', "examCode is missing"),
    (b"\xff\xfe", "not valid JSON"),
])
def test_bad_bodies_get_a_clear_400(anon, attempt, body, needle):
    response = post(anon, body)
    assert response.status_code == 400 and needle in response.json()["detail"]
    assert not Review.objects.exists()


def test_oversize_body_gets_413(anon, attempt, reviews_config):
    reviews_config["max_body_bytes"] = 1000
    response = post(anon, payload("review_clean.json", attempt))
    assert response.status_code == 413 and response.json()["error"] == "too_large"
    assert Delivery.objects.get().outcome == "rejected" and not Review.objects.exists()
