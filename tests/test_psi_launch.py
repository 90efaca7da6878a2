"""The launch URL PSI's secure browser opens: ready to start, and a signed secure-browser cookie."""

from __future__ import annotations

import pytest
from django.core import signing
from django.test import RequestFactory

from proctorhub.api import views_launch
from proctorhub.api.views_launch import SECURE_BROWSER_COOKIE, SECURE_BROWSER_SALT
from proctorhub.attempts.lifecycle import apply_action
from proctorhub.attempts.models import Attempt
from proctorhub.attempts.services import archive_attempt
from proctorhub.attempts.statuses import Action, Status
from proctorhub.errors import IllegalTransition
from proctorhub.notifications.models import OutboxEvent
from tests.conftest import LEARNER, SYSTEM


@pytest.fixture
def make_psi_attempt(make_exam, make_learner):
    def factory(backend: str = "software_secure", **kw) -> Attempt:
        learner = make_learner(full_name="Ada Lovelace", email="ada@example.org")
        return Attempt.objects.create(exam=make_exam(backend=backend), user=learner,
                                      backend=backend, taking_as_proctored=True,
                                      external_id=f"SSI-{learner.pk}", **kw)
    return factory


@pytest.fixture
def psi_attempt(make_psi_attempt) -> Attempt:
    return make_psi_attempt()


def launch(client, attempt_or_code):
    code = getattr(attempt_or_code, "attempt_code", attempt_or_code)
    return client.get(f"/api/v1/providers/software_secure/launch/{code}")


def status_events(attempt) -> list[dict]:
    return [e.payload for e in OutboxEvent.objects.filter(kind="attempt.status_changed",
                                                          attempt_id=attempt.pk)]


def cookie_value_as_django_reads_it(response) -> str | None:
    request = RequestFactory().get("/")
    request.COOKIES[SECURE_BROWSER_COOKIE] = response.cookies[SECURE_BROWSER_COOKIE].value
    return request.get_signed_cookie(SECURE_BROWSER_COOKIE, default=None, salt=SECURE_BROWSER_SALT)


@pytest.mark.parametrize("clicked", [False, True])
def test_launch_marks_the_attempt_ready_to_start(anon, psi_attempt, clicked):
    if clicked:
        apply_action(psi_attempt.pk, Action.CLICK_DOWNLOAD_SOFTWARE, LEARNER)
    response = launch(anon, psi_attempt)  # no credentials at all: the code is the credential
    assert response.status_code == 200
    psi_attempt.refresh_from_db()
    assert psi_attempt.status == Status.READY_TO_START
    events = status_events(psi_attempt)
    assert events[-1]["new_status"] == "ready_to_start" and events[-1]["actor"] == "system"
    reason = psi_attempt.history.first().history_change_reason
    assert "ready" in reason and "(system)" in reason


def test_launch_sets_a_signed_secure_browser_cookie(anon, psi_attempt, settings):
    settings.DEBUG = False
    response = launch(anon, psi_attempt)
    cookie = response.cookies[SECURE_BROWSER_COOKIE]
    assert cookie_value_as_django_reads_it(response) == str(psi_attempt.pk)
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["secure"]
    assert cookie["path"] == "/"
    # The value is signed with the documented salt: another salt, or a forged value, fails.
    with pytest.raises(signing.BadSignature):
        signing.get_cookie_signer(salt=SECURE_BROWSER_COOKIE + "other").unsign(cookie.value)
    forged = f"{psi_attempt.pk + 1}:{cookie.value.split(':', 1)[1]}"
    with pytest.raises(signing.BadSignature):
        signing.get_cookie_signer(salt=SECURE_BROWSER_COOKIE + SECURE_BROWSER_SALT).unsign(forged)


def test_cookie_is_not_secure_only_in_debug(anon, psi_attempt, settings):
    settings.DEBUG = True
    response = launch(anon, psi_attempt)
    assert not response.cookies[SECURE_BROWSER_COOKIE]["secure"]
    assert cookie_value_as_django_reads_it(response) == str(psi_attempt.pk)


def test_launch_page_is_html_without_personal_data_and_not_cached(anon, psi_attempt):
    response = launch(anon, psi_attempt)
    page = response.content.decode()
    assert response["Content-Type"].startswith("text/html")
    assert "Return to the exam" in page
    for private in ("Ada", "Lovelace", "ada@example.org", psi_attempt.user.username,
                    psi_attempt.attempt_code, psi_attempt.external_id):
        assert private not in page
    assert response["Cache-Control"] == "no-store"
    assert response["Referrer-Policy"] == "no-referrer"


def test_second_launch_is_idempotent(anon, psi_attempt):
    first, second = launch(anon, psi_attempt), launch(anon, psi_attempt)
    assert first.status_code == second.status_code == 200
    assert cookie_value_as_django_reads_it(second) == str(psi_attempt.pk)
    psi_attempt.refresh_from_db()
    assert psi_attempt.status == Status.READY_TO_START
    assert len(status_events(psi_attempt)) == 1
    assert psi_attempt.history.filter(status=Status.READY_TO_START).count() == 1


def test_launch_after_start_changes_nothing(anon, psi_attempt):
    apply_action(psi_attempt.pk, Action.READY, SYSTEM)
    apply_action(psi_attempt.pk, Action.START, LEARNER)
    before = len(status_events(psi_attempt))
    response = launch(anon, psi_attempt)
    assert response.status_code == 200
    assert cookie_value_as_django_reads_it(response) == str(psi_attempt.pk)
    psi_attempt.refresh_from_db()
    assert psi_attempt.status == Status.STARTED
    assert len(status_events(psi_attempt)) == before


def test_unknown_code_is_a_json_404_without_cookie(anon, psi_attempt):
    response = launch(anon, "F" * 40)
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
    assert SECURE_BROWSER_COOKIE not in response.cookies
    psi_attempt.refresh_from_db()
    assert psi_attempt.status == Status.CREATED


def test_archived_attempt_is_a_404(anon, psi_attempt):
    archive_attempt(psi_attempt.pk, SYSTEM, reason="reset")
    response = launch(anon, psi_attempt)
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    assert SECURE_BROWSER_COOKIE not in response.cookies
    psi_attempt.refresh_from_db()
    assert psi_attempt.status == Status.CREATED


def test_attempt_of_another_provider_is_a_404(anon, make_psi_attempt):
    other = make_psi_attempt(backend="mock")
    response = launch(anon, other)
    assert response.status_code == 404 and response.json()["error"] == "not_found"
    other.refresh_from_db()
    assert other.status == Status.CREATED


def test_launch_racing_another_launch_still_answers_200(anon, psi_attempt, monkeypatch):
    real = views_launch.apply_action

    def loses_the_race(attempt_id, action, by, **kw):
        real(attempt_id, action, by, **kw)  # the other launch gets there first
        raise IllegalTransition("no transition from ready_to_start by ready")

    monkeypatch.setattr(views_launch, "apply_action", loses_the_race)
    response = launch(anon, psi_attempt)
    assert response.status_code == 200
    assert "Your exam is ready" in response.content.decode()
    psi_attempt.refresh_from_db()
    assert psi_attempt.status == Status.READY_TO_START
