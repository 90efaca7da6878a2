"""Archiving (reset/delete) keeps the attempt, findable by both codes, and frees the learner."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient as HTTPClient

from proctorhub.attempts.lifecycle import apply_action
from proctorhub.attempts.models import Attempt
from proctorhub.attempts.services import archive_attempt, create_attempt
from proctorhub.errors import Conflict, IllegalTransition
from proctorhub.notifications.models import OutboxEvent
from proctorhub.providers.registry import get_provider
from proctorhub.reviews.models import Delivery, Review
from tests.conftest import LEARNER, STAFF, SYSTEM
from tests.conftest import submitted_attempt as submitted


def post_review(external_id: str, body: dict):
    http = HTTPClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {get_provider('mock').callback_token}")
    return http.post(f"/api/v1/providers/mock/attempts/{external_id}/reviewed", body, format="json")


def test_archived_attempt_stays_findable_and_flagged(exam, learner):
    attempt = create_attempt(exam=exam, user=learner, by=LEARNER)
    assert not attempt.is_archived and attempt.archived_at is None

    archived = archive_attempt(attempt.pk, STAFF, reason="learner asked for a reset")

    assert archived.is_archived and archived.archived_at is not None
    by_code = Attempt.objects.get(attempt_code=attempt.attempt_code)
    by_external = Attempt.objects.get(backend="mock", external_id=attempt.external_id)
    assert by_code.pk == by_external.pk == attempt.pk
    assert by_code.is_archived is True
    assert by_code.archived_at == archived.archived_at
    assert by_code.status == "created"  # archiving is not a status change
    assert "learner asked for a reset" in by_code.history.first().history_change_reason


def test_archiving_emits_one_event_and_twice_is_a_no_op(exam, learner):
    attempt = create_attempt(exam=exam, user=learner, by=LEARNER)
    archive_attempt(attempt.pk, STAFF, reason="reset")
    first = Attempt.objects.get(pk=attempt.pk)
    history_count = first.history.count()

    events = OutboxEvent.objects.filter(kind="attempt.archived", attempt_id=attempt.pk)
    assert events.count() == 1
    assert events.get().payload["attempt_code"] == attempt.attempt_code

    again = archive_attempt(attempt.pk, STAFF, reason="reset again")

    assert again.archived_at == first.archived_at
    assert Attempt.objects.get(pk=attempt.pk).archived_at == first.archived_at
    assert events.count() == 1
    assert first.history.count() == history_count


def test_archived_attempt_cannot_be_moved(exam, learner):
    attempt = create_attempt(exam=exam, user=learner, by=LEARNER)
    archive_attempt(attempt.pk, STAFF)
    with pytest.raises(IllegalTransition):
        apply_action(attempt.pk, "ready", SYSTEM)
    assert Attempt.objects.get(pk=attempt.pk).status == "created"


def test_new_attempt_allowed_after_archiving(exam, learner):
    first = create_attempt(exam=exam, user=learner, by=LEARNER)
    with pytest.raises(Conflict):
        create_attempt(exam=exam, user=learner, by=LEARNER)

    archive_attempt(first.pk, STAFF, reason="reset")
    second = create_attempt(exam=exam, user=learner, by=LEARNER)

    assert second.pk != first.pk
    assert second.attempt_code != first.attempt_code
    assert second.external_id != first.external_id
    assert second.status == "created" and not second.is_archived
    live = Attempt.objects.filter(exam=exam, user=learner, is_archived=False)
    assert list(live.values_list("pk", flat=True)) == [second.pk]
    # The old one is still there, and still findable by its codes.
    assert Attempt.objects.get(attempt_code=first.attempt_code).is_archived


@pytest.mark.parametrize("review_status", ["passed", "suspicious", "not_reviewed"])
def test_review_for_archived_attempt_is_stored_but_changes_nothing(exam, learner, review_status):
    old = submitted(exam, learner)
    archive_attempt(old.pk, STAFF, reason="reset")
    new = create_attempt(exam=exam, user=learner, by=LEARNER)
    changes_before = OutboxEvent.objects.filter(kind="attempt.status_changed").count()

    body = get_provider("mock").review_body(review_status)
    response = post_review(old.external_id, body)

    assert response.status_code == 200, response.content
    review = Review.objects.get(attempt=old)
    assert review.status == review_status
    assert review.attempt_code == old.attempt_code
    assert [c.comment for c in review.comments.all()] == [c["comment"] for c in body["comments"]]
    delivery = Delivery.objects.get(external_id=old.external_id)
    assert delivery.attempt_id == old.pk
    assert delivery.outcome == "applied"
    assert "archived" in delivery.detail
    old.refresh_from_db()
    assert old.status == "submitted" and old.is_archived
    assert Attempt.objects.get(pk=new.pk).status == "created"
    assert not Review.objects.filter(attempt=new).exists()
    assert OutboxEvent.objects.filter(kind="attempt.status_changed").count() == changes_before
