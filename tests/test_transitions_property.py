"""Random sequences of (action, actor) applied to real attempts must follow the transition table.

The attempts are created once per test (function-scoped fixture); each hypothesis example puts
one in its starting status and acts on it inside ``transaction.atomic()``, rolled back at the
end, so examples never see each other's changes, history rows or outbox events.
"""

from __future__ import annotations

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proctorhub.attempts.lifecycle import apply_action
from proctorhub.attempts.models import Attempt
from proctorhub.attempts.services import create_attempt
from proctorhub.attempts.statuses import TRANSITIONS, Action, Actor, Status, find_transition
from proctorhub.errors import IllegalTransition, InvalidInput
from tests.conftest import LEARNER
from tests.test_transitions_table import (
    BY,
    FINISHED_BY_DESIGN,
    HistoricalAttempt,
    set_status,
    status_events,
    stored_status,
)

STATUS_VALUES = {s.value for s in Status}
ALL_MOVES = [(action, actor) for action in Action for actor in Actor]
REASONS = st.sampled_from(["", "   ", "reviewed the recording"])

SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])


@pytest.fixture
def attempts(make_exam, make_learner):
    """A proctored and an unproctored attempt (status created), shared by all examples of a
    test; each example changes them only inside a transaction it rolls back."""
    return {proctored: create_attempt(exam=make_exam(is_proctored=proctored),
                                      user=make_learner(), by=LEARNER)
            for proctored in (True, False)}


def allowed_pair(old: str, new: str, actor: Actor, proctored: bool) -> bool:
    """Is ``old -> new`` a change some table row lets ``actor`` make?"""
    return any(t.source == old and t.target == new and actor in t.actors
               and not (t.unproctored_only and proctored) for t in TRANSITIONS)


def legal_moves(status: Status, proctored: bool) -> list[tuple[Action, Actor]]:
    return [(a, ac) for a, ac in ALL_MOVES if find_transition(status, a, ac, proctored=proctored)]


def latest_history(attempt_id: int):
    return HistoricalAttempt.objects.filter(id=attempt_id).order_by("-history_id").first()


@SETTINGS
@given(data=st.data(), proctored=st.booleans(),
       start=st.one_of(st.just(Status.CREATED), st.sampled_from(list(Status))))
def test_random_action_sequences_follow_the_table(attempts, data, proctored, start):
    with transaction.atomic():
        attempt = attempts[proctored]
        set_status(attempt.pk, start)
        current = Status(start)
        history = HistoricalAttempt.objects.filter(id=attempt.pk).count()
        events = len(status_events(attempt.pk))
        steps = data.draw(st.integers(min_value=1, max_value=25), label="steps")
        for _ in range(steps):
            # Half the draws come from the moves legal right now, so walks get somewhere.
            legal = legal_moves(current, proctored)
            moves = st.sampled_from(ALL_MOVES)
            if legal:
                moves = st.one_of(moves, st.sampled_from(legal))
            action, actor = data.draw(moves, label="move")
            reason = data.draw(REASONS, label="reason")
            row = find_transition(current, action, actor, proctored=proctored)

            if row is None:
                with pytest.raises(IllegalTransition) as info:
                    apply_action(attempt.pk, action, BY[actor], reason=reason)
                assert current.value in str(info.value) and action.value in str(info.value)
                new = current
            elif row.needs_reason and not reason.strip():
                with pytest.raises(InvalidInput):
                    apply_action(attempt.pk, action, BY[actor], reason=reason)
                new = current
            else:
                returned = apply_action(attempt.pk, action, BY[actor], reason=reason)
                new = row.target
                assert returned.status == new
                history += 1
                record = latest_history(attempt.pk)
                assert record.status == new.value
                assert action.value in record.history_change_reason
                assert actor.value in record.history_change_reason
                if new != current:
                    events += 1

            stored = stored_status(attempt.pk)
            assert stored in STATUS_VALUES
            assert stored == new.value
            assert stored == current.value or allowed_pair(current, stored, actor, proctored)
            assert HistoricalAttempt.objects.filter(id=attempt.pk).count() == history
            changes = status_events(attempt.pk)
            assert len(changes) == events
            if new != current:
                assert changes[-1].payload["old_status"] == current.value
                assert changes[-1].payload["new_status"] == new.value
            current = new
        transaction.set_rollback(True)


@SETTINGS
@given(data=st.data(), proctored=st.booleans(), start=st.sampled_from(FINISHED_BY_DESIGN))
def test_learner_alone_never_moves_a_finished_attempt(attempts, data, proctored, start):
    """Whatever a learner tries, in any order, a finished attempt stays exactly as it was.
    (The expected outcome is written by hand, from DESIGN.md, not read from the table.)"""
    with transaction.atomic():
        attempt = attempts[proctored]
        set_status(attempt.pk, start)
        before = Attempt.objects.values().get(pk=attempt.pk)
        history = HistoricalAttempt.objects.filter(id=attempt.pk).count()
        # Every action, in a random order, each with a random reason (staff-style or empty).
        actions = data.draw(st.permutations(list(Action)), label="actions")
        for action in actions:
            with pytest.raises(IllegalTransition):
                apply_action(attempt.pk, action, LEARNER,
                             reason=data.draw(REASONS, label="reason"))
        assert Attempt.objects.values().get(pk=attempt.pk) == before
        assert HistoricalAttempt.objects.filter(id=attempt.pk).count() == history
        assert status_events(attempt.pk) == []
        transaction.set_rollback(True)


@SETTINGS
@given(data=st.data(), proctored=st.booleans())
def test_walks_from_created_end_where_the_table_leads(attempts, data, proctored):
    """Only legal moves, each by an actor the table names: the attempt ends in the status the
    table predicts, with one status_changed event and one history row per change."""
    with transaction.atomic():
        attempt = attempts[proctored]
        assert stored_status(attempt.pk) == "created"  # earlier examples were rolled back
        assert status_events(attempt.pk) == []
        current, path = Status.CREATED, [Status.CREATED]
        for _ in range(data.draw(st.integers(1, 25), label="steps")):
            legal = legal_moves(current, proctored)
            if not legal:
                break
            action, actor = data.draw(st.sampled_from(legal), label="move")
            apply_action(attempt.pk, action, BY[actor], reason="staff note")
            current = find_transition(current, action, actor, proctored=proctored).target
            if current != path[-1]:
                path.append(current)
        assert stored_status(attempt.pk) == current.value
        got = [(e.payload["old_status"], e.payload["new_status"]) for e in status_events(attempt.pk)]
        assert got == [(a.value, b.value) for a, b in zip(path, path[1:], strict=False)]
        changed = list(HistoricalAttempt.objects.filter(id=attempt.pk).order_by("history_id")
                       .values_list("status", flat=True))
        deduped = [s for i, s in enumerate(changed) if i == 0 or s != changed[i - 1]]
        assert deduped == [s.value for s in path]
        transaction.set_rollback(True)
