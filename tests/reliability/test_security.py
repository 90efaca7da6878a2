"""Security: forged and replayed callbacks, wrong credentials, a provider reviewing another
provider's attempt, staff of another course, and attempt codes guessed by brute force.

Each refusal is its own test, and each checks that nothing changed: no review stored, no attempt
status moved, no notification emitted.
"""

from __future__ import annotations

import base64

import pytest
from rest_framework.test import APIClient as HTTPClient

from proctorhub.accounts.models import APIClient
from proctorhub.attempts.models import Attempt
from proctorhub.attempts.services import create_attempt
from proctorhub.notifications.models import OutboxEvent
from proctorhub.reviews.models import Delivery, Review, ReviewComment
from tests.conftest import COURSE, LEARNER, OTHER_COURSE, make_client
from tests.psi_helpers import URL, basic_header, payload, post, psi_attempt

LAUNCH = "/api/v1/providers/software_secure/launch/"
CLEAN = "review_clean.json"


@pytest.fixture
def attempt(psi_submitted):
    return psi_submitted


def _snapshot(*attempts):
    return (Review.objects.count(), ReviewComment.objects.count(), OutboxEvent.objects.count(),
            [Attempt.objects.get(pk=a.pk).status for a in attempts])


def _refused(response, code, snapshot, *attempts):
    assert response.status_code == code, response.content[:300]
    assert response.json()["error"] and response.json()["detail"]
    assert _snapshot(*attempts) == snapshot


# --- forged callbacks --------------------------------------------------------------------------

@pytest.mark.parametrize("auth", [
    basic_header("psi", "wrong-pass"),
    basic_header("mallory", "callback-pass"),
    basic_header("psi", "callback-pass" + "x"),
    "Basic " + base64.b64encode(b"psi").decode(),
    "Basic not-base64!!",
    "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
    "Bearer callback-pass",
    "",
], ids=["wrong-password", "wrong-user", "longer-password", "no-colon", "bad-base64",
        "non-utf8", "bearer-instead", "none"])
def test_psi_callback_with_wrong_basic_credentials_is_refused(anon, attempt, auth):
    before = _snapshot(attempt)
    response = post(anon, payload(CLEAN, attempt), auth=auth)
    _refused(response, 401, before, attempt)
    assert Delivery.objects.get().outcome == "rejected"  # recorded even so


@pytest.mark.parametrize("token", ["wrong", "tok-" + "y" * 40, "tok-", "%00"])
def test_psi_callback_with_wrong_token_path_is_refused(anon, attempt, token):
    before = _snapshot(attempt)
    response = post(anon, payload(CLEAN, attempt), url=f"{URL}/{token}", auth="")
    _refused(response, 400 if token == "%00" else 401, before, attempt)


def test_psi_callback_from_outside_the_allowed_addresses_is_refused(anon, attempt, psi):
    psi["callback_allowed_ips"] = ["10.1.2.0/24"]
    before = _snapshot(attempt)
    response = post(anon, payload(CLEAN, attempt))  # right credentials, wrong address
    _refused(response, 401, before, attempt)


def test_psi_callback_without_configured_credentials_fails_closed(anon, attempt, psi):
    psi.pop("callback_basic_auth"), psi.pop("callback_token")
    before = _snapshot(attempt)
    _refused(post(anon, payload(CLEAN, attempt)), 401, before, attempt)


@pytest.fixture
def mock_attempt(exam, learner):
    attempt = create_attempt(exam=exam, user=learner, by=LEARNER)
    Attempt.objects.filter(pk=attempt.pk).update(external_id="MOCK-EXT-1")
    return Attempt.objects.get(pk=attempt.pk)


def _standard(http, external_id, provider="mock", status="passed"):
    return http.post(f"/api/v1/providers/{provider}/attempts/{external_id}/reviewed",
                     {"status": status, "comments": []}, format="json")


@pytest.mark.parametrize("header", ["Bearer wrong-token", "Bearer ", "Basic abc", ""])
def test_standard_callback_with_wrong_bearer_is_refused(db, mock_attempt, header):
    http = HTTPClient()
    http.credentials(HTTP_AUTHORIZATION=header)
    before = _snapshot(mock_attempt)
    _refused(_standard(http, mock_attempt.external_id), 401, before, mock_attempt)


@pytest.mark.parametrize("scope", ["lms", "admin", "provider:software_secure"])
def test_standard_callback_with_a_token_of_another_scope_is_refused(db, mock_attempt, scope):
    http, _ = make_client(scope)
    before = _snapshot(mock_attempt)
    _refused(_standard(http, mock_attempt.external_id), 401, before, mock_attempt)


def test_standard_callback_with_a_revoked_provider_token_is_refused(db, mock_attempt):
    http, client = make_client("provider:mock")
    APIClient.objects.filter(pk=client.pk).update(is_active=False)
    before = _snapshot(mock_attempt)
    _refused(_standard(http, mock_attempt.external_id), 401, before, mock_attempt)


# --- replay --------------------------------------------------------------------------------

def test_replayed_psi_callback_changes_nothing(anon, attempt):
    body = payload("review_suspicious.json", attempt)
    assert post(anon, body).status_code == 200
    attempt.refresh_from_db()
    review = Review.objects.get(attempt=attempt)
    history = review.history.count()
    before = _snapshot(attempt)
    for _ in range(3):
        response = post(anon, body)
        assert response.status_code == 200 and response.content == b"OK"
    assert _snapshot(attempt) == before
    assert Review.objects.get(attempt=attempt).history.count() == history
    assert OutboxEvent.objects.filter(kind="support.suspicious_review").count() == 1
    assert list(Delivery.objects.order_by("pk").values_list("outcome", flat=True)) == \
        ["applied", "duplicate", "duplicate", "duplicate"]


def test_replayed_standard_callback_changes_nothing(db, mock_attempt):
    Attempt.objects.filter(pk=mock_attempt.pk).update(status="submitted")
    http, _ = make_client("provider:mock")
    assert _standard(http, mock_attempt.external_id).status_code == 200
    before = _snapshot(mock_attempt)
    assert _standard(http, mock_attempt.external_id).status_code == 200
    assert _snapshot(mock_attempt) == before
    assert Delivery.objects.filter(outcome="duplicate").count() == 1


# --- wrong credentials on the API ------------------------------------------------------------

@pytest.mark.parametrize("header", [None, "Bearer nope", "Bearer ", "Token abc", "Basic YTpi"])
@pytest.mark.parametrize("method,url", [("get", "/api/v1/exams"), ("get", "/api/v1/attempts"),
                                        ("post", "/api/v1/attempts"), ("post", "/api/v1/exams")])
def test_api_refuses_missing_or_wrong_credentials(db, header, method, url):
    http = HTTPClient()
    if header is not None:
        http.credentials(HTTP_AUTHORIZATION=header)
    attempts = Attempt.objects.count()
    response = getattr(http, method)(url, {}, format="json")
    assert response.status_code in (401, 403), response.content
    assert response.json()["error"] in ("unauthenticated", "forbidden")
    assert Attempt.objects.count() == attempts


def test_api_refuses_a_revoked_token(db, exam, learner):
    http, client = make_client("lms")
    APIClient.objects.filter(pk=client.pk).update(is_active=False)
    response = http.post("/api/v1/attempts", {"exam_id": exam.pk, "user": {
        "lms_user_id": learner.lms_user_id, "username": learner.username}}, format="json")
    assert response.status_code == 401 and not Attempt.objects.exists()


def test_provider_token_cannot_use_the_lms_api(db, exam, learner):
    http, _ = make_client("provider:mock")
    response = http.post("/api/v1/attempts", {"exam_id": exam.pk, "user": {
        "lms_user_id": learner.lms_user_id, "username": learner.username}}, format="json")
    assert response.status_code == 403 and not Attempt.objects.exists()
    assert http.get("/api/v1/attempts").status_code == 403


def test_provider_token_cannot_act_as_learner(db, mock_attempt):
    http, _ = make_client("provider:mock")
    response = http.post(f"/api/v1/attempts/{mock_attempt.pk}/actions",
                         {"action": "start", "actor": "learner"}, format="json")
    assert response.status_code == 403
    assert Attempt.objects.get(pk=mock_attempt.pk).status == mock_attempt.status


# --- a provider reviewing another provider's attempt -------------------------------------------

def test_mock_provider_cannot_review_a_psi_attempt(attempt):
    http, _ = make_client("provider:mock")
    before = _snapshot(attempt)
    response = _standard(http, attempt.external_id, status="violation")
    assert response.status_code in (403, 404)
    assert _snapshot(attempt) == before
    assert not Delivery.objects.filter(attempt=attempt).exists()


def test_psi_cannot_review_a_mock_attempt_even_knowing_its_codes(anon, psi, mock_attempt):
    Attempt.objects.filter(pk=mock_attempt.pk).update(status="submitted")
    mock_attempt.refresh_from_db()
    before = _snapshot(mock_attempt)
    body = payload("review_rules_violation.json", mock_attempt)  # its code and its external id
    _refused(post(anon, body), 403, before, mock_attempt)
    assert Delivery.objects.get().outcome == "rejected"


def test_psi_review_with_a_mismatched_locator_is_refused(anon, attempt):
    before = _snapshot(attempt)
    _refused(post(anon, payload(CLEAN, attempt, locator="SSI-OTHER")), 400, before, attempt)


# --- staff of another course ------------------------------------------------------------------

@pytest.fixture
def other_course_staff(make_staff):
    http = HTTPClient()
    http.force_login(make_staff(course_id=OTHER_COURSE))
    return http


@pytest.fixture
def reviewed(anon, attempt):
    """A PSI attempt of COURSE with a suspicious review waiting for a second review."""
    assert post(anon, payload("review_suspicious.json", attempt)).status_code == 200
    attempt.refresh_from_db()
    assert attempt.exam.course_id == COURSE and attempt.status == "second_review_required"
    return attempt


@pytest.mark.parametrize("method,path,data", [
    ("get", "/api/v1/attempts/{a}", None),
    ("get", "/api/v1/attempts/{a}/review", None),
    ("get", "/api/v1/attempts/{a}/review/video", None),
    ("post", "/api/v1/attempts/{a}/review", {"status": "verified", "reason": "looks fine"}),
    ("post", "/api/v1/attempts/{a}/actions", {"action": "error"}),
    ("delete", "/api/v1/attempts/{a}", {"reason": "reset"}),
    ("get", "/api/v1/exams/{e}", None),
    ("patch", "/api/v1/exams/{e}", {"exam_name": "pwned"}),
    ("put", "/api/v1/exams/{e}/allowances", {"user": {"lms_user_id": "x", "username": "x"},
                                             "additional_minutes": 60}),
])
def test_staff_of_another_course_is_refused_by_the_api(other_course_staff, reviewed, method,
                                                        path, data):
    before = _snapshot(reviewed)
    exam_name = reviewed.exam.exam_name
    url = path.format(a=reviewed.pk, e=reviewed.exam_id)
    response = getattr(other_course_staff, method)(url, data, format="json")
    assert response.status_code == 403, (url, response.content[:300])
    assert _snapshot(reviewed) == before
    reviewed.exam.refresh_from_db()
    assert reviewed.exam.exam_name == exam_name and not reviewed.exam.allowances.exists()


def test_staff_of_another_course_sees_none_of_its_attempts(other_course_staff, reviewed):
    response = other_course_staff.get("/api/v1/attempts")
    assert response.status_code == 200 and response.json()["results"] == []
    response = other_course_staff.get("/api/v1/exams")
    assert response.status_code == 200 and response.json() == []


@pytest.mark.parametrize("method,path,data", [
    ("get", "/staff/attempts/{a}", {}),
    ("post", "/staff/attempts/{a}/decide", {"status": "verified", "reason": "x", "confirm": "on"}),
    ("post", "/staff/attempts/{a}/reset", {"reason": "x", "confirm": "on"}),
    ("post", "/staff/attempts/{a}/video", {}),
    ("get", "/staff/exams/{e}/allowances", {}),
])
def test_staff_of_another_course_is_refused_by_the_staff_pages(other_course_staff, reviewed,
                                                                method, path, data):
    before = _snapshot(reviewed)
    url = path.format(a=reviewed.pk, e=reviewed.exam_id)
    response = getattr(other_course_staff, method)(url, data)
    assert response.status_code in (403, 404), url
    assert reviewed.attempt_code.encode() not in response.content
    assert _snapshot(reviewed) == before
    assert not Attempt.objects.get(pk=reviewed.pk).is_archived
    queue = other_course_staff.get("/staff/")
    assert reviewed.attempt_code.encode() not in queue.content


# --- attempt codes guessed by brute force -----------------------------------------------------

def _guess(http, n, addr="203.0.113.7"):
    return [http.get(f"{LAUNCH}guess-{n}-{i}", REMOTE_ADDR=addr) for i in range(n)]


def test_brute_forcing_launch_codes_is_rate_limited(anon, psi, exam, learner):
    target = psi_attempt(exam, learner, submitted=False)
    Attempt.objects.filter(pk=target.pk).update(status="created")
    answers = _guess(anon, 20)
    assert [r.status_code for r in answers] == [404] * 20
    blocked = anon.get(f"{LAUNCH}guess-21", REMOTE_ADDR="203.0.113.7")
    assert blocked.status_code == 429
    assert blocked.json()["error"] == "throttled" and blocked.json()["detail"]
    assert 1 <= int(blocked["Retry-After"]) <= 60
    # Even a right guess is refused now: the attacker learns nothing until the window ends.
    right = anon.get(f"{LAUNCH}{target.attempt_code}", REMOTE_ADDR="203.0.113.7")
    assert right.status_code == 429 and "Set-Cookie" not in right
    assert Attempt.objects.get(pk=target.pk).status == "created"
    # Another address is not affected.
    other = anon.get(f"{LAUNCH}{target.attempt_code}", REMOTE_ADDR="198.51.100.9")
    assert other.status_code == 200


def test_known_codes_do_not_count_towards_the_limit(anon, psi, exam, make_learner):
    attempts = [psi_attempt(exam, make_learner(), submitted=False, locator=f"SSI-K{i}")
                for i in range(3)]
    for _ in range(10):
        for a in attempts:
            assert anon.get(f"{LAUNCH}{a.attempt_code}", REMOTE_ADDR="203.0.113.8").status_code == 200
    assert [r.status_code for r in _guess(anon, 20, "203.0.113.8")] == [404] * 20


def test_launch_rate_limit_is_configurable(anon, psi):
    psi["launch_unknown_codes_per_minute"] = 3
    assert [r.status_code for r in _guess(anon, 4)] == [404, 404, 404, 429]
    psi["launch_unknown_codes_per_minute"] = 0  # off
    assert {r.status_code for r in _guess(anon, 30, "203.0.113.9")} == {404}


def test_launch_rate_limit_fails_open_when_the_cache_is_down(anon, psi, monkeypatch):
    from django.core.cache import cache

    def broken(*args, **kwargs):
        raise ConnectionError("cache down")

    for name in ("get", "add", "incr", "set"):
        monkeypatch.setattr(cache, name, broken)
    assert {r.status_code for r in _guess(anon, 25)} == {404}
