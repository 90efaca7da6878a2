"""API v1: allowances of an exam (put one or many, list, delete)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from proctorhub.accounts.models import User
from proctorhub.attempts.services import create_attempt
from proctorhub.exams.models import Allowance
from tests.api_helpers import assert_error, wrong_token
from tests.conftest import LEARNER


def user_body(learner) -> dict:
    return {"lms_user_id": learner.lms_user_id, "username": learner.username}


def url(exam) -> str:
    return f"/api/v1/exams/{exam.pk}/allowances"


@pytest.fixture
def granted(exam, make_learner):
    """Two learners with allowances on ``exam``."""
    from proctorhub.exams.services import put_allowances

    one, two = make_learner(), make_learner()
    put_allowances(
        exam,
        [
            {"user": user_body(one), "additional_minutes": 10},
            {"user": user_body(two), "additional_minutes": 20},
        ],
        reason="test",
    )
    return one, two


@pytest.mark.parametrize("method", ["get", "put", "delete"])
@pytest.mark.parametrize("caller", ["anonymous", "wrong_token"])
def test_allowance_endpoints_require_credentials(method, caller, anon, exam, granted):
    http = anon if caller == "anonymous" else wrong_token()
    payload = {
        "user": {"lms_user_id": "x", "username": "x"},
        "additional_minutes": 5,
        "lms_user_ids": [granted[0].lms_user_id],
    }
    response = getattr(http, method)(url(exam), payload, format="json")
    assert_error(response, 401, "unauthenticated")
    assert sorted(Allowance.objects.values_list("additional_minutes", flat=True)) == [10, 20]


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_allowance_endpoints_forbidden(method, provider_http, other_staff_http, exam, granted):
    payload = {
        "user": {"lms_user_id": "x", "username": "x"},
        "additional_minutes": 5,
        "lms_user_ids": [granted[0].lms_user_id],
    }
    for http in (provider_http, other_staff_http):
        assert_error(getattr(http, method)(url(exam), payload, format="json"), 403, "forbidden")
    assert sorted(Allowance.objects.values_list("additional_minutes", flat=True)) == [10, 20]


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_allowances_of_unknown_exam(method, lms, db):
    response = getattr(lms, method)(
        "/api/v1/exams/777777/allowances", {"lms_user_ids": ["a"]}, format="json"
    )
    assert_error(response, 404, "not_found")


def test_put_one_allowance_then_list(lms, exam, learner):
    response = lms.put(
        url(exam),
        {
            "user": user_body(learner),
            "additional_minutes": 15,
            "time_multiplier": "1.50",
            "review_policy_exception": "calculator allowed",
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    data = response.json()
    assert isinstance(data, dict)
    assert data["user"] == {"lms_user_id": learner.lms_user_id, "username": learner.username}
    assert data["additional_minutes"] == 15 and data["exam"] == exam.pk
    saved = Allowance.objects.get(exam=exam, user=learner)
    assert saved.time_multiplier == Decimal("1.50")
    assert saved.review_policy_exception == "calculator allowed"
    listed = lms.get(url(exam))
    assert listed.status_code == 200
    assert [(a["user"]["lms_user_id"], a["additional_minutes"]) for a in listed.json()] == [
        (learner.lms_user_id, 15)
    ]


def test_put_replaces_existing_allowance(staff_http, exam, granted):
    one, _ = granted
    response = staff_http.put(
        url(exam), {"user": user_body(one), "additional_minutes": 45}, format="json"
    )
    assert response.status_code == 200, response.content
    assert Allowance.objects.filter(exam=exam, user=one).count() == 1
    allowance = Allowance.objects.get(exam=exam, user=one)
    assert allowance.additional_minutes == 45 and allowance.time_multiplier is None


def test_put_bulk_creates_learners_and_allowances(lms, exam):
    items = [
        {"user": {"lms_user_id": f"bulk-{i}", "username": f"bulk{i}"}, "additional_minutes": i * 5}
        for i in range(1, 4)
    ]
    response = lms.put(url(exam), items, format="json")
    assert response.status_code == 200, response.content
    assert isinstance(response.json(), list) and len(response.json()) == 3
    assert User.objects.filter(lms_user_id__startswith="bulk-").count() == 3
    got = {
        a.user.lms_user_id: a.additional_minutes
        for a in Allowance.objects.filter(exam=exam).select_related("user")
    }
    assert got == {"bulk-1": 5, "bulk-2": 10, "bulk-3": 15}


def test_bulk_put_is_all_or_nothing_on_bad_item(lms, exam):
    items = [
        {"user": {"lms_user_id": "ok-1", "username": "ok1"}, "additional_minutes": 5},
        {"user": {"lms_user_id": "bad-1", "username": "bad1"}, "additional_minutes": "lots"},
    ]
    body = assert_error(lms.put(url(exam), items, format="json"), 400, "invalid")
    assert "additional_minutes" in body["detail"]
    assert not Allowance.objects.exists()


def test_allowance_extends_time_allowed_at_start(lms, make_exam, learner):
    exam = make_exam(is_proctored=False, time_limit_mins=60)
    lms.put(url(exam), {"user": user_body(learner), "additional_minutes": 25}, format="json")
    attempt = create_attempt(exam=exam, user=learner, by=LEARNER)
    started = lms.post(f"/api/v1/attempts/{attempt.pk}/actions", {"action": "start"}, format="json")
    assert started.json()["allowed_time_limit_mins"] == 85


@pytest.mark.parametrize(
    "payload,needle",
    [
        ({"additional_minutes": 5}, "user"),
        ({"user": {"username": "u"}, "additional_minutes": 5}, "lms_user_id"),
        (
            {"user": {"lms_user_id": "u", "username": "u"}, "additional_minutes": -1},
            "additional_minutes",
        ),
        (
            {"user": {"lms_user_id": "u", "username": "u"}, "additional_minutes": "ten"},
            "additional_minutes",
        ),
        (
            {"user": {"lms_user_id": "u", "username": "u"}, "time_multiplier": "0.5"},
            "time_multiplier",
        ),
        (
            {"user": {"lms_user_id": "u", "username": "u"}, "time_multiplier": "NaN"},
            "time_multiplier",
        ),
        (
            {"user": {"lms_user_id": "u", "username": "u"}, "time_multiplier": 1e300},
            "time_multiplier",
        ),
    ],
)
def test_put_allowance_rejects_bad_input(lms, exam, payload, needle):
    body = assert_error(lms.put(url(exam), payload, format="json"), 400, "invalid")
    assert needle in body["detail"]
    assert not Allowance.objects.exists()


@pytest.mark.parametrize("raw,status", [("{oops", 400), ('"someone"', 400), ("17", 400)])
def test_put_allowance_non_json_or_wrong_shape(lms, exam, raw, status):
    assert_error(lms.put(url(exam), raw, content_type="application/json"), status)
    assert not Allowance.objects.exists()


def test_delete_allowances_by_body(lms, exam, granted):
    one, two = granted
    response = lms.delete(
        url(exam), {"lms_user_ids": [one.lms_user_id, "not-there"]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json() == {"deleted": 1}
    assert list(Allowance.objects.values_list("user__lms_user_id", flat=True)) == [two.lms_user_id]
    assert [a["user"]["lms_user_id"] for a in lms.get(url(exam)).json()] == [two.lms_user_id]


def test_delete_allowance_by_query(staff_http, exam, granted):
    one, two = granted
    response = staff_http.delete(f"{url(exam)}?lms_user_id={two.lms_user_id}")
    assert response.status_code == 200, response.content
    assert response.json() == {"deleted": 1}
    assert list(Allowance.objects.values_list("user__lms_user_id", flat=True)) == [one.lms_user_id]


def test_delete_only_touches_this_exam(lms, make_exam, granted, exam):
    one, _ = granted
    other = make_exam()
    from proctorhub.exams.services import put_allowances

    put_allowances(other, [{"user": user_body(one), "additional_minutes": 99}], reason="test")
    lms.delete(url(exam), {"lms_user_ids": [one.lms_user_id]}, format="json")
    assert Allowance.objects.get(exam=other, user=one).additional_minutes == 99


@pytest.mark.parametrize(
    "payload", [{}, {"lms_user_ids": []}, {"lms_user_ids": "abc"}, {"lms_user_ids": [["nested"]]}]
)
def test_delete_allowances_rejects_bad_input(lms, exam, granted, payload):
    body = assert_error(lms.delete(url(exam), payload, format="json"), 400, "invalid")
    assert "lms_user_ids" in body["detail"]
    assert Allowance.objects.count() == 2


def test_delete_allowances_non_json(lms, exam, granted):
    assert_error(lms.delete(url(exam), "{", content_type="application/json"), 400, "malformed_body")
    assert Allowance.objects.count() == 2
