"""Staff reviews, standard-shape provider reviews with reviewed_by, reading a review, the video."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient as HTTPClient

from proctorhub.attempts.models import Attempt
from proctorhub.reviews.models import Review, VideoLinkView
from tests.conftest import OTHER_COURSE, make_client
from tests.psi_helpers import payload, post, psi_attempt, psi_settings


@pytest.fixture
def psi(providers_config):
    providers_config["software_secure"] = psi_settings()


@pytest.fixture
def staff_user(make_staff):
    return make_staff(email="reviewer@example.org")


@pytest.fixture
def staff(staff_user):
    http = HTTPClient()
    http.force_login(staff_user)
    return http


def _flagged(anon, exam, learner):
    attempt = psi_attempt(exam, learner)
    assert post(anon, payload("review_suspicious.json", attempt)).status_code == 200
    return attempt


def _review(http, attempt, **body):
    return http.post(f"/api/v1/attempts/{attempt.pk}/review", body, format="json")


def test_staff_settles_a_second_review_and_history_keeps_both(psi, anon, staff, staff_user,
                                                              exam, learner):
    attempt = _flagged(anon, exam, learner)
    response = _review(staff, attempt, status="suspicious", reason="Notes visible at 4:20")
    assert response.status_code == 200, response.content
    assert response.json()["attempt_status"] == "rejected"
    review = Review.objects.get(attempt=attempt)
    assert review.reviewed_by == staff_user and review.is_staff_review
    assert [h.status for h in review.history.order_by("history_id")] == ["suspicious", "suspicious"]
    history = Attempt.history.filter(id=attempt.pk).order_by("history_id").last()
    assert "Notes visible at 4:20" in history.history_change_reason
    assert history.history_user_id == staff_user.pk


def test_staff_override_verified_to_rejected_and_back(psi, anon, staff, exam, learner):
    attempt = psi_attempt(exam, learner)
    post(anon, payload("review_clean.json", attempt))
    assert _review(staff, attempt, status="suspicious", reason="second look").json()[
        "attempt_status"] == "rejected"
    assert _review(staff, attempt, status="passed", reason="appeal upheld").json()[
        "attempt_status"] == "verified"


@pytest.mark.parametrize("body, code", [
    ({"status": "passed"}, 400),                    # reason required
    ({"status": "passed", "reason": " "}, 400),
    ({"status": "not_reviewed", "reason": "x"}, 400),
    ({"status": "maybe", "reason": "x"}, 400),
])
def test_staff_review_bad_input(psi, anon, staff, exam, learner, body, code):
    attempt = _flagged(anon, exam, learner)
    response = _review(staff, attempt, **body)
    assert response.status_code == code and set(response.json()) >= {"error", "detail"}
    assert Attempt.objects.get(pk=attempt.pk).status == "second_review_required"


def test_staff_of_another_course_and_api_clients_cannot_review(psi, anon, make_staff, exam,
                                                               learner):
    attempt = _flagged(anon, exam, learner)
    other = HTTPClient()
    other.force_login(make_staff(course_id=OTHER_COURSE))
    assert _review(other, attempt, status="passed", reason="x").status_code == 403
    lms = make_client("lms")[0]
    assert _review(lms, attempt, status="passed", reason="x").status_code == 403
    assert _review(HTTPClient(), attempt, status="passed", reason="x").status_code in (401, 403)
    assert Attempt.objects.get(pk=attempt.pk).status == "second_review_required"


def test_reading_a_review_never_shows_photo_or_raw_video_link(psi, anon, staff, exam, learner):
    attempt = _flagged(anon, exam, learner)
    lms = make_client("lms")[0]
    for http in (staff, lms):
        response = http.get(f"/api/v1/attempts/{attempt.pk}/review")
        assert response.status_code == 200
        doc = response.json()
        assert doc["status"] == "suspicious" and doc["reviewed_by"] is None
        assert len(doc["comments"]) == 5 and len(doc["history"]) == 1
        text = json.dumps(doc)
        assert "iVBORw0KGgo" not in text and "remoteproctor" not in text
    assert make_client("provider:mock")[0].get(
        f"/api/v1/attempts/{attempt.pk}/review").status_code == 403


def test_watching_the_video_decrypts_on_demand_and_is_audited(psi, anon, staff, staff_user,
                                                              exam, learner):
    attempt = _flagged(anon, exam, learner)
    response = staff.get(f"/api/v1/attempts/{attempt.pk}/review/video")
    assert response.status_code == 200
    assert response.json()["video_url"].endswith(f"ID={attempt.external_id}")
    assert VideoLinkView.objects.filter(user=staff_user, review__attempt=attempt).count() == 1
    lms = make_client("lms")[0]
    assert lms.get(f"/api/v1/attempts/{attempt.pk}/review/video").status_code == 403


def test_video_keys_rotate_by_key_id(psi, providers_config, anon, staff, exam, learner):
    attempt = _flagged(anon, exam, learner)
    old = providers_config["software_secure"]["video_review_key"]
    import base64

    providers_config["software_secure"]["video_review_key"] = base64.b64encode(b"k" * 32).decode()
    missing = staff.get(f"/api/v1/attempts/{attempt.pk}/review/video")
    assert missing.status_code == 503 and "video_review_old_keys" in missing.json()["detail"]
    providers_config["software_secure"]["video_review_old_keys"] = [old]
    response = staff.get(f"/api/v1/attempts/{attempt.pk}/review/video")
    assert response.status_code == 200 and "ID=" in response.json()["video_url"]


def _standard(http_token, attempt, **body):
    return HTTPClient().post(f"/api/v1/providers/mock/attempts/{attempt.external_id}/reviewed",
                             {"status": "passed", "comments": [], **body}, format="json",
                             HTTP_AUTHORIZATION=f"Bearer {http_token}")


def test_standard_review_reviewed_by_must_be_course_staff(exam, learner, make_staff):
    from proctorhub.accounts.services import create_api_client
    from tests.psi_helpers import psi_attempt as make

    attempt = make(exam, learner)
    Attempt.objects.filter(pk=attempt.pk).update(backend="mock")
    _, token = create_api_client("acme-reviewers", ["provider:mock"])
    outsider = make_staff(course_id=OTHER_COURSE, email="outsider@example.org")
    refused = _standard(token, attempt, reviewed_by=outsider.email)
    assert refused.status_code == 403 and not Review.objects.exists()
    insider = make_staff(email="insider@example.org")
    accepted = _standard(token, attempt, reviewed_by=insider.email)
    assert accepted.status_code == 200
    assert Review.objects.get(attempt=attempt).reviewed_by == insider


def test_a_staff_verdict_keeps_the_providers_comments(psi, anon, staff, exam, learner):
    attempt = _flagged(anon, exam, learner)
    before = sorted(Review.objects.get(attempt=attempt).comments.values_list("start", "comment"))
    assert _review(staff, attempt, status="passed", reason="false alarm").status_code == 200
    after = sorted(Review.objects.get(attempt=attempt).comments.values_list("start", "comment"))
    assert after == before and len(after) == 5
