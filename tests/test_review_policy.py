"""Review policy edges: retake after a technical failure, no support ticket for dead attempts."""

from __future__ import annotations

import pytest

from proctorhub.attempts.lifecycle import apply_action
from proctorhub.attempts.services import archive_attempt, create_attempt
from proctorhub.errors import Conflict
from proctorhub.notifications.models import OutboxEvent
from tests.conftest import LEARNER, STAFF, SYSTEM
from tests.conftest import provider_review as _review
from tests.conftest import submitted_attempt as _submitted


def test_not_reviewed_is_an_error_the_learner_may_retake_with_full_time(exam, learner):
    attempt = _submitted(exam, learner)
    assert _review(attempt, "not_reviewed").new_status == "error"
    retake = create_attempt(exam=exam, user=learner, by=LEARNER)
    assert retake.resumed_from is None
    apply_action(retake.pk, "ready", SYSTEM)
    assert apply_action(retake.pk, "start", LEARNER).allowed_time_limit_mins == exam.time_limit_mins


def test_an_error_during_the_exam_needs_staff_before_a_new_attempt(exam, learner):
    attempt = create_attempt(exam=exam, user=learner, by=LEARNER)
    apply_action(attempt.pk, "ready", SYSTEM)
    apply_action(attempt.pk, "start", LEARNER)
    apply_action(attempt.pk, "error", SYSTEM)
    with pytest.raises(Conflict, match="archive it"):
        create_attempt(exam=exam, user=learner, by=LEARNER)
    apply_action(attempt.pk, "mark_resumable", STAFF)
    assert create_attempt(exam=exam, user=learner, by=LEARNER).resumed_from_id == attempt.pk


def _support_events():
    return OutboxEvent.objects.filter(kind="support.suspicious_review").count()


def test_suspicious_review_of_a_live_attempt_notifies_support_once(exam, learner):
    attempt = _submitted(exam, learner)
    assert _review(attempt, "suspicious").new_status == "second_review_required"
    assert _review(attempt, "suspicious").duplicate
    assert _support_events() == 1


def test_suspicious_review_of_an_archived_attempt_is_stored_but_notifies_nobody(exam, learner):
    attempt = _submitted(exam, learner)
    archive_attempt(attempt.pk, STAFF, reason="reset")
    applied = _review(attempt, "suspicious")
    assert applied.review.status == "suspicious" and applied.new_status == "submitted"
    assert _support_events() == 0
    received = OutboxEvent.objects.get(kind="review.received", attempt_id=attempt.pk)
    assert received.payload["applies"] is False
