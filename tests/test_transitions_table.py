"""The transition table, exercised through the real database.

``apply_action`` is the only code that changes ``Attempt.status``; these tests check that it does
exactly what ``TRANSITIONS`` says for every (status, action, actor, proctored?) combination, that
the table itself holds the policy stated in DESIGN.md ("Attempt statuses"), and that every status
change leaves exactly one ``attempt.status_changed`` outbox event.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from proctorhub.attempts.lifecycle import ActedBy, apply_action
from proctorhub.attempts.models import Attempt
from proctorhub.attempts.services import archive_attempt, create_attempt
from proctorhub.attempts.statuses import TRANSITIONS, Action, Actor, Status, find_transition
from proctorhub.errors import IllegalTransition, InvalidInput
from proctorhub.notifications.models import OutboxEvent
from tests.conftest import LEARNER, PROVIDER, REVIEWER, STAFF, SYSTEM

BY = {Actor.LEARNER: LEARNER, Actor.PROVIDER: PROVIDER, Actor.REVIEWER: REVIEWER,
      Actor.STAFF: STAFF, Actor.SYSTEM: SYSTEM}
STATUS_CHANGED = "attempt.status_changed"

# Written out by hand from DESIGN.md, on purpose not taken from statuses.py.
FINISHED_BY_DESIGN = ("submitted", "verified", "rejected", "second_review_required", "error",
                      "declined", "timed_out", "expired")
# Statuses an attempt only reaches after it started (they keep their start time and limit).
_WAS_STARTED = {"started", "ready_to_submit", "submitted", "verified", "rejected",
                "second_review_required", "timed_out"}
_WAS_COMPLETED = {"submitted", "verified", "rejected", "second_review_required"}


# --- helpers (also used by test_transitions_property.py) -------------------------------------

def set_status(attempt_id: int, status: Status | str) -> None:
    """Put an attempt straight into ``status`` (no history, no event), with the timing fields a
    real attempt in that status would have: a running clock for started/ready_to_submit."""
    status = Status(status)
    now = timezone.now()
    started = status.value in _WAS_STARTED
    Attempt.objects.filter(pk=attempt_id).update(
        status=status.value,
        started_at=now - timedelta(minutes=5) if started else None,
        allowed_time_limit_mins=60 if started else None,
        time_remaining_seconds=55 * 60 if started else None,
        completed_at=now - timedelta(minutes=1) if status.value in _WAS_COMPLETED else None,
        is_resumable=False,
    )


def stored_status(attempt_id: int) -> str:
    return Attempt.objects.values_list("status", flat=True).get(pk=attempt_id)


HistoricalAttempt = Attempt.history.model


def history_count(attempt_id: int) -> int:
    return HistoricalAttempt.objects.filter(id=attempt_id).count()


def outbox_count(attempt_id: int) -> int:
    return OutboxEvent.objects.filter(attempt_id=attempt_id).count()


def status_events(attempt_id: int):
    return list(OutboxEvent.objects.filter(attempt_id=attempt_id, kind=STATUS_CHANGED)
                .order_by("id"))


def assert_illegal(attempt_id: int, status: str, action: str, by: ActedBy, **kw) -> None:
    """``action`` by ``by`` must be refused with IllegalTransition and change nothing."""
    before_history = history_count(attempt_id)
    before_events = outbox_count(attempt_id)
    with pytest.raises(IllegalTransition) as info:
        apply_action(attempt_id, action, by, **kw)
    message = str(info.value)
    assert status in message and action in message, message
    assert stored_status(attempt_id) == status
    assert history_count(attempt_id) == before_history
    assert outbox_count(attempt_id) == before_events


@pytest.fixture
def new_attempt(make_exam, make_learner):
    """``new_attempt(proctored)``: a fresh attempt (own exam and learner) in status created."""

    def factory(proctored: bool = True) -> Attempt:
        exam = make_exam(is_proctored=proctored)
        attempt = create_attempt(exam=exam, user=make_learner(), by=LEARNER)
        assert attempt.taking_as_proctored is proctored
        return attempt

    return factory


# --- 1. exhaustive: every status x action x actor x proctored ---------------------------------

@pytest.mark.parametrize("proctored", [True, False], ids=["proctored", "unproctored"])
@pytest.mark.parametrize("actor", list(Actor), ids=str)
@pytest.mark.parametrize("status", list(Status), ids=str)
def test_apply_action_follows_the_table(new_attempt, status, actor, proctored):
    """For one (status, actor, proctored), try every action from that status and compare with
    ``find_transition``. (One test per action would be 3.5k tests, each creating an exam, a
    learner and an attempt; looping keeps the suite fast.) A legal action runs in a savepoint
    rolled back afterwards, so every action starts from the same state."""
    attempt = new_attempt(proctored)
    set_status(attempt.pk, status)
    by = BY[actor]
    history_start, outbox_start = history_count(attempt.pk), outbox_count(attempt.pk)
    legal = []
    for action in Action:
        row = find_transition(status, action, actor, proctored=proctored)
        if row is None:
            with pytest.raises(IllegalTransition) as info:
                apply_action(attempt.pk, action, by)
            message = str(info.value)
            assert status.value in message and action.value in message, message
        else:
            legal.append(action)
            with transaction.atomic():
                _check_legal_action(attempt.pk, status, action, by, row)
                transaction.set_rollback(True)
            assert stored_status(attempt.pk) == status.value, action
    # Refused actions (and the rolled-back legal ones) left the status, the history and the
    # outbox as they were. (Each refusal's message also names the status it saw.)
    assert stored_status(attempt.pk) == status.value
    assert history_count(attempt.pk) == history_start
    assert outbox_count(attempt.pk) == outbox_start
    assert set(legal) == {t.action for t in TRANSITIONS if t.source == status
                          and actor in t.actors and not (t.unproctored_only and proctored)}


def _check_legal_action(attempt_id, status, action, by, row) -> None:
    history_before = history_count(attempt_id)
    if row.needs_reason:
        for empty in ("", "   "):
            with pytest.raises(InvalidInput):
                apply_action(attempt_id, action, by, reason=empty)
            assert stored_status(attempt_id) == status.value
            assert history_count(attempt_id) == history_before
            assert status_events(attempt_id) == []
        result = apply_action(attempt_id, action, by, reason="checked the recording")
    else:
        result = apply_action(attempt_id, action, by)
    assert result.status == row.target
    assert stored_status(attempt_id) == row.target.value
    assert history_count(attempt_id) == history_before + 1
    events = status_events(attempt_id)
    if row.target == status:
        assert events == []
    else:
        assert len(events) == 1
        assert events[0].payload["old_status"] == status.value
        assert events[0].payload["new_status"] == row.target.value
        assert events[0].payload["actor"] == by.actor.value


def test_every_status_and_action_appears_in_the_table():
    """Guard for the exhaustive test above: it is only meaningful if the table reaches every
    status as a target or source and every action is legal somewhere."""
    assert {t.source for t in TRANSITIONS} | {t.target for t in TRANSITIONS} == set(Status)
    assert {t.action for t in TRANSITIONS} == set(Action)


# --- policy facts from DESIGN.md, written by hand ---------------------------------------------

@pytest.mark.parametrize("proctored", [True, False], ids=["proctored", "unproctored"])
@pytest.mark.parametrize("status", FINISHED_BY_DESIGN)
def test_learner_can_never_move_a_finished_attempt(new_attempt, status, proctored):
    attempt = new_attempt(proctored)
    set_status(attempt.pk, status)
    for action in Action:
        assert find_transition(status, action, Actor.LEARNER, proctored=proctored) is None
        assert_illegal(attempt.pk, status, action.value, LEARNER)
        assert_illegal(attempt.pk, status, action.value, LEARNER, reason="please")


@pytest.mark.parametrize(("source", "action", "target"), [
    ("verified", "reject", "rejected"),
    ("rejected", "verify", "verified"),
])
def test_staff_flips_verified_and_rejected_only_with_a_reason(new_attempt, source, action,
                                                              target):
    attempt = new_attempt(True)
    set_status(attempt.pk, source)
    for missing in ("", " \t\n"):
        with pytest.raises(InvalidInput):
            apply_action(attempt.pk, action, STAFF, reason=missing)
        assert stored_status(attempt.pk) == source
    assert status_events(attempt.pk) == []
    # Nobody but staff may flip a settled verdict, reason or not.
    for by in (LEARNER, PROVIDER, REVIEWER, SYSTEM):
        assert_illegal(attempt.pk, source, action, by, reason="because")

    apply_action(attempt.pk, action, STAFF, reason="recording re-checked")
    assert stored_status(attempt.pk) == target
    latest = Attempt.history.filter(id=attempt.pk).order_by("-history_id").first()
    assert "recording re-checked" in latest.history_change_reason
    [event] = status_events(attempt.pk)
    assert (event.payload["old_status"], event.payload["new_status"]) == (source, target)
    assert event.payload["reason"] == "recording re-checked"


@pytest.mark.parametrize("proctored", [True, False], ids=["proctored", "unproctored"])
def test_learner_starts_from_ready_to_start(new_attempt, proctored):
    attempt = new_attempt(proctored)
    set_status(attempt.pk, "ready_to_start")
    before = timezone.now()
    apply_action(attempt.pk, "start", LEARNER)
    stored = Attempt.objects.get(pk=attempt.pk)
    assert stored.status == "started"
    assert stored.started_at is not None and stored.started_at >= before
    assert stored.allowed_time_limit_mins == 60  # the exam's limit, no allowance
    # Only the learner starts an exam.
    set_status(attempt.pk, "ready_to_start")
    for by in (PROVIDER, REVIEWER, STAFF, SYSTEM):
        assert_illegal(attempt.pk, "ready_to_start", "start", by)


def test_unproctored_attempt_may_start_from_created(new_attempt):
    attempt = new_attempt(False)
    apply_action(attempt.pk, "start", LEARNER)
    assert stored_status(attempt.pk) == "started"


def test_proctored_attempt_may_not_start_from_created(new_attempt):
    attempt = new_attempt(True)
    assert_illegal(attempt.pk, "created", "start", LEARNER)
    # It has to go through the provider's "ready" first.
    apply_action(attempt.pk, "ready", PROVIDER)
    apply_action(attempt.pk, "start", LEARNER)
    assert stored_status(attempt.pk) == "started"


@pytest.mark.parametrize("status", ["created", "ready_to_start", "started", "ready_to_submit",
                                    "submitted", "second_review_required", "verified",
                                    "rejected", "error", "onboarding_pending", "timed_out"])
def test_archived_attempt_rejects_every_action(new_attempt, status):
    attempt = new_attempt(True)
    set_status(attempt.pk, status)
    archive_attempt(attempt.pk, STAFF, reason="reset")
    history = history_count(attempt.pk)
    for action in Action:
        for by in BY.values():
            with pytest.raises(IllegalTransition) as info:
                apply_action(attempt.pk, action, by, reason="override")
            assert "archived" in str(info.value)
    stored = Attempt.objects.get(pk=attempt.pk)
    assert (stored.status, stored.is_archived) == (status, True)
    assert history_count(attempt.pk) == history
    assert status_events(attempt.pk) == []


def test_unknown_action_or_actor_is_refused(new_attempt):
    attempt = new_attempt(True)
    with pytest.raises(InvalidInput):
        apply_action(attempt.pk, "teleport", SYSTEM)
    assert find_transition("created", "ready", "nobody") is None
    assert find_transition("nowhere", "ready", "system") is None
    assert stored_status(attempt.pk) == "created"


# --- 3. outbox: one attempt.status_changed event per change, none for ping -----------------------

def test_each_status_change_emits_exactly_one_event_in_order(new_attempt):
    attempt = new_attempt(True)
    walk = [("click_download_software", LEARNER, "download_software_clicked"),
            ("ready", PROVIDER, "ready_to_start"),
            ("start", LEARNER, "started"),
            ("ping", LEARNER, "started"),
            ("stop", LEARNER, "ready_to_submit"),
            ("ping", LEARNER, "ready_to_submit"),
            ("submit", LEARNER, "submitted"),
            ("require_second_review", PROVIDER, "second_review_required"),
            ("reject", STAFF, "rejected"),
            ("verify", STAFF, "verified")]
    expected = []
    previous = "created"
    for action, by, target in walk:
        apply_action(attempt.pk, action, by, reason="ok" if action == "verify" else "")
        assert stored_status(attempt.pk) == target
        if target != previous:
            expected.append((previous, target, by.actor.value))
        previous = target
        got = [(e.payload["old_status"], e.payload["new_status"], e.payload["actor"])
               for e in status_events(attempt.pk)]
        assert got == expected
    for event in status_events(attempt.pk):
        assert event.payload["attempt_id"] == attempt.pk
        assert event.payload["attempt_code"] == attempt.attempt_code
        assert event.attempt_id == attempt.pk
        assert event.state == OutboxEvent.State.PENDING
    assert len(expected) == 8


@pytest.mark.parametrize("status", ["started", "ready_to_submit"])
def test_ping_changes_nothing_and_emits_no_event(new_attempt, status):
    attempt = new_attempt(True)
    set_status(attempt.pk, status)
    all_events = OutboxEvent.objects.filter(attempt_id=attempt.pk).count()
    for _ in range(3):
        assert apply_action(attempt.pk, "ping", LEARNER).status == status
    assert stored_status(attempt.pk) == status
    assert status_events(attempt.pk) == []
    assert OutboxEvent.objects.filter(attempt_id=attempt.pk).count() == all_events
    # A ping updates the time left from the running clock.
    remaining = Attempt.objects.get(pk=attempt.pk).time_remaining_seconds
    assert remaining is not None and 54 * 60 <= remaining <= 55 * 60


def test_mark_resumable_keeps_error_status_and_emits_no_status_event(new_attempt):
    attempt = new_attempt(True)
    set_status(attempt.pk, "error")
    apply_action(attempt.pk, "mark_resumable", STAFF)
    stored = Attempt.objects.get(pk=attempt.pk)
    assert (stored.status, stored.is_resumable) == ("error", True)
    assert status_events(attempt.pk) == []
