"""Faults, in process (both databases): a database that goes away mid-request gives a 503 with
Retry-After, never a 500, and leaves nothing half-applied. The real thing — connections killed
under load on PostgreSQL — is in test_load_pg.py."""

from __future__ import annotations

import pytest
from django.db import InterfaceError, OperationalError

from proctorhub.attempts.models import Attempt
from proctorhub.reviews.models import Review, ReviewComment
from tests.psi_helpers import payload, post


@pytest.mark.parametrize("error", [OperationalError("server closed the connection"),
                                   InterfaceError("connection already closed")])
def test_api_answers_503_with_retry_after_when_the_database_is_gone(lms, exam, monkeypatch, error):
    from proctorhub.api import views_exams

    def gone(*args, **kwargs):
        raise error

    monkeypatch.setattr(views_exams.services, "update_exam", gone)
    response = lms.patch(f"/api/v1/exams/{exam.pk}", {"exam_name": "x"}, format="json")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert response.json()["error"] == "unavailable"
    exam.refresh_from_db()
    assert exam.exam_name != "x"


def test_psi_callback_interrupted_mid_apply_is_503_and_applies_nothing(anon, psi_submitted,
                                                                       monkeypatch):
    from proctorhub.attempts import lifecycle

    attempt = psi_submitted
    real = lifecycle.save_attempt

    def dies_after_the_review_row(*args, **kwargs):  # the review is written by then
        raise OperationalError("terminating connection due to administrator command")

    monkeypatch.setattr(lifecycle, "save_attempt", dies_after_the_review_row)
    body = payload("review_rules_violation.json", attempt)
    response = post(anon, body)
    assert response.status_code == 503 and response["Retry-After"]
    assert not Review.objects.exists() and not ReviewComment.objects.exists()
    assert Attempt.objects.get(pk=attempt.pk).status == "submitted"
    # PSI retries; the retry lands, once.
    monkeypatch.setattr(lifecycle, "save_attempt", real)
    assert post(anon, body).status_code == 200
    assert Review.objects.count() == 1 and ReviewComment.objects.count() == 5
    assert Attempt.objects.get(pk=attempt.pk).status == "verified"
