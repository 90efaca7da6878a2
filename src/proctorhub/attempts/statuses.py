"""Attempt statuses, actors, actions and the one table of legal transitions.

Every status change in proctorhub is one row of ``TRANSITIONS``: from which status, by which action,
to which status, and which actors may do it. :func:`proctorhub.attempts.lifecycle.apply_action` is
the only code that changes ``Attempt.status`` and it consults :func:`find_transition` first.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    CREATED = "created"
    DOWNLOAD_SOFTWARE_CLICKED = "download_software_clicked"
    READY_TO_START = "ready_to_start"
    STARTED = "started"
    READY_TO_SUBMIT = "ready_to_submit"
    SUBMITTED = "submitted"
    VERIFIED = "verified"
    REJECTED = "rejected"
    SECOND_REVIEW_REQUIRED = "second_review_required"
    ERROR = "error"
    DECLINED = "declined"
    TIMED_OUT = "timed_out"
    EXPIRED = "expired"
    ONBOARDING_MISSING = "onboarding_missing"
    ONBOARDING_PENDING = "onboarding_pending"
    ONBOARDING_FAILED = "onboarding_failed"
    ONBOARDING_EXPIRED = "onboarding_expired"


class Actor(StrEnum):
    LEARNER = "learner"
    PROVIDER = "provider"
    REVIEWER = "reviewer"
    STAFF = "staff"
    SYSTEM = "system"


class Action(StrEnum):
    # Learner-facing actions (the LMS calls them on the learner's behalf).
    CLICK_DOWNLOAD_SOFTWARE = "click_download_software"
    START = "start"
    STOP = "stop"
    SUBMIT = "submit"
    DECLINE = "decline"
    PING = "ping"
    # Provider / system.
    READY = "ready"
    ERROR = "error"
    TIME_OUT = "time_out"
    EXPIRE = "expire"
    ONBOARDING_MISSING = "onboarding_missing"
    ONBOARDING_PENDING = "onboarding_pending"
    ONBOARDING_FAILED = "onboarding_failed"
    ONBOARDING_EXPIRED = "onboarding_expired"
    ONBOARDING_CLEARED = "onboarding_cleared"
    # Review outcomes.
    VERIFY = "verify"
    REJECT = "reject"
    REQUIRE_SECOND_REVIEW = "require_second_review"
    REVIEW_ERROR = "review_error"
    # Staff.
    MARK_RESUMABLE = "mark_resumable"


S, A, Ac = Status, Action, Actor

#: Statuses in which the attempt is underway (counts against "one active proctored attempt").
IN_PROGRESS = frozenset({S.DOWNLOAD_SOFTWARE_CLICKED, S.READY_TO_START, S.STARTED, S.READY_TO_SUBMIT})
#: Statuses in which the clock runs.
TIMED = frozenset({S.STARTED, S.READY_TO_SUBMIT})
#: Statuses a learner can no longer change.
FINISHED = frozenset(
    {S.SUBMITTED, S.VERIFIED, S.REJECTED, S.SECOND_REVIEW_REQUIRED, S.ERROR, S.DECLINED,
     S.TIMED_OUT, S.EXPIRED}
)
NOT_STARTED = frozenset({S.CREATED, S.DOWNLOAD_SOFTWARE_CLICKED, S.READY_TO_START})
ONBOARDING_BLOCKED = frozenset(
    {S.ONBOARDING_MISSING, S.ONBOARDING_PENDING, S.ONBOARDING_FAILED, S.ONBOARDING_EXPIRED}
)
REVIEWABLE = frozenset({S.SUBMITTED, S.SECOND_REVIEW_REQUIRED, S.ERROR})


@dataclass(frozen=True)
class Transition:
    source: Status
    action: Action
    target: Status
    actors: frozenset[Actor]
    #: Only attempts not taken under proctoring may use this row (e.g. start straight from created).
    unproctored_only: bool = False
    #: The caller must give a reason (staff overrides).
    needs_reason: bool = False


def _rows(sources, action, target, actors, **kw):
    return [Transition(S(s), action, S(target) if target else S(s), frozenset(actors), **kw)
            for s in sources]


TRANSITIONS: tuple[Transition, ...] = tuple(
    _rows([S.CREATED], A.CLICK_DOWNLOAD_SOFTWARE, S.DOWNLOAD_SOFTWARE_CLICKED, {Ac.LEARNER})
    + _rows([S.CREATED, S.DOWNLOAD_SOFTWARE_CLICKED], A.READY, S.READY_TO_START,
            {Ac.PROVIDER, Ac.SYSTEM})
    + _rows([S.READY_TO_START], A.START, S.STARTED, {Ac.LEARNER})
    + _rows([S.CREATED], A.START, S.STARTED, {Ac.LEARNER}, unproctored_only=True)
    + _rows([S.STARTED, S.READY_TO_SUBMIT], A.PING, None, {Ac.LEARNER})
    + _rows([S.STARTED], A.STOP, S.READY_TO_SUBMIT, {Ac.LEARNER})
    + _rows([S.STARTED, S.READY_TO_SUBMIT], A.SUBMIT, S.SUBMITTED,
            {Ac.LEARNER, Ac.PROVIDER, Ac.SYSTEM})
    + _rows([S.TIMED_OUT], A.SUBMIT, S.SUBMITTED, {Ac.SYSTEM, Ac.PROVIDER})
    + _rows(NOT_STARTED, A.DECLINE, S.DECLINED, {Ac.LEARNER})
    + _rows(NOT_STARTED | TIMED, A.ERROR, S.ERROR, {Ac.PROVIDER, Ac.SYSTEM})
    + _rows(TIMED, A.TIME_OUT, S.TIMED_OUT, {Ac.SYSTEM})
    + _rows(NOT_STARTED, A.EXPIRE, S.EXPIRED, {Ac.SYSTEM})
    + _rows([S.CREATED], A.ONBOARDING_MISSING, S.ONBOARDING_MISSING, {Ac.SYSTEM})
    + _rows([S.CREATED], A.ONBOARDING_PENDING, S.ONBOARDING_PENDING, {Ac.SYSTEM})
    + _rows([S.CREATED], A.ONBOARDING_FAILED, S.ONBOARDING_FAILED, {Ac.SYSTEM})
    + _rows([S.CREATED], A.ONBOARDING_EXPIRED, S.ONBOARDING_EXPIRED, {Ac.SYSTEM})
    + _rows(ONBOARDING_BLOCKED, A.ONBOARDING_CLEARED, S.CREATED, {Ac.SYSTEM})
    # Review outcomes. Providers review submitted attempts (and update their own verdicts on
    # attempts still awaiting a human); reviewers settle second reviews.
    + _rows(REVIEWABLE, A.VERIFY, S.VERIFIED, {Ac.PROVIDER, Ac.REVIEWER})
    + _rows(REVIEWABLE, A.REJECT, S.REJECTED, {Ac.PROVIDER, Ac.REVIEWER})
    + _rows([S.SUBMITTED, S.ERROR], A.REQUIRE_SECOND_REVIEW, S.SECOND_REVIEW_REQUIRED,
            {Ac.PROVIDER})
    + _rows([S.SUBMITTED, S.SECOND_REVIEW_REQUIRED], A.REVIEW_ERROR, S.ERROR, {Ac.PROVIDER})
    # Course staff settle second reviews, and may turn verified <-> rejected only with a reason.
    + _rows([S.SECOND_REVIEW_REQUIRED], A.VERIFY, S.VERIFIED, {Ac.STAFF})
    + _rows([S.SECOND_REVIEW_REQUIRED], A.REJECT, S.REJECTED, {Ac.STAFF})
    + _rows([S.REJECTED], A.VERIFY, S.VERIFIED, {Ac.STAFF}, needs_reason=True)
    + _rows([S.VERIFIED], A.REJECT, S.REJECTED, {Ac.STAFF}, needs_reason=True)
    + _rows([S.ERROR], A.MARK_RESUMABLE, None, {Ac.STAFF})
)

_INDEX: dict[tuple[Status, Action], list[Transition]] = {}
for _t in TRANSITIONS:
    _INDEX.setdefault((_t.source, _t.action), []).append(_t)


def find_transition(source: Status | str, action: Action | str, actor: Actor | str,
                    *, proctored: bool = True) -> Transition | None:
    """The table row allowing ``actor`` to do ``action`` from ``source``, or ``None``."""
    try:
        key = (S(source), A(action))
        actor = Ac(actor)
    except ValueError:
        return None
    for row in _INDEX.get(key, []):
        if actor in row.actors and not (row.unproctored_only and proctored):
            return row
    return None


def actions_from(source: Status | str) -> list[Action]:
    return sorted({t.action for t in TRANSITIONS if t.source == S(source)})
