"""Time allowed (fixed at start), the timeout sweep, and resuming an errored attempt.

Time is controlled by passing an explicit ``now`` or by moving ``started_at`` back in the
database; no test sleeps.
"""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from proctorhub.attempts import timing
from proctorhub.attempts.lifecycle import apply_action
from proctorhub.attempts.models import Attempt
from proctorhub.attempts.services import archive_attempt, create_attempt, sweep_timed_out
from proctorhub.errors import Conflict, IllegalTransition
from proctorhub.exams.models import Allowance
from proctorhub.notifications.models import OutboxEvent
from tests.conftest import LEARNER, PROVIDER, STAFF, SYSTEM


# --- helpers --------------------------------------------------------------------------------------
def new_attempt(exam, user) -> Attempt:
    return create_attempt(exam=exam, user=user, by=LEARNER)


def make_ready(attempt: Attempt) -> Attempt:
    return apply_action(attempt.pk, "ready", SYSTEM)


def start(attempt: Attempt) -> Attempt:
    make_ready(attempt)
    return apply_action(attempt.pk, "start", LEARNER)


def started(exam, user) -> Attempt:
    return start(new_attempt(exam, user))


def move_start_back(attempt: Attempt, by: timedelta) -> Attempt:
    Attempt.objects.filter(pk=attempt.pk).update(started_at=attempt.started_at - by)
    return Attempt.objects.get(pk=attempt.pk)


def status_changes(attempt: Attempt) -> list[tuple[str, str]]:
    return [
        (e.payload["old_status"], e.payload["new_status"])
        for e in OutboxEvent.objects.filter(
            kind="attempt.status_changed", attempt_id=attempt.pk
        ).order_by("id")
    ]


def history_statuses(attempt: Attempt) -> list[str]:
    return list(attempt.history.order_by("history_id").values_list("status", flat=True))


# --- allowed minutes, fixed at start ---------------------------------------------------------------
def test_plain_time_limit_is_fixed_at_start(make_exam, learner):
    exam = make_exam(time_limit_mins=60)
    before = timezone.now()
    attempt = started(exam, learner)
    assert attempt.status == "started"
    assert attempt.started_at is not None and attempt.started_at >= before
    assert attempt.allowed_time_limit_mins == 60
    assert attempt.time_remaining_seconds == 3600
    stored = Attempt.objects.get(pk=attempt.pk)
    assert stored.allowed_time_limit_mins == 60
    assert timing.deadline(stored) == stored.started_at + timedelta(minutes=60)


def test_allowance_added_after_start_does_not_change_allowed_time(make_exam, learner):
    exam = make_exam(time_limit_mins=60)
    attempt = started(exam, learner)
    Allowance.objects.create(exam=exam, user=learner, additional_minutes=30)
    apply_action(attempt.pk, "ping", LEARNER)
    assert Attempt.objects.get(pk=attempt.pk).allowed_time_limit_mins == 60


def test_additional_minutes_allowance(make_exam, learner):
    exam = make_exam(time_limit_mins=60)
    Allowance.objects.create(exam=exam, user=learner, additional_minutes=15)
    attempt = started(exam, learner)
    assert attempt.allowed_time_limit_mins == 75
    assert attempt.time_remaining_seconds == 75 * 60


def test_allowance_of_another_learner_does_not_apply(make_exam, make_learner):
    exam = make_exam(time_limit_mins=60)
    me, other = make_learner(), make_learner()
    Allowance.objects.create(exam=exam, user=other, additional_minutes=15)
    assert started(exam, me).allowed_time_limit_mins == 60


def test_time_multiplier(make_exam, learner):
    exam = make_exam(time_limit_mins=60)
    Allowance.objects.create(exam=exam, user=learner, time_multiplier=Decimal("1.5"))
    assert started(exam, learner).allowed_time_limit_mins == 90


def test_time_multiplier_plus_additional_minutes(make_exam, learner):
    exam = make_exam(time_limit_mins=60)
    Allowance.objects.create(
        exam=exam, user=learner, time_multiplier=Decimal("1.5"), additional_minutes=10
    )
    assert started(exam, learner).allowed_time_limit_mins == 100


def test_clamped_to_due_date_with_explicit_now(make_exam, learner):
    now = timezone.now()
    exam = make_exam(time_limit_mins=60, due_date=now + timedelta(minutes=20))
    attempt = new_attempt(exam, learner)
    assert timing.allowed_minutes(attempt, now) == 20
    # An allowance never carries the learner past the due date either.
    Allowance.objects.create(exam=exam, user=learner, additional_minutes=30)
    assert timing.allowed_minutes(attempt, now) == 20
    # Far from the due date the allowance counts in full.
    assert timing.allowed_minutes(attempt, now - timedelta(hours=5)) == 90


def test_start_near_due_date_is_clamped(make_exam, learner):
    # 30 spare seconds so the real clock between here and start() cannot eat a whole minute.
    exam = make_exam(
        time_limit_mins=60, due_date=timezone.now() + timedelta(minutes=20, seconds=30)
    )
    attempt = started(exam, learner)
    assert attempt.allowed_time_limit_mins == 20
    assert timing.deadline(attempt) <= exam.due_date


def test_start_refused_after_due_date(make_exam, learner):
    exam = make_exam(time_limit_mins=60, due_date=timezone.now() - timedelta(minutes=1))
    attempt = make_ready(new_attempt(exam, learner))
    with pytest.raises(Conflict) as exc:
        apply_action(attempt.pk, "start", LEARNER)
    assert exc.value.http_status == 409
    stored = Attempt.objects.get(pk=attempt.pk)
    assert stored.status == "ready_to_start"
    assert stored.started_at is None and stored.allowed_time_limit_mins is None
    assert ("ready_to_start", "started") not in status_changes(attempt)


def test_untimed_exam_without_due_date_has_no_limit(make_exam, learner):
    exam = make_exam(time_limit_mins=None, due_date=None)
    attempt = new_attempt(exam, learner)
    assert timing.allowed_minutes(attempt, timezone.now()) is None
    attempt = start(attempt)
    assert attempt.status == "started"
    assert attempt.allowed_time_limit_mins is None
    assert attempt.time_remaining_seconds is None
    assert timing.deadline(attempt) is None
    # The sweep never times it out, however late it is.
    assert sweep_timed_out(now=timezone.now() + timedelta(days=365))["timed_out"] == 0
    assert Attempt.objects.get(pk=attempt.pk).status == "started"


def test_untimed_exam_with_due_date_ends_at_due_date(make_exam, learner):
    now = timezone.now()
    exam = make_exam(time_limit_mins=None, due_date=now + timedelta(minutes=45))
    assert timing.allowed_minutes(new_attempt(exam, learner), now) == 45


# --- the timeout sweep ----------------------------------------------------------------------------
def test_sweep_times_out_and_submits_an_attempt_past_its_time(make_exam, learner):
    exam = make_exam(time_limit_mins=60)
    attempt = move_start_back(started(exam, learner), timedelta(minutes=61))
    counts = sweep_timed_out(now=timezone.now())
    assert counts["timed_out"] == 1
    attempt.refresh_from_db()
    assert attempt.status == "submitted"
    assert attempt.completed_at is not None
    assert attempt.time_remaining_seconds == 0
    assert history_statuses(attempt)[-3:] == ["started", "timed_out", "submitted"]
    assert status_changes(attempt)[-2:] == [("started", "timed_out"), ("timed_out", "submitted")]
    # The provider hears about the submission like any other.
    assert OutboxEvent.objects.filter(kind="mock.post_review", attempt_id=attempt.pk).count() == 1


def test_sweep_with_explicit_now_past_the_deadline(make_exam, learner):
    attempt = started(make_exam(time_limit_mins=30), learner)
    assert sweep_timed_out(now=attempt.started_at + timedelta(minutes=29))["timed_out"] == 0
    assert Attempt.objects.get(pk=attempt.pk).status == "started"
    assert sweep_timed_out(now=attempt.started_at + timedelta(minutes=31))["timed_out"] == 1
    assert Attempt.objects.get(pk=attempt.pk).status == "submitted"


def test_sweep_times_out_ready_to_submit_too(make_exam, learner):
    attempt = started(make_exam(time_limit_mins=30), learner)
    apply_action(attempt.pk, "stop", LEARNER)
    attempt = move_start_back(attempt, timedelta(minutes=31))
    assert sweep_timed_out()["timed_out"] == 1
    attempt.refresh_from_db()
    assert attempt.status == "submitted"
    assert status_changes(attempt)[-2:] == [
        ("ready_to_submit", "timed_out"),
        ("timed_out", "submitted"),
    ]


def test_sweep_leaves_an_attempt_within_its_time_alone(make_exam, learner):
    attempt = move_start_back(
        started(make_exam(time_limit_mins=60), learner), timedelta(minutes=59)
    )
    events_before = OutboxEvent.objects.count()
    history_before = attempt.history.count()
    assert sweep_timed_out(now=timezone.now()) == {"timed_out": 0, "expired": 0}
    stored = Attempt.objects.get(pk=attempt.pk)
    assert stored.status == "started"
    assert stored.completed_at is None
    assert OutboxEvent.objects.count() == events_before
    assert stored.history.count() == history_before


def test_sweep_honours_the_allowance_fixed_at_start(make_exam, learner):
    exam = make_exam(time_limit_mins=60)
    Allowance.objects.create(exam=exam, user=learner, additional_minutes=30)
    attempt = move_start_back(started(exam, learner), timedelta(minutes=75))
    assert sweep_timed_out()["timed_out"] == 0
    assert Attempt.objects.get(pk=attempt.pk).status == "started"


def test_sweep_expires_unstarted_attempts_past_due(make_exam, make_learner):
    due = timezone.now() + timedelta(hours=1)
    exam = make_exam(due_date=due)
    created = new_attempt(exam, make_learner())
    ready = make_ready(new_attempt(exam, make_learner()))
    clicked = apply_action(new_attempt(exam, make_learner()).pk, "click_download_software", LEARNER)
    other_exam = make_exam(due_date=due + timedelta(days=1))
    not_due = new_attempt(other_exam, make_learner())

    assert sweep_timed_out(now=due - timedelta(seconds=1))["expired"] == 0
    assert Attempt.objects.get(pk=created.pk).status == "created"

    counts = sweep_timed_out(now=due + timedelta(minutes=1))
    assert counts["expired"] == 3
    for attempt, was in (
        (created, "created"),
        (ready, "ready_to_start"),
        (clicked, "download_software_clicked"),
    ):
        attempt.refresh_from_db()
        assert attempt.status == "expired"
        assert status_changes(attempt)[-1] == (was, "expired")
    assert Attempt.objects.get(pk=not_due.pk).status == "created"


def test_sweep_leaves_archived_attempts_alone(make_exam, make_learner):
    due = timezone.now() + timedelta(hours=3)
    exam = make_exam(time_limit_mins=60, due_date=due)
    running = move_start_back(started(exam, make_learner()), timedelta(minutes=90))
    waiting = new_attempt(exam, make_learner())
    archive_attempt(running.pk, STAFF, reason="reset")
    archive_attempt(waiting.pk, STAFF, reason="reset")
    events_before = OutboxEvent.objects.filter(kind="attempt.status_changed").count()

    assert sweep_timed_out(now=due + timedelta(minutes=1)) == {"timed_out": 0, "expired": 0}
    assert Attempt.objects.get(pk=running.pk).status == "started"
    assert Attempt.objects.get(pk=waiting.pk).status == "created"
    assert OutboxEvent.objects.filter(kind="attempt.status_changed").count() == events_before


def test_sweep_timeouts_command(make_exam, make_learner):
    exam = make_exam(time_limit_mins=60)
    overdue_exam = make_exam(time_limit_mins=60)
    late = move_start_back(started(exam, make_learner()), timedelta(minutes=61))
    on_time = move_start_back(started(exam, make_learner()), timedelta(minutes=10))
    unstarted = new_attempt(overdue_exam, make_learner())
    overdue_exam.due_date = timezone.now() - timedelta(minutes=5)
    overdue_exam.save()

    out = io.StringIO()
    call_command("sweep_timeouts", stdout=out)

    assert "'timed_out': 1" in out.getvalue() and "'expired': 1" in out.getvalue()
    late.refresh_from_db()
    assert late.status == "submitted" and late.completed_at is not None
    assert status_changes(late)[-2:] == [("started", "timed_out"), ("timed_out", "submitted")]
    assert Attempt.objects.get(pk=on_time.pk).status == "started"
    assert Attempt.objects.get(pk=unstarted.pk).status == "expired"


# --- resuming an errored attempt ------------------------------------------------------------------
def errored_with_time_left(exam, user, used: timedelta) -> Attempt:
    attempt = move_start_back(started(exam, user), used)
    attempt = apply_action(attempt.pk, "error", PROVIDER, reason="webcam lost")
    attempt.refresh_from_db()
    return attempt


def test_error_records_time_remaining(make_exam, learner):
    old = errored_with_time_left(
        make_exam(time_limit_mins=60), learner, timedelta(minutes=20, seconds=30)
    )
    assert old.status == "error"
    # 60 min - 20.5 min used = 2370 s, less the few moments the test itself takes.
    assert 2360 <= old.time_remaining_seconds <= 2370


def test_resumable_attempt_is_resumed_with_the_time_left(make_exam, learner):
    exam = make_exam(time_limit_mins=60)
    old = errored_with_time_left(exam, learner, timedelta(minutes=20, seconds=30))
    remaining = old.time_remaining_seconds

    with pytest.raises(Conflict):
        create_attempt(exam=exam, user=learner, by=LEARNER)  # not resumable yet

    with pytest.raises(IllegalTransition):
        apply_action(old.pk, "mark_resumable", LEARNER)
    marked = apply_action(old.pk, "mark_resumable", STAFF, reason="webcam failure")
    assert marked.is_resumable and marked.status == "error"

    new = create_attempt(exam=exam, user=learner, by=LEARNER)
    assert new.pk != old.pk
    assert new.resumed_from_id == old.pk
    old.refresh_from_db()
    assert old.is_resumable is False  # used up by the new attempt

    new = start(new)
    assert new.allowed_time_limit_mins == remaining // 60 == 39
    assert new.time_remaining_seconds == 39 * 60

    # Only one resumption: the resumed attempt is now the live one.
    with pytest.raises(Conflict):
        create_attempt(exam=exam, user=learner, by=LEARNER)


def test_resumed_attempt_ignores_allowance_but_respects_due_date(make_exam, learner):
    now = timezone.now()
    exam = make_exam(time_limit_mins=60, due_date=now + timedelta(hours=2))
    Allowance.objects.create(exam=exam, user=learner, additional_minutes=30)
    old = errored_with_time_left(exam, learner, timedelta(minutes=50, seconds=30))
    apply_action(old.pk, "mark_resumable", STAFF)
    new = create_attempt(exam=exam, user=learner, by=LEARNER)
    assert timing.allowed_minutes(new, now) == old.time_remaining_seconds // 60 == 39
    assert timing.allowed_minutes(new, exam.due_date - timedelta(minutes=10)) == 10


def test_errored_attempt_without_mark_resumable_blocks_a_new_one(make_exam, learner):
    exam = make_exam(time_limit_mins=60)
    old = errored_with_time_left(exam, learner, timedelta(minutes=5))
    assert old.is_resumable is False
    with pytest.raises(Conflict):
        create_attempt(exam=exam, user=learner, by=LEARNER)
    assert Attempt.objects.filter(exam=exam, user=learner).count() == 1
