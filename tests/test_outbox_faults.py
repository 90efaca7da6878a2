"""Faults: a receiver that fails, hangs and recovers; workers that die; rows that go dead.

Time is moved with :func:`make_due` (every pending row due now, as if the backoff or the lease
had run out) instead of sleeping.
"""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import transaction

from proctorhub.attempts.lifecycle import apply_action
from proctorhub.attempts.services import create_attempt
from proctorhub.notifications.dispatch import _claim, _send_one, drain, send_rows
from proctorhub.notifications.models import OutboxDelivery, OutboxEvent
from proctorhub.notifications.outbox import emit
from tests.conftest import LEARNER, SYSTEM
from tests.outbox_fakes import drain_all, make_due

pytest_plugins = ["tests.outbox_fixtures"]  # fixtures: receiver, endpoint, notify_config, ...

WALK = (("ready", SYSTEM), ("start", LEARNER), ("stop", LEARNER), ("submit", LEARNER))


def walked(exam, make_learner, n: int) -> list[int]:
    ids = []
    for _ in range(n):
        attempt = create_attempt(exam=exam, user=make_learner(), by=LEARNER)
        for action, by in WALK:
            apply_action(attempt.pk, action, by)
        ids.append(attempt.pk)
    return ids


def webhook_rows(endpoint):
    return OutboxDelivery.objects.filter(destination=endpoint.destination)


def test_500_then_timeouts_then_recovery_delivers_everything_in_order(
    notify_config, quiet_mock, receiver, endpoint, exam, make_learner
):
    attempts = walked(exam, make_learner, 3)
    expected = set(webhook_rows(endpoint).values_list("idempotency_key", flat=True))
    assert len(expected) == 3 * 5  # created + 4 status changes each

    receiver.mode = "fail"
    drain_all()
    assert receiver.refused >= 1 and receiver.received == []
    receiver.mode = "hang"  # the receiver processes late; we have long given up (0.3 s timeout)
    for _ in range(3):
        make_due()
        drain_all()
    receiver.mode = "ok"
    for _ in range(10):
        make_due()
        drain_all()
        if not webhook_rows(endpoint).filter(state="pending").exists():
            break

    assert not webhook_rows(endpoint).exclude(state="delivered").exists()
    assert {m for m, _ in receiver.unique()} == expected  # every event arrived, none lost
    assert receiver.bad_signatures == []
    copies = len(receiver.received) - len(receiver.unique())
    assert copies >= 1  # the hung requests were processed and then sent again...
    by_id: dict[str, list] = {}
    for msg_id, data in receiver.received:
        by_id.setdefault(msg_id, []).append(data)
    assert all(len({str(d) for d in same}) == 1 for same in by_id.values())  # ...same body & id
    for attempt_id in attempts:
        seq = [d["data"]["event_id"] for _, d in receiver.unique()
               if d["data"]["attempt_id"] == attempt_id]
        assert len(seq) == 5 and seq == sorted(seq)  # in order per attempt, across retries
    assert max(webhook_rows(endpoint).values_list("tries", flat=True)) > 1
    assert not OutboxEvent.objects.filter(attempt_id__in=attempts, state="pending").exclude(
        kind="mock.post_review").exists()


def test_each_destination_is_retried_on_its_own(
    notify_config, quiet_mock, receiver, endpoint, exam, learner, tmp_path
):
    receiver.mode = "fail"
    attempt = create_attempt(exam=exam, user=learner, by=LEARNER)
    drain_all()
    event = OutboxEvent.objects.get(kind="attempt.created", attempt_id=attempt.pk)
    rows = {r.destination: r for r in event.deliveries.all()}
    assert rows["tracking"].state == "delivered" and rows["tracking"].tries == 1
    assert rows[endpoint.destination].state == "pending"
    assert "500" in rows[endpoint.destination].last_error
    assert event.state == "pending" and "500" in event.last_error
    assert (tmp_path / "tracking.log").read_text().count("\n") == 1

    receiver.mode = "ok"
    make_due()
    drain_all()
    event.refresh_from_db()
    assert event.state == "delivered" and event.last_error == "" and event.tries == 2
    assert (tmp_path / "tracking.log").read_text().count("\n") == 1  # not written twice


def test_a_later_row_waits_for_an_earlier_one_of_the_same_attempt(
    notify_config, quiet_mock, receiver, endpoint, exam, learner
):
    receiver.mode = "fail"
    attempt = create_attempt(exam=exam, user=learner, by=LEARNER)
    drain_all()
    apply_action(attempt.pk, "ready", SYSTEM)
    receiver.mode = "ok"
    drain_all()  # the status change is due, but attempt.created is still waiting for its retry
    assert receiver.received == []
    later = webhook_rows(endpoint).order_by("-id").first()
    assert later.state == "pending" and later.tries == 0
    make_due()
    drain_all()
    assert [d["type"] for _, d in receiver.received] == ["attempt.created",
                                                          "attempt.status_changed"]


def test_a_worker_killed_mid_batch_loses_nothing(
    notify_config, quiet_mock, receiver, endpoint, exam, make_learner
):
    attempts = walked(exam, make_learner, 2)
    claimed = _claim(100)  # a worker leases a batch... and dies before sending any of it
    assert claimed and all(r.tries == 1 for r in claimed)
    assert drain() == 0  # leased rows are nobody else's until the lease ends
    make_due()  # the lease ran out
    drain_all()
    assert not OutboxDelivery.objects.filter(attempt_id__in=attempts).exclude(
        destination="handler").exclude(state="delivered").exists()
    assert len(receiver.unique()) == 2 * 5 and len(receiver.received) == 2 * 5
    assert OutboxDelivery.objects.get(pk=claimed[0].pk).tries == 2


def test_a_worker_back_from_the_dead_cannot_overwrite_a_newer_outcome(
    notify_config, quiet_mock, receiver, endpoint, exam, learner
):
    create_attempt(exam=exam, user=learner, by=LEARNER)
    [stale] = _claim(100, ids=webhook_rows(endpoint).values_list("pk", flat=True))
    make_due()
    drain_all()  # another worker re-claims and delivers it
    receiver.mode = "fail"
    _send_one(stale)  # the first worker wakes up, sends, fails: its outcome is dropped
    row = OutboxDelivery.objects.get(pk=stale.pk)
    assert row.state == "delivered" and row.tries == 2 and row.last_error == ""


def test_after_max_tries_the_row_is_dead_and_outbox_retry_revives_it(
    notify_config, quiet_mock, receiver, endpoint, exam, learner
):
    notify_config.outbox["max_tries"] = 2
    receiver.mode = "fail"
    create_attempt(exam=exam, user=learner, by=LEARNER)
    drain_all()
    make_due()
    drain_all()
    row = webhook_rows(endpoint).get()
    assert row.state == "dead" and row.tries == 2 and row.event.state == "dead"
    make_due()
    assert drain() == 0  # dead rows are left alone

    out = io.StringIO()
    call_command("outbox", "retry", "--all", stdout=out)
    assert "1 row(s) due now" in out.getvalue()
    receiver.mode = "ok"
    drain_all()
    row.refresh_from_db()
    assert row.state == "delivered" and row.event.state == "delivered"
    assert [m for m, _ in receiver.received] == [row.idempotency_key]


def test_the_celery_task_path_follows_the_attempt_chain(
    notify_config, quiet_mock, receiver, endpoint, exam, learner
):
    """``send_rows`` (what the on-commit task runs) sends its rows, then the ones behind them."""
    attempt = create_attempt(exam=exam, user=learner, by=LEARNER)
    with transaction.atomic():
        for action, by in WALK[:2]:
            apply_action(attempt.pk, action, by)
    ids = list(webhook_rows(endpoint).values_list("pk", flat=True))
    assert send_rows(ids[-1:]) == 0  # the last one is queued behind the others
    assert send_rows(ids[:1]) == 3  # the first one, then its successors in order
    assert [d["data"].get("new_status") for _, d in receiver.received] == [
        None, "ready_to_start", "started"]


@pytest.mark.django_db(transaction=True)
def test_an_event_is_emitted_only_inside_a_transaction():
    with pytest.raises(RuntimeError, match="inside the transaction"):
        emit("attempt.created", {})
