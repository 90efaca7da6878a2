"""Edges found while testing the API: long usernames, NUL bytes, system-only actions."""

from __future__ import annotations

import json

from proctorhub.accounts.services import sync_learner
from proctorhub.attempts.models import Attempt
from proctorhub.providers.registry import get_provider
from proctorhub.reviews.models import Delivery, Review
from tests.conftest import submitted_attempt as _submitted


def test_clashing_150_character_username_is_suffixed_within_the_limit(db):
    name = "u" * 150
    first = sync_learner(lms_user_id="1", username=name)
    second = sync_learner(lms_user_id="2", username=name)
    assert first.username == name
    assert len(second.username) == 150 and second.username.endswith("~2")


def test_nul_characters_in_a_review_body_are_stored_without_them(anon, exam, learner):
    attempt = _submitted(exam, learner)
    token = get_provider("mock").callback_token
    body = {"status": "passed", "comments": [{"comment": "a\u0000b", "status": "passed",
                                              "start": 1, "stop": 2}]}
    response = anon.post(f"/api/v1/providers/mock/attempts/{attempt.external_id}/reviewed",
                         data=json.dumps(body), content_type="application/json",
                         HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 200, response.content
    assert Review.objects.get(attempt=attempt).comments.get().comment == "ab"


def test_a_call_for_an_unknown_provider_is_recorded_and_refused(anon, db):
    response = anon.post("/api/v1/providers/nope/attempts/X/reviewed", data="{}",
                         content_type="application/json")
    assert response.status_code == 404 and response.json()["error"] == "unknown_provider"
    assert Delivery.objects.get(provider="nope").outcome == "rejected"


def test_lms_marks_ready_and_error_as_system_by_default(lms, exam):
    created = lms.post("/api/v1/attempts", {"exam_id": exam.pk, "user": {
        "lms_user_id": "77", "username": "lin", "email": "lin@example.org"}}, format="json")
    attempt_id = created.json()["id"]
    ready = lms.post(f"/api/v1/attempts/{attempt_id}/actions", {"action": "ready"}, format="json")
    assert ready.status_code == 200 and ready.json()["status"] == "ready_to_start"
    error = lms.post(f"/api/v1/attempts/{attempt_id}/actions", {"action": "error"}, format="json")
    assert error.status_code == 200 and error.json()["status"] == "error"
    history = Attempt.history.filter(id=attempt_id).order_by("history_id")
    assert "(system) error" in history.last().history_change_reason
