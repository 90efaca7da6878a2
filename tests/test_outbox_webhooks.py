"""LMS webhooks: fan-out per destination, Standard Webhooks signatures, the event catalogue.

A real HTTP receiver on loopback verifies every request with ``standardwebhooks.Webhook.verify``.
"""

from __future__ import annotations

import pytest
from django.db import transaction

from proctorhub.attempts.lifecycle import apply_action
from proctorhub.attempts.services import archive_attempt, create_attempt
from proctorhub.notifications import maintenance
from proctorhub.notifications.channels.webhooks import credit_for
from proctorhub.notifications.models import OutboxDelivery, OutboxEvent, WebhookEndpoint
from proctorhub.notifications.outbox import emit
from tests.conftest import LEARNER, STAFF
from tests.conftest import provider_review as review
from tests.conftest import submitted_attempt as submitted
from tests.outbox_fakes import WebhookReceiver, drain_all

pytest_plugins = ["tests.outbox_fixtures"]  # fixtures: receiver, endpoint, notify_config, ...


def status_changes(rx: WebhookReceiver, attempt_id: int) -> list[tuple[str, str]]:
    return [(d["data"]["old_status"], d["data"]["new_status"]) for _, d in rx.unique()
            if d["type"] == "attempt.status_changed" and d["data"]["attempt_id"] == attempt_id]


def test_emit_writes_one_delivery_per_destination_with_derived_keys(
    notify_config, endpoint, db
):
    notify_config.email["support_address"] = "support@example.org"
    other = WebhookEndpoint.objects.create(name="only-archive", url=endpoint.url,
                                           event_kinds=["attempt.archived"])
    WebhookEndpoint.objects.create(name="off", url=endpoint.url, is_active=False)
    with transaction.atomic():
        event = emit("support.suspicious_review", {"attempt_id": None, "course_id": "c"},
                     key="support.suspicious_review:test")
        again = emit("support.suspicious_review", {"changed": True},
                     key="support.suspicious_review:test")
    assert again.pk == event.pk
    rows = OutboxDelivery.objects.filter(event=event)
    assert {r.destination: r.idempotency_key for r in rows} == {
        "tracking": "support.suspicious_review:test/tracking",
        "support": "support.suspicious_review:test/support",
        f"webhook:{endpoint.pk}": f"support.suspicious_review:test/webhook:{endpoint.pk}",
    }
    assert f"webhook:{other.pk}" not in {r.destination for r in rows}
    assert all(r.state == "pending" and r.tries == 0 for r in rows)


def test_an_event_nobody_wants_is_settled_at_once(notify_config, db):
    notify_config.tracking["path"] = ""
    with transaction.atomic():
        event = emit("something.internal", {"x": 1})
    assert event.state == "delivered" and not event.deliveries.exists()


def test_status_changes_arrive_signed_in_order_with_credit_fields(
    notify_config, quiet_mock, receiver, endpoint, exam, learner
):
    attempt = submitted(exam, learner)
    review(attempt, "suspicious")                      # -> second_review_required
    apply_action(attempt.pk, "reject", STAFF, reason="notes on desk")
    apply_action(attempt.pk, "verify", STAFF, reason="appeal upheld")
    drain_all()

    assert receiver.bad_signatures == []
    assert status_changes(receiver, attempt.pk) == [
        ("created", "ready_to_start"), ("ready_to_start", "started"),
        ("started", "submitted"), ("submitted", "second_review_required"),
        ("second_review_required", "rejected"), ("rejected", "verified")]
    credit = {d["data"]["new_status"]: d["data"]["credit"] for _, d in receiver.unique()
              if d["type"] == "attempt.status_changed"}
    assert credit["started"] is None
    assert credit["submitted"] == {"requirement_status": "submitted", "grade_override": None}
    assert credit["rejected"]["requirement_status"] == "failed"
    assert credit["rejected"]["grade_override"]["action"] == "override"
    assert credit["verified"] == {"requirement_status": "satisfied",
                                  "grade_override": {"action": "undo"}}
    first = receiver.unique()[0][1]
    assert first["type"] == "attempt.created" and first["data"]["content_id"] == exam.content_id
    kinds = [d["type"] for _, d in receiver.unique()]
    assert kinds.count("review.received") == 1 and kinds.count("support.suspicious_review") == 1
    ids = [d["data"]["event_id"] for _, d in receiver.unique()]
    assert ids == sorted(ids)  # one attempt: strictly in the order the events were written
    for msg_id, data in receiver.unique():
        row = OutboxDelivery.objects.get(idempotency_key=msg_id)
        assert row.event_id == data["data"]["event_id"] and row.state == "delivered"
    assert not OutboxEvent.objects.filter(attempt_id=attempt.pk, state="pending").exclude(
        kind="mock.post_review").exists()


@pytest.mark.parametrize(("old", "new", "expected"), [
    ("submitted", "verified", ("satisfied", None)),
    ("rejected", "verified", ("satisfied", "undo")),
    ("second_review_required", "rejected", ("failed", "override")),
    ("started", "declined", ("failed", None)),
    ("submitted", "error", ("failed", None)),
    ("ready_to_submit", "submitted", ("submitted", None)),
])
def test_credit_mapping(old, new, expected):
    credit = credit_for(old, new)
    override = credit["grade_override"] and credit["grade_override"]["action"]
    assert (credit["requirement_status"], override) == expected


def test_subscriptions_and_disabled_endpoints(notify_config, quiet_mock, receiver, exam, learner):
    WebhookEndpoint.objects.create(name="archive-only", url=receiver.url, secret=receiver.secret,
                                   event_kinds=["attempt.archived"])
    WebhookEndpoint.objects.create(name="disabled", url=receiver.url, secret=receiver.secret,
                                   is_active=False)
    attempt = create_attempt(exam=exam, user=learner, by=LEARNER)
    archive_attempt(attempt.pk, STAFF, reason="reset")
    drain_all()
    assert [d["type"] for _, d in receiver.unique()] == ["attempt.archived"]
    assert receiver.unique()[0][1]["data"]["reason"] == "reset"


def test_a_receiver_with_another_secret_refuses_and_the_row_is_parked_dead(
    notify_config, quiet_mock, receiver, exam, learner
):
    WebhookEndpoint.objects.create(name="lms", url=receiver.url)  # a fresh, different secret
    create_attempt(exam=exam, user=learner, by=LEARNER)
    drain_all()
    assert receiver.received == [] and len(receiver.bad_signatures) == 1
    row = OutboxDelivery.objects.get(destination__startswith="webhook:")
    assert row.state == "dead" and "400" in row.last_error and row.tries == 1
    assert row.event.state == "dead"


def test_replay_resends_with_the_same_webhook_id(
    notify_config, quiet_mock, receiver, endpoint, exam, learner
):
    attempt = create_attempt(exam=exam, user=learner, by=LEARNER)
    drain_all()
    row = OutboxDelivery.objects.get(destination=endpoint.destination)
    assert row.state == "delivered"
    assert maintenance.replay(maintenance.select(attempt_id=attempt.pk,
                                                 destination=endpoint.destination)) == 1
    row.refresh_from_db()
    assert row.state == "pending" and row.event.state == "pending"
    drain_all()
    assert [msg_id for msg_id, _ in receiver.received] == [row.idempotency_key] * 2
    assert len(receiver.unique()) == 1  # the receiver drops the copy by its webhook-id
    row.refresh_from_db()
    assert row.state == "delivered" and row.event.state == "delivered"


def test_a_refusing_receiver_is_not_retried_and_retry_brings_it_back(
    notify_config, quiet_mock, receiver, endpoint, exam, learner
):
    receiver.status = 422
    create_attempt(exam=exam, user=learner, by=LEARNER)
    drain_all()
    row = OutboxDelivery.objects.get(destination=endpoint.destination)
    assert row.state == "dead" and "422" in row.last_error
    receiver.status = 200
    assert maintenance.retry(maintenance.select(ids=[row.pk])) == 1
    drain_all()
    row.refresh_from_db()
    assert row.state == "delivered" and row.tries == 1
    assert {m for m, _ in receiver.received} == {row.idempotency_key}
