"""API v1: exams (create, list, read, update)."""

from __future__ import annotations

import pytest

from proctorhub.exams.models import Exam
from tests.api_helpers import assert_error, wrong_token
from tests.conftest import COURSE, OTHER_COURSE


def exam_body(**overrides) -> dict:
    data = {
        "course_id": COURSE,
        "content_id": "block-api-1",
        "exam_name": "Final exam",
        "time_limit_mins": 90,
        "backend": "mock",
        "is_proctored": True,
    }
    data.update(overrides)
    return data


# --- 401 on every exam endpoint --------------------------------------------------------------

ENDPOINTS = [
    ("get", "/api/v1/exams"),
    ("post", "/api/v1/exams"),
    ("get", "/api/v1/exams/{id}"),
    ("patch", "/api/v1/exams/{id}"),
]


@pytest.mark.parametrize("method,url", ENDPOINTS)
@pytest.mark.parametrize("caller", ["anonymous", "wrong_token"])
def test_exam_endpoints_require_credentials(method, url, caller, anon, exam):
    http = anon if caller == "anonymous" else wrong_token()
    before = Exam.objects.count()
    response = getattr(http, method)(
        url.format(id=exam.pk), exam_body(content_id="nope"), format="json"
    )
    body = assert_error(response, 401, "unauthenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")
    if caller == "wrong_token":
        assert "token" in body["detail"]
    assert Exam.objects.count() == before
    assert Exam.objects.get(pk=exam.pk).exam_name == exam.exam_name


# --- create -----------------------------------------------------------------------------------


def test_lms_creates_exam(lms):
    response = lms.post("/api/v1/exams", exam_body(), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    exam = Exam.objects.get(pk=body["id"])
    assert (exam.course_id, exam.content_id, exam.time_limit_mins) == (COURSE, "block-api-1", 90)
    assert body["backend"] == "mock" and body["is_active"] is True
    # The history row names the API client in its reason (an API client is not a User).
    record = exam.history.latest()
    assert record.history_user is None
    assert record.history_change_reason.startswith("client:")


def test_staff_creates_exam_in_own_course(staff_http):
    response = staff_http.post("/api/v1/exams", exam_body(content_id="staff-block"), format="json")
    assert response.status_code == 201, response.content
    record = Exam.objects.get(pk=response.json()["id"]).history.latest()
    assert record.history_user is not None


def test_staff_of_other_course_cannot_create_exam(other_staff_http):
    response = other_staff_http.post("/api/v1/exams", exam_body(), format="json")
    body = assert_error(response, 403, "forbidden")
    assert COURSE in body["detail"]
    assert not Exam.objects.filter(content_id="block-api-1").exists()


def test_client_without_lms_scope_cannot_create_exam(provider_http):
    response = provider_http.post("/api/v1/exams", exam_body(), format="json")
    body = assert_error(response, 403, "forbidden")
    assert "lms" in body["detail"]
    assert not Exam.objects.exists()


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"content_id": "x", "exam_name": "n"}, "course_id"),
        ({"course_id": COURSE, "exam_name": "n"}, "content_id"),
        ({"course_id": COURSE, "content_id": "x"}, "exam_name"),
        (exam_body(time_limit_mins="ninety"), "time_limit_mins"),
        (exam_body(time_limit_mins=0), "time_limit_mins"),
        (exam_body(time_limit_mins=1_000_000), "time_limit_mins"),
        (exam_body(is_proctored="perhaps"), "is_proctored"),
        (exam_body(due_date="next tuesday"), "due_date"),
        (exam_body(backend="no-such-provider"), "backend"),
        (exam_body(course_id=["a", "list"]), "course_id"),
        (exam_body(external_id="a\x00b"), "external_id"),
    ],
)
def test_create_exam_rejects_bad_fields(lms, payload, field):
    response = lms.post("/api/v1/exams", payload, format="json")
    body = assert_error(response, 400, "invalid")
    assert field in body["detail"]
    assert field in body["fields"]
    assert not Exam.objects.exists()


def test_unknown_backend_names_the_available_ones(lms):
    body = assert_error(lms.post("/api/v1/exams", exam_body(backend="psx"), format="json"), 400)
    assert "psx" in body["detail"] and "mock" in body["detail"]


def test_practice_and_onboarding_together_is_refused(lms):
    response = lms.post(
        "/api/v1/exams", exam_body(is_practice_exam=True, is_onboarding=True), format="json"
    )
    body = assert_error(response, 400, "invalid")
    assert "practice" in body["detail"]


@pytest.mark.parametrize("raw", ["{not json", "", "[1, 2]", "42"])
def test_create_exam_with_non_json_or_non_object_body(lms, raw):
    response = lms.post("/api/v1/exams", raw, content_type="application/json")
    assert_error(response, 400)
    assert not Exam.objects.exists()


def test_create_exam_with_unsupported_media_type(lms):
    response = lms.post("/api/v1/exams", "course_id=x", content_type="text/plain")
    assert_error(response, 415, "unsupported_media_type")


def test_second_active_exam_for_same_content_conflicts(lms, make_exam):
    first = make_exam(content_id="block-dup")
    response = lms.post("/api/v1/exams", exam_body(content_id="block-dup"), format="json")
    body = assert_error(response, 409, "conflict")
    assert str(first.pk) in body["detail"]
    assert Exam.objects.filter(content_id="block-dup").count() == 1


def test_same_content_in_another_course_or_inactive_is_allowed(lms, make_exam):
    make_exam(content_id="block-dup")
    other = lms.post(
        "/api/v1/exams", exam_body(content_id="block-dup", course_id=OTHER_COURSE), format="json"
    )
    assert other.status_code == 201, other.content
    inactive = lms.post(
        "/api/v1/exams", exam_body(content_id="block-dup", is_active=False), format="json"
    )
    assert inactive.status_code == 201, inactive.content
    assert Exam.objects.filter(content_id="block-dup").count() == 3


# --- list -------------------------------------------------------------------------------------


def test_lms_lists_all_exams_and_filters_by_course(lms, make_exam):
    mine = make_exam()
    theirs = make_exam(course_id=OTHER_COURSE)
    every = lms.get("/api/v1/exams")
    assert every.status_code == 200
    assert {e["id"] for e in every.json()} == {mine.pk, theirs.pk}
    filtered = lms.get("/api/v1/exams", {"course_id": OTHER_COURSE})
    assert [e["id"] for e in filtered.json()] == [theirs.pk]


def test_staff_lists_only_their_courses(staff_http, other_staff_http, make_exam):
    mine = make_exam()
    theirs = make_exam(course_id=OTHER_COURSE)
    assert [e["id"] for e in staff_http.get("/api/v1/exams").json()] == [mine.pk]
    assert [e["id"] for e in other_staff_http.get("/api/v1/exams").json()] == [theirs.pk]
    # Asking for a course one is not staff of reveals nothing.
    assert other_staff_http.get("/api/v1/exams", {"course_id": COURSE}).json() == []


def test_client_without_lms_scope_cannot_list_exams(provider_http, exam):
    assert_error(provider_http.get("/api/v1/exams"), 403, "forbidden")


def test_list_refuses_nul_in_query(lms, exam):
    body = assert_error(lms.get("/api/v1/exams", {"course_id": "a\x00b"}), 400, "invalid")
    assert "course_id" in body["detail"]


# --- read -------------------------------------------------------------------------------------


def test_read_exam(lms, staff_http, exam):
    for http in (lms, staff_http):
        response = http.get(f"/api/v1/exams/{exam.pk}")
        assert response.status_code == 200
        assert response.json()["id"] == exam.pk
        assert response.json()["content_id"] == exam.content_id


def test_read_exam_forbidden(provider_http, other_staff_http, exam):
    assert_error(provider_http.get(f"/api/v1/exams/{exam.pk}"), 403, "forbidden")
    body = assert_error(other_staff_http.get(f"/api/v1/exams/{exam.pk}"), 403, "forbidden")
    assert COURSE in body["detail"]


@pytest.mark.parametrize("exam_id", ["999999", "99999999999999999999"])
def test_read_unknown_exam(lms, db, exam_id):
    assert_error(lms.get(f"/api/v1/exams/{exam_id}"), 404, "not_found")


# --- update -----------------------------------------------------------------------------------


def test_patch_exam(lms, exam):
    response = lms.patch(
        f"/api/v1/exams/{exam.pk}", {"exam_name": "Renamed", "time_limit_mins": 45}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["exam_name"] == "Renamed"
    exam.refresh_from_db()
    assert (exam.exam_name, exam.time_limit_mins) == ("Renamed", 45)
    assert exam.history.latest().history_change_reason.startswith("client:")


def test_staff_patches_exam_of_own_course(staff_http, exam):
    response = staff_http.patch(f"/api/v1/exams/{exam.pk}", {"is_active": False}, format="json")
    assert response.status_code == 200, response.content
    exam.refresh_from_db()
    assert exam.is_active is False


def test_patch_exam_forbidden(provider_http, other_staff_http, exam):
    for http in (provider_http, other_staff_http):
        assert_error(
            http.patch(f"/api/v1/exams/{exam.pk}", {"exam_name": "x"}, format="json"),
            403,
            "forbidden",
        )
    exam.refresh_from_db()
    assert exam.exam_name != "x"


def test_patch_unknown_exam(lms, db):
    assert_error(lms.patch("/api/v1/exams/999999", {"exam_name": "x"}, format="json"), 404)


@pytest.mark.parametrize(
    "payload,needle",
    [
        ({"time_limit_mins": -5}, "time_limit_mins"),
        ({"is_active": "sometimes"}, "is_active"),
        ({"backend": "nope"}, "backend"),
        ({"course_id": OTHER_COURSE}, "course_id"),
        ({"is_practice_exam": True, "is_onboarding": True}, "practice"),
    ],
)
def test_patch_exam_rejects_bad_input(lms, exam, payload, needle):
    body = assert_error(
        lms.patch(f"/api/v1/exams/{exam.pk}", payload, format="json"), 400, "invalid"
    )
    assert needle in body["detail"]
    fresh = Exam.objects.get(pk=exam.pk)
    assert (fresh.course_id, fresh.backend, fresh.time_limit_mins) == (COURSE, "mock", 60)


def test_patch_exam_with_non_json_body(lms, exam):
    assert_error(
        lms.patch(f"/api/v1/exams/{exam.pk}", "{oops", content_type="application/json"),
        400,
        "malformed_body",
    )


def test_reactivating_exam_that_clashes_conflicts(lms, make_exam):
    old = make_exam(content_id="block-x", is_active=False)
    current = make_exam(content_id="block-x")
    body = assert_error(
        lms.patch(f"/api/v1/exams/{old.pk}", {"is_active": True}, format="json"), 409, "conflict"
    )
    assert str(current.pk) in body["detail"]
    old.refresh_from_db()
    assert old.is_active is False


def test_method_not_allowed_has_error_shape(lms, exam):
    assert_error(lms.delete(f"/api/v1/exams/{exam.pk}"), 405, "method_not_allowed")
    assert Exam.objects.filter(pk=exam.pk).exists()
