"""API v1: health, the OpenAPI schema and docs, the error shape, provider review callbacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openapi_spec_validator import validate
from rest_framework.test import APIClient as HTTPClient

from proctorhub.attempts.lifecycle import apply_action
from proctorhub.attempts.models import Attempt
from proctorhub.attempts.services import create_attempt
from proctorhub.notifications.models import OutboxEvent
from proctorhub.providers.registry import get_provider
from proctorhub.reviews.models import Delivery, Review
from tests.api_helpers import assert_error, wrong_token
from tests.conftest import LEARNER, PROVIDER, make_client

STANDARD_REVIEW = json.loads(
    (Path(__file__).parent / "fixtures" / "standard_review.json").read_text()
)


# --- health -----------------------------------------------------------------------------------


@pytest.mark.parametrize("caller", ["anonymous", "wrong_token"])
def test_health_requires_credentials(caller, anon):
    http = anon if caller == "anonymous" else wrong_token()
    response = http.get("/api/v1/health")
    assert_error(response, 401, "unauthenticated")
    assert "outbox_pending" not in response.json()


def test_health_reports_database_and_real_outbox_backlog(lms, exam, make_learner):
    for _ in range(3):
        create_attempt(exam=exam, user=make_learner(), by=LEARNER)
    pending = OutboxEvent.objects.filter(state=OutboxEvent.State.PENDING)
    assert pending.count() >= 3
    OutboxEvent.objects.filter(pk=pending.first().pk).update(state=OutboxEvent.State.DELIVERED)
    response = lms.get("/api/v1/health")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok" and body["database"] == "ok"
    expected = OutboxEvent.objects.filter(state=OutboxEvent.State.PENDING).count()
    assert body["outbox_pending"] == expected
    assert expected == OutboxEvent.objects.count() - 1


def test_health_for_staff_session(staff_http):
    response = staff_http.get("/api/v1/health")
    assert response.status_code == 200
    assert response.json()["outbox_pending"] == 0


# --- schema and docs --------------------------------------------------------------------------

API_PATHS = [
    "/api/v1/exams",
    "/api/v1/exams/{exam_id}",
    "/api/v1/exams/{exam_id}/allowances",
    "/api/v1/attempts",
    "/api/v1/attempts/{attempt_id}",
    "/api/v1/attempts/{attempt_id}/actions",
    "/api/v1/providers/{provider}/attempts/{external_id}/reviewed",
    "/api/v1/health",
]


@pytest.mark.parametrize("how", ["query", "accept"])
def test_schema_is_valid_openapi_3_with_every_path(anon, how):
    if how == "query":
        response = anon.get("/api/schema/", {"format": "json"})
    else:
        response = anon.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200, response.content[:500]
    spec = json.loads(response.content)
    assert spec["openapi"].startswith("3.")
    validate(spec)
    for path in API_PATHS:
        assert path in spec["paths"], path
    methods = {p: set(ops) for p, ops in spec["paths"].items()}
    assert {"get", "post"} <= methods["/api/v1/exams"]
    assert {"get", "patch"} <= methods["/api/v1/exams/{exam_id}"]
    assert {"get", "put", "delete"} <= methods["/api/v1/exams/{exam_id}/allowances"]
    assert {"get", "delete"} <= methods["/api/v1/attempts/{attempt_id}"]
    assert "bearerAuth" in spec["components"]["securitySchemes"]


def test_docs_page(anon):
    response = anon.get("/api/docs/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    assert b"swagger" in response.content.lower()


# --- error shape for what no view handles ------------------------------------------------------


def test_unknown_api_path_is_json_404(lms):
    body = assert_error(lms.get("/api/v1/no-such-thing"), 404, "not_found")
    assert "/api/v1/no-such-thing" in body["detail"]


def test_wrong_method_is_json_405(lms):
    assert_error(lms.put("/api/v1/health"), 405, "method_not_allowed")


def test_unsupported_media_type_is_json_415(lms):
    assert_error(
        lms.post("/api/v1/attempts", "x", content_type="application/xml"),
        415,
        "unsupported_media_type",
    )


def test_non_bearer_scheme_is_refused(db):
    http = HTTPClient()
    http.credentials(HTTP_AUTHORIZATION="Basic dXNlcjpwdw==")
    assert_error(http.get("/api/v1/exams"), 401, "unauthenticated")


def test_revoked_client_is_refused(db):
    http, client = make_client("lms")
    assert http.get("/api/v1/health").status_code == 200
    client.is_active = False
    client.save()
    assert_error(http.get("/api/v1/health"), 401, "unauthenticated")


# --- provider review callbacks ----------------------------------------------------------------


def review_url(external_id: str, provider: str = "mock") -> str:
    return f"/api/v1/providers/{provider}/attempts/{external_id}/reviewed"


@pytest.fixture
def submitted(exam, learner) -> Attempt:
    attempt = create_attempt(exam=exam, user=learner, by=LEARNER)
    apply_action(attempt.pk, "ready", PROVIDER)
    apply_action(attempt.pk, "start", LEARNER)
    apply_action(attempt.pk, "submit", LEARNER)
    return attempt


def test_callback_without_token_is_refused_and_recorded(anon, submitted):
    response = anon.post(review_url(submitted.external_id), STANDARD_REVIEW, format="json")
    body = assert_error(response, 401, "unauthenticated")
    delivery = Delivery.objects.get(pk=body["delivery_id"])
    assert (delivery.outcome, delivery.http_status, delivery.provider) == ("rejected", 401, "mock")
    assert delivery.external_id == submitted.external_id
    assert Attempt.objects.get(pk=submitted.pk).status == "submitted"
    assert not Review.objects.exists()


@pytest.mark.parametrize("caller", ["wrong_token", "lms_client", "other_provider"])
def test_callback_with_token_of_someone_else_is_refused(caller, lms, submitted):
    http = {
        "wrong_token": wrong_token,
        "lms_client": lambda: lms,
        "other_provider": lambda: make_client("provider:null")[0],
    }[caller]()
    response = http.post(review_url(submitted.external_id), STANDARD_REVIEW, format="json")
    assert_error(response, 401, "unauthenticated")
    assert Delivery.objects.get().outcome == "rejected"
    assert Attempt.objects.get(pk=submitted.pk).status == "submitted"


def test_callback_applies_standard_review(provider_http, submitted):
    response = provider_http.post(review_url(submitted.external_id), STANDARD_REVIEW, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "applied"
    delivery = Delivery.objects.get(pk=body["delivery_id"])
    assert (delivery.outcome, delivery.http_status) == ("applied", 200)
    assert delivery.attempt_id == submitted.pk
    # Suspicious from a provider: a second review is required (default policy).
    assert Attempt.objects.get(pk=submitted.pk).status == "second_review_required"
    review = Review.objects.get(attempt=submitted)
    assert review.status == "suspicious" and review.comments.count() == 2
    # The identical re-delivery changes nothing.
    again = provider_http.post(review_url(submitted.external_id), STANDARD_REVIEW, format="json")
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert Review.objects.get(attempt=submitted).comments.count() == 2


def test_callback_accepts_mock_callback_token(anon, submitted):
    anon.credentials(HTTP_AUTHORIZATION=f"Bearer {get_provider('mock').callback_token}")
    response = anon.post(
        review_url(submitted.external_id),
        {**STANDARD_REVIEW, "status": "passed", "comments": []},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert Attempt.objects.get(pk=submitted.pk).status == "verified"


def test_callback_for_unknown_provider(provider_http, submitted):
    body = assert_error(
        provider_http.post(
            review_url(submitted.external_id, "nosuch"), STANDARD_REVIEW, format="json"
        ),
        404,
        "unknown_provider",
    )
    assert "nosuch" in body["detail"]
    assert Attempt.objects.get(pk=submitted.pk).status == "submitted"


def test_callback_for_unknown_attempt_keeps_orphaned_delivery(provider_http, submitted):
    response = provider_http.post(review_url("MOCK-DOESNOTEXIST"), STANDARD_REVIEW, format="json")
    body = assert_error(response, 404, "unknown_attempt")
    delivery = Delivery.objects.get(pk=body["delivery_id"])
    assert (delivery.outcome, delivery.external_id) == ("orphaned", "MOCK-DOESNOTEXIST")
    assert delivery.payload["status"] == "suspicious"
    assert Attempt.objects.get(pk=submitted.pk).status == "submitted"


@pytest.mark.parametrize(
    "payload,code",
    [
        ({**STANDARD_REVIEW, "status": "excellent"}, "invalid_review"),
        ({"comments": []}, "invalid_review"),
        ({**STANDARD_REVIEW, "comments": "none"}, "invalid_review"),
        ([1, 2, 3], "invalid_review"),
    ],
)
def test_callback_with_bad_review_is_refused(provider_http, submitted, payload, code):
    response = provider_http.post(review_url(submitted.external_id), payload, format="json")
    body = assert_error(response, 400, code)
    assert Delivery.objects.get(pk=body["delivery_id"]).outcome == "rejected"
    assert Attempt.objects.get(pk=submitted.pk).status == "submitted"
    assert not Review.objects.exists()


def test_callback_unknown_status_names_the_valid_ones(provider_http, submitted):
    response = provider_http.post(
        review_url(submitted.external_id), {**STANDARD_REVIEW, "status": "excellent"}, format="json"
    )
    body = assert_error(response, 400, "invalid_review")
    assert "excellent" in body["detail"] and "not_reviewed" in body["detail"]


def test_callback_with_non_json_body(provider_http, submitted):
    response = provider_http.post(
        review_url(submitted.external_id), "{not json", content_type="application/json"
    )
    body = assert_error(response, 400, "malformed_body")
    assert Delivery.objects.get(pk=body["delivery_id"]).outcome == "rejected"


def test_callback_reviewed_by_someone_not_staff_is_forbidden(provider_http, submitted):
    payload = {**STANDARD_REVIEW, "reviewed_by": "stranger@example.org"}
    body = assert_error(
        provider_http.post(review_url(submitted.external_id), payload, format="json"),
        403,
        "forbidden",
    )
    assert Delivery.objects.get(pk=body["delivery_id"]).outcome == "rejected"
    assert Attempt.objects.get(pk=submitted.pk).status == "submitted"


def test_callback_refuses_nul_in_external_id(provider_http, submitted):
    response = provider_http.post(review_url("MOCK%00X"), STANDARD_REVIEW, format="json")
    assert_error(response, 400, "invalid")
    assert Attempt.objects.get(pk=submitted.pk).status == "submitted"
