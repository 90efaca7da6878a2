"""Who may do what through the API: LMS clients, provider clients, and course staff sessions."""

from __future__ import annotations

from proctorhub.accounts.models import APIClient, User
from proctorhub.accounts.selectors import is_course_staff, staff_course_ids
from proctorhub.attempts.lifecycle import ActedBy
from proctorhub.attempts.statuses import Actor
from proctorhub.errors import Forbidden, InvalidInput

CLIENT_ACTORS = {"lms": {Actor.LEARNER, Actor.SYSTEM}}
STAFF_ACTORS = {Actor.STAFF, Actor.REVIEWER}


def is_client(principal) -> bool:
    return isinstance(principal, APIClient)


def require_course_access(principal, course_id: str) -> None:
    """LMS (or admin) clients act on every course; staff sessions on their courses only."""
    if is_client(principal):
        if principal.has_scope("lms") or principal.has_scope("admin"):
            return
        raise Forbidden("this API client needs the scope lms for this endpoint")
    if isinstance(principal, User) and is_course_staff(principal, course_id):
        return
    raise Forbidden(f"you are not staff of course {course_id}")


def visible_courses(principal) -> list[str] | None:
    """``None``: all courses. A list: only those."""
    if is_client(principal):
        if principal.has_scope("lms") or principal.has_scope("admin"):
            return None
        raise Forbidden("this API client needs the scope lms for this endpoint")
    return staff_course_ids(principal)


def label(principal) -> str:
    return f"client:{principal.pk}" if is_client(principal) else f"user:{principal.pk}"


#: Actions that are never the learner's own: an LMS client does them as ``system`` by default.
SYSTEM_ACTIONS = {"ready", "error"}


def acted_by(principal, requested: str | None, *, backend: str, course_id: str,
             action: str | None = None) -> ActedBy:
    """The actor the transition table checks, from who is calling and what they ask to act as."""
    if is_client(principal):
        allowed: set[Actor] = set()
        if principal.has_scope("admin"):
            allowed = set(Actor)
        if principal.has_scope("lms"):
            allowed |= CLIENT_ACTORS["lms"]
        if principal.has_scope(f"provider:{backend}"):
            allowed.add(Actor.PROVIDER)
        default = (Actor.LEARNER if Actor.LEARNER in allowed else
                   Actor.PROVIDER if Actor.PROVIDER in allowed else None)
        if action in SYSTEM_ACTIONS and default == Actor.LEARNER:
            default = Actor.SYSTEM
        user = None
    else:
        if not is_course_staff(principal, course_id):
            raise Forbidden(f"you are not staff of course {course_id}")
        allowed, default, user = set(STAFF_ACTORS), Actor.STAFF, principal
    if not allowed:
        raise Forbidden("this API client has no scope that may act on this attempt")
    try:
        actor = Actor(requested) if requested else default
    except ValueError:
        raise InvalidInput(f"unknown actor {requested!r}: use one of "
                           f"{', '.join(sorted(a.value for a in allowed))}") from None
    if actor not in allowed:
        raise Forbidden(f"you may act as {', '.join(sorted(a.value for a in allowed))}, "
                        f"not {actor.value}")
    return ActedBy(actor, label(principal), user)
