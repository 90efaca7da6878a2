"""API v1: attempts (create, read, list, actions, archive) and who may act as whom."""

from __future__ import annotations

import pytest

from proctorhub.accounts.models import User
from proctorhub.attempts.lifecycle import apply_action
from proctorhub.attempts.models import Attempt
from proctorhub.attempts.services import create_attempt
from tests.api_helpers import assert_error, wrong_token
from tests.conftest import COURSE, LEARNER, OTHER_COURSE, PROVIDER


def user_body(learner) -> dict:
    return {
        "lms_user_id": learner.lms_user_id,
        "username": learner.username,
        "email": learner.email,
        "full_name": learner.full_name,
    }


@pytest.fixture
def attempt(exam, learner) -> Attempt:
    return create_attempt(exam=exam, user=learner, by=LEARNER)


# --- 401 on every attempt endpoint -----------------------------------------------------------

ENDPOINTS = [
    ("get", "/api/v1/attempts"),
    ("post", "/api/v1/attempts"),
    ("get", "/api/v1/attempts/{id}"),
    ("delete", "/api/v1/attempts/{id}"),
    ("post", "/api/v1/attempts/{id}/actions"),
]


@pytest.mark.parametrize("method,url", ENDPOINTS)
@pytest.mark.parametrize("caller", ["anonymous", "wrong_token"])
def test_attempt_endpoints_require_credentials(method, url, caller, anon, attempt, make_learner):
    http = anon if caller == "anonymous" else wrong_token()
    payload = {
        "exam_id": attempt.exam_id,
        "user": user_body(make_learner()),
        "action": "click_download_software",
    }
    response = getattr(http, method)(url.format(id=attempt.pk), payload, format="json")
    assert_error(response, 401, "unauthenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert Attempt.objects.count() == 1
    fresh = Attempt.objects.get(pk=attempt.pk)
    assert (fresh.status, fresh.is_archived) == ("created", False)


# --- create -----------------------------------------------------------------------------------


def test_lms_creates_attempt_and_syncs_learner(lms, exam):
    body = {
        "exam_id": exam.pk,
        "user": {
            "lms_user_id": "lms-new-1",
            "username": "ada",
            "email": "ada@example.org",
            "full_name": "Ada L",
        },
    }
    response = lms.post("/api/v1/attempts", body, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == "created"
    assert data["exam_id"] == exam.pk and data["course_id"] == COURSE
    assert data["user"] == {"lms_user_id": "lms-new-1", "username": "ada"}
    assert data["external_id"].startswith("MOCK-")
    assert data["taking_as_proctored"] is True
    user = User.objects.get(lms_user_id="lms-new-1")
    assert (user.email, user.full_name) == ("ada@example.org", "Ada L")
    assert Attempt.objects.get(pk=data["id"]).user == user


def test_create_attempt_email_and_full_name_are_optional(lms, exam):
    response = lms.post(
        "/api/v1/attempts",
        {"exam_id": exam.pk, "user": {"lms_user_id": "lms-min", "username": "min"}},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert User.objects.get(lms_user_id="lms-min").email == ""


def test_staff_of_course_creates_attempt(staff_http, exam, learner):
    response = staff_http.post(
        "/api/v1/attempts", {"exam_id": exam.pk, "user": user_body(learner)}, format="json"
    )
    assert response.status_code == 201, response.content
    assert Attempt.objects.filter(exam=exam, user=learner).count() == 1


def test_create_attempt_forbidden(provider_http, other_staff_http, exam, learner):
    for http in (provider_http, other_staff_http):
        response = http.post(
            "/api/v1/attempts", {"exam_id": exam.pk, "user": user_body(learner)}, format="json"
        )
        assert_error(response, 403, "forbidden")
    assert not Attempt.objects.exists()


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"user": {"lms_user_id": "1", "username": "u"}}, "exam_id"),
        ({"exam_id": "EXAM", "user": {"lms_user_id": "1", "username": "u"}}, "exam_id"),
        ({"exam_id": 1}, "user"),
        ({"exam_id": 1, "user": "someone"}, "user"),
        ({"exam_id": 1, "user": {"username": "u"}}, "user.lms_user_id"),
        ({"exam_id": 1, "user": {"lms_user_id": "1"}}, "user.username"),
        ({"exam_id": 1, "user": {"lms_user_id": "1", "username": ["u"]}}, "user.username"),
        (
            {"exam_id": 1, "user": {"lms_user_id": "1", "username": "u", "email": "no-at"}},
            "user.email",
        ),
    ],
)
def test_create_attempt_rejects_bad_input(lms, exam, payload, field):
    body = assert_error(lms.post("/api/v1/attempts", payload, format="json"), 400, "invalid")
    assert body["detail"].startswith(field) or f"; {field}" in body["detail"], body
    assert not Attempt.objects.exists()


@pytest.mark.parametrize("raw", ["{nope", "[]", "7"])
def test_create_attempt_with_non_json_body(lms, exam, raw):
    assert_error(lms.post("/api/v1/attempts", raw, content_type="application/json"), 400)
    assert not Attempt.objects.exists()


def test_create_attempt_for_unknown_exam(lms, learner):
    body = assert_error(
        lms.post(
            "/api/v1/attempts", {"exam_id": 987654, "user": user_body(learner)}, format="json"
        ),
        404,
        "not_found",
    )
    assert "987654" in body["detail"]


def test_create_attempt_for_inactive_exam_conflicts(lms, make_exam, learner):
    exam = make_exam(is_active=False)
    response = lms.post(
        "/api/v1/attempts", {"exam_id": exam.pk, "user": user_body(learner)}, format="json"
    )
    assert "not active" in assert_error(response, 409, "conflict")["detail"]


def test_second_live_attempt_for_same_exam_conflicts(lms, attempt, learner):
    response = lms.post(
        "/api/v1/attempts", {"exam_id": attempt.exam_id, "user": user_body(learner)}, format="json"
    )
    body = assert_error(response, 409, "conflict")
    assert str(attempt.pk) in body["detail"]
    assert Attempt.objects.filter(user=learner).count() == 1


def test_second_proctored_attempt_while_one_in_progress_conflicts(lms, attempt, learner, make_exam):
    moved = lms.post(
        f"/api/v1/attempts/{attempt.pk}/actions",
        {"action": "click_download_software"},
        format="json",
    )
    assert moved.json()["status"] == "download_software_clicked"
    other_exam = make_exam()
    response = lms.post(
        "/api/v1/attempts", {"exam_id": other_exam.pk, "user": user_body(learner)}, format="json"
    )
    body = assert_error(response, 409, "conflict")
    assert str(attempt.pk) in body["detail"] and "in progress" in body["detail"]
    assert not Attempt.objects.filter(exam=other_exam).exists()
    # An unproctored exam is not blocked by it.
    open_exam = make_exam(is_proctored=False)
    ok = lms.post(
        "/api/v1/attempts", {"exam_id": open_exam.pk, "user": user_body(learner)}, format="json"
    )
    assert ok.status_code == 201, ok.content


# --- read -------------------------------------------------------------------------------------


def test_read_attempt(lms, staff_http, attempt):
    for http in (lms, staff_http):
        response = http.get(f"/api/v1/attempts/{attempt.pk}")
        assert response.status_code == 200
        data = response.json()
        assert (data["id"], data["attempt_code"], data["status"]) == (
            attempt.pk,
            attempt.attempt_code,
            "created",
        )


def test_read_attempt_forbidden(provider_http, other_staff_http, attempt):
    assert_error(provider_http.get(f"/api/v1/attempts/{attempt.pk}"), 403, "forbidden")
    assert_error(other_staff_http.get(f"/api/v1/attempts/{attempt.pk}"), 403, "forbidden")


def test_read_unknown_attempt(lms, db):
    assert_error(lms.get("/api/v1/attempts/424242"), 404, "not_found")


# --- list -------------------------------------------------------------------------------------


@pytest.fixture
def several(make_exam, make_learner):
    """Three attempts in COURSE (two exams) and one in OTHER_COURSE."""
    exam_a, exam_b = make_exam(), make_exam(is_proctored=False)
    foreign = make_exam(course_id=OTHER_COURSE)
    alice, bob = make_learner(username="alice"), make_learner(username="bob")
    a1 = create_attempt(exam=exam_a, user=alice, by=LEARNER)
    a2 = create_attempt(exam=exam_a, user=bob, by=LEARNER)
    b1 = create_attempt(exam=exam_b, user=alice, by=LEARNER)
    apply_action(b1.pk, "start", LEARNER)
    f1 = create_attempt(exam=foreign, user=bob, by=LEARNER)
    return {"exam_a": exam_a, "exam_b": exam_b, "a1": a1, "a2": a2, "b1": b1, "f1": f1}


def ids(response) -> set[int]:
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


def test_list_attempts_filters(lms, several):
    s = several
    assert ids(lms.get("/api/v1/attempts")) == {s["a1"].pk, s["a2"].pk, s["b1"].pk, s["f1"].pk}
    assert ids(lms.get("/api/v1/attempts", {"course_id": OTHER_COURSE})) == {s["f1"].pk}
    assert ids(lms.get("/api/v1/attempts", {"exam_id": s["exam_a"].pk})) == {s["a1"].pk, s["a2"].pk}
    assert ids(lms.get("/api/v1/attempts", {"status": "started"})) == {s["b1"].pk}
    assert ids(lms.get("/api/v1/attempts", {"username": "alice"})) == {s["a1"].pk, s["b1"].pk}
    assert ids(lms.get("/api/v1/attempts", {"username": "bob", "course_id": COURSE})) == {
        s["a2"].pk
    }


def test_list_attempts_is_paginated(lms, several):
    first = lms.get("/api/v1/attempts", {"page_size": 3})
    body = first.json()
    assert body["count"] == 4
    assert len(body["results"]) == 3
    assert body["next"] and "page=2" in body["next"]
    second = lms.get(body["next"])
    assert second.json()["next"] is None
    assert len(second.json()["results"]) == 1
    seen = {r["id"] for r in body["results"]} | {r["id"] for r in second.json()["results"]}
    assert len(seen) == 4


def test_list_attempts_page_out_of_range(lms, several):
    assert_error(lms.get("/api/v1/attempts", {"page": 99}), 404, "not_found")


def test_staff_session_lists_only_their_courses(staff_http, other_staff_http, several):
    s = several
    assert ids(staff_http.get("/api/v1/attempts")) == {s["a1"].pk, s["a2"].pk, s["b1"].pk}
    assert ids(other_staff_http.get("/api/v1/attempts")) == {s["f1"].pk}
    assert ids(other_staff_http.get("/api/v1/attempts", {"course_id": COURSE})) == set()


def test_client_without_lms_scope_cannot_list(provider_http, several):
    assert_error(provider_http.get("/api/v1/attempts"), 403, "forbidden")


@pytest.mark.parametrize(
    "params,needle",
    [
        ({"status": "finished"}, "unknown status"),
        ({"exam_id": "abc"}, "exam_id"),
        ({"exam_id": "-1"}, "exam_id"),
        ({"exam_id": "\u00b2"}, "exam_id"),  # a digit to str.isdigit, not to int()
        ({"exam_id": "9" * 30}, "exam_id"),
        ({"username": "a\x00b"}, "username"),
    ],
)
def test_list_attempts_rejects_bad_filters(lms, several, params, needle):
    body = assert_error(lms.get("/api/v1/attempts", params), 400, "invalid")
    assert needle in body["detail"]


def test_unknown_status_filter_lists_valid_statuses(lms, db):
    body = assert_error(lms.get("/api/v1/attempts", {"status": "nope"}), 400)
    assert "second_review_required" in body["detail"]


# --- actions ----------------------------------------------------------------------------------


def act(http, attempt, **body):
    return http.post(f"/api/v1/attempts/{attempt.pk}/actions", body, format="json")


def test_learner_action_through_lms(lms, attempt):
    response = act(lms, attempt, action="click_download_software")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "download_software_clicked"
    assert Attempt.objects.get(pk=attempt.pk).status == "download_software_clicked"


def test_unproctored_start_fixes_time_allowed(lms, make_exam, learner):
    exam = make_exam(is_proctored=False, time_limit_mins=30)
    attempt = create_attempt(exam=exam, user=learner, by=LEARNER)
    response = act(lms, attempt, action="start")
    assert response.status_code == 200, response.content
    data = response.json()
    assert data["status"] == "started"
    assert data["allowed_time_limit_mins"] == 30 and data["started_at"]
    stopped = act(lms, attempt, action="stop")
    assert stopped.json()["status"] == "ready_to_submit"
    submitted = act(lms, attempt, action="submit")
    assert submitted.json()["status"] == "submitted" and submitted.json()["completed_at"]


def test_illegal_action_conflicts_and_names_from_status(lms, attempt):
    body = assert_error(act(lms, attempt, action="submit"), 409, "illegal_transition")
    assert "from created" in body["detail"]
    assert Attempt.objects.get(pk=attempt.pk).status == "created"


def test_finished_attempt_cannot_be_moved_by_learner(lms, attempt):
    apply_action(attempt.pk, "ready", PROVIDER)
    apply_action(attempt.pk, "start", LEARNER)
    apply_action(attempt.pk, "submit", LEARNER)
    body = assert_error(act(lms, attempt, action="decline"), 409, "illegal_transition")
    assert "from submitted" in body["detail"]


@pytest.mark.parametrize(
    "payload,needle",
    [
        ({"action": "teleport"}, "action"),
        ({"action": "verify"}, "action"),  # a real action, but not one the API offers
        ({}, "action"),
        ({"action": ["start"]}, "action"),
        ({"action": "start", "actor": "janitor"}, "actor"),
        ({"action": "start", "reason": {"why": 1}}, "reason"),
    ],
)
def test_action_rejects_bad_input(lms, attempt, payload, needle):
    body = assert_error(
        lms.post(f"/api/v1/attempts/{attempt.pk}/actions", payload, format="json"), 400, "invalid"
    )
    assert needle in body["detail"]
    assert Attempt.objects.get(pk=attempt.pk).status == "created"


@pytest.mark.parametrize("raw", ["{bad", "[1]", '"start"'])
def test_action_with_non_json_body(lms, attempt, raw):
    response = lms.post(
        f"/api/v1/attempts/{attempt.pk}/actions", raw, content_type="application/json"
    )
    assert_error(response, 400)


def test_action_forbidden(provider_http, other_staff_http, attempt):
    for http in (provider_http, other_staff_http):
        assert_error(act(http, attempt, action="click_download_software"), 403, "forbidden")
    assert Attempt.objects.get(pk=attempt.pk).status == "created"


def test_action_on_unknown_attempt(lms, db):
    assert_error(
        lms.post("/api/v1/attempts/31337/actions", {"action": "start"}, format="json"),
        404,
        "not_found",
    )


def test_staff_of_course_cannot_act_as_learner(staff_http, attempt):
    body = assert_error(
        act(staff_http, attempt, action="click_download_software", actor="learner"),
        403,
        "forbidden",
    )
    assert "learner" in body["detail"] and "staff" in body["detail"]
    # Without an actor, staff act as staff — which the table refuses for learner actions.
    assert_error(
        act(staff_http, attempt, action="click_download_software"), 409, "illegal_transition"
    )
    assert Attempt.objects.get(pk=attempt.pk).status == "created"


def test_lms_cannot_claim_to_be_the_provider(lms, attempt):
    body = assert_error(act(lms, attempt, action="error", actor="provider"), 403, "forbidden")
    assert "provider" in body["detail"]
    assert Attempt.objects.get(pk=attempt.pk).status == "created"


def test_staff_marks_errored_attempt_resumable(staff_http, attempt):
    apply_action(attempt.pk, "error", PROVIDER)
    response = act(staff_http, attempt, action="mark_resumable", reason="network outage")
    assert response.status_code == 200, response.content
    assert response.json()["is_resumable"] is True
    assert Attempt.objects.get(pk=attempt.pk).is_resumable is True


# --- archive ----------------------------------------------------------------------------------


def test_delete_archives_and_allows_a_new_attempt(lms, attempt, learner):
    response = lms.delete(
        f"/api/v1/attempts/{attempt.pk}", {"reason": "reset by support"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["is_archived"] is True and response.json()["archived_at"]
    still = lms.get(f"/api/v1/attempts/{attempt.pk}")
    assert still.status_code == 200 and still.json()["is_archived"] is True
    assert ids(lms.get("/api/v1/attempts")) == set()
    assert ids(lms.get("/api/v1/attempts", {"include_archived": "true"})) == {attempt.pk}
    again = lms.post(
        "/api/v1/attempts", {"exam_id": attempt.exam_id, "user": user_body(learner)}, format="json"
    )
    assert again.status_code == 201, again.content
    assert again.json()["id"] != attempt.pk
    assert ids(lms.get("/api/v1/attempts")) == {again.json()["id"]}
    # An archived attempt cannot be moved any more.
    assert (
        "archived"
        in assert_error(act(lms, attempt, action="click_download_software"), 409)["detail"]
    )


def test_delete_without_body_and_twice(staff_http, attempt):
    first = staff_http.delete(f"/api/v1/attempts/{attempt.pk}")
    assert first.status_code == 200, first.content
    archived_at = first.json()["archived_at"]
    second = staff_http.delete(f"/api/v1/attempts/{attempt.pk}")
    assert second.status_code == 200
    assert second.json()["archived_at"] == archived_at


def test_delete_forbidden(provider_http, other_staff_http, attempt):
    for http in (provider_http, other_staff_http):
        assert_error(http.delete(f"/api/v1/attempts/{attempt.pk}"), 403, "forbidden")
    assert Attempt.objects.get(pk=attempt.pk).is_archived is False


def test_delete_bad_input(lms, attempt):
    assert_error(
        lms.delete(f"/api/v1/attempts/{attempt.pk}", {"reason": ["x"]}, format="json"),
        400,
        "invalid",
    )
    assert_error(
        lms.delete(f"/api/v1/attempts/{attempt.pk}", "{x", content_type="application/json"),
        400,
        "malformed_body",
    )
    assert Attempt.objects.get(pk=attempt.pk).is_archived is False


def test_delete_unknown_attempt(lms, db):
    assert_error(lms.delete("/api/v1/attempts/55555"), 404, "not_found")
