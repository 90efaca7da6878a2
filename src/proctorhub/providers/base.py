"""The provider interface every proctoring backend implements.

A provider registers attempts with the proctoring service, hears about status changes, describes
its configuration and learner instructions, verifies callers of its review callback and turns its
review payload into a :class:`NormalizedReview`.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rest_framework.request import Request

    from proctorhub.attempts.models import Attempt

REVIEW_STATUSES = ("passed", "violation", "suspicious", "not_reviewed")


class ProviderError(Exception):
    """The provider could not do what was asked (network, refusal); maps to HTTP 502."""


class InvalidReview(ValueError):
    """A review payload that cannot be accepted; the message says what to fix (HTTP 400)."""


class CallerRejected(Exception):
    """The caller of a provider callback is not who it claims to be (HTTP 401)."""


@dataclass
class ReviewComment:
    start: int
    stop: int
    comment: str
    status: str
    duration: int | None = None


@dataclass
class NormalizedReview:
    status: str
    comments: list[ReviewComment] = field(default_factory=list)
    reviewed_by: str | None = None
    attempt_code: str | None = None
    external_id: str | None = None


@dataclass
class FollowUp:
    """An outbox event a provider wants after a status change (e.g. the mock's review)."""

    kind: str
    payload: dict[str, Any]
    delay: timedelta = timedelta(0)


class Provider:
    name: str = ""
    verbose_name: str = ""
    #: Learners must run the provider's software, which marks the attempt ready to start.
    requires_software: bool = False
    #: Keys of ``settings`` never shown by :meth:`describe`.
    secret_keys: tuple[str, ...] = ()

    def __init__(self, settings: dict[str, Any] | None = None) -> None:
        self.settings = dict(settings or {})

    # --- attempt lifecycle -------------------------------------------------------------------
    def register_attempt(self, attempt: Attempt) -> str | None:
        """Tell the provider about a new attempt; return its id for it (``external_id``)."""
        return None

    def start_attempt(self, attempt: Attempt) -> None:
        return None

    def stop_attempt(self, attempt: Attempt) -> None:
        return None

    def mark_erroneous(self, attempt: Attempt) -> None:
        return None

    def remove_attempt(self, attempt: Attempt) -> None:
        return None

    def follow_ups(self, attempt: Attempt, old: str, new: str) -> list[FollowUp]:
        """Outbox events to write, in the status change's transaction, when ``old -> new``."""
        return []

    # --- description ---------------------------------------------------------------------------
    def instructions(self) -> list[str]:
        return []

    def describe(self) -> dict[str, Any]:
        """Configuration (secrets masked) and learner instructions, for staff and the API."""
        shown = {
            k: ("********" if k in self.secret_keys and v else v) for k, v in self.settings.items()
        }
        return {
            "name": self.name,
            "verbose_name": self.verbose_name,
            "requires_software": self.requires_software,
            "settings": shown,
            "instructions": self.instructions(),
        }

    # --- callbacks -----------------------------------------------------------------------------
    def verify_caller(self, request: Request) -> None:
        """Raise :class:`CallerRejected` unless the caller is this provider.

        Default: a bearer token of an API client that holds the scope ``provider:<name>``.
        """
        from proctorhub.api.authentication import client_for_token

        client = client_for_token(bearer_token(request))
        if client is None or not client.has_scope(f"provider:{self.name}"):
            raise CallerRejected(
                f"send 'Authorization: Bearer <token>' of an API client with scope provider:{self.name}"
            )

    def normalize_review(self, payload: dict[str, Any]) -> NormalizedReview:
        """Default: the standard review shape (status, comments, reviewed_by)."""
        return normalize_standard_review(payload)


def bearer_token(request: Request) -> str:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def tokens_match(given: str, expected: str) -> bool:
    return bool(given) and bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def _int(value: Any, field_name: str) -> int:
    if isinstance(value, bool) or value is None:
        raise InvalidReview(f"{field_name} must be a whole number of seconds, not {value!r}")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidReview(f"{field_name} must be a whole number of seconds, not {value!r}") from None
    if number < 0:
        raise InvalidReview(f"{field_name} must not be negative ({number})")
    return number


def normalize_standard_review(payload: Any) -> NormalizedReview:
    if not isinstance(payload, dict):
        raise InvalidReview("the body must be a JSON object with status and comments")
    status = payload.get("status")
    if status not in REVIEW_STATUSES:
        raise InvalidReview(f"unexpected status {status!r}: use one of {', '.join(REVIEW_STATUSES)}")
    raw_comments = payload.get("comments") or []
    if not isinstance(raw_comments, list):
        raise InvalidReview("comments must be a list of {comment, status, start, stop}")
    comments = []
    for i, item in enumerate(raw_comments):
        if not isinstance(item, dict):
            raise InvalidReview(f"comments[{i}] must be an object")
        c_status = item.get("status", status)
        if c_status not in REVIEW_STATUSES:
            raise InvalidReview(f"comments[{i}].status {c_status!r} is not one of {REVIEW_STATUSES}")
        start = _int(item.get("start", 0), f"comments[{i}].start")
        stop = _int(item.get("stop", start), f"comments[{i}].stop")
        if stop < start:
            raise InvalidReview(f"comments[{i}]: stop ({stop}) is before start ({start})")
        comments.append(ReviewComment(start=start, stop=stop, duration=stop - start,
                                      comment=str(item.get("comment", ""))[:2000], status=c_status))
    reviewed_by = payload.get("reviewed_by")
    if reviewed_by is not None and not isinstance(reviewed_by, str):
        raise InvalidReview("reviewed_by must be an email address or null")
    return NormalizedReview(status=status, comments=comments, reviewed_by=reviewed_by or None)
