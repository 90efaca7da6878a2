"""Receive a review delivery: bound, authenticate, record, locate, match, normalize, apply.

Every delivery is recorded (redacted) whatever its fate, so nothing a provider sent is lost and
orphaned deliveries can be replayed (:func:`process`) once their attempt exists.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import DatabaseError, transaction
from django.utils import timezone

from proctorhub.accounts.models import User
from proctorhub.accounts.selectors import is_course_staff
from proctorhub.attempts.lifecycle import ActedBy
from proctorhub.attempts.models import Attempt
from proctorhub.attempts.statuses import Actor
from proctorhub.errors import Conflict
from proctorhub.providers.base import CallerRejected, InvalidReview, Provider
from proctorhub.reviews import video
from proctorhub.reviews.models import Delivery
from proctorhub.reviews.services import apply_review_locked, payload_digest

log = logging.getLogger(__name__)

DROPPED_KEYS = {"userPhotoBase64String", "videoReviewLink"}
Outcome = Delivery.Outcome
OUTCOME_FIELDS = ["outcome", "http_status", "detail", "attempt", "attempt_code", "external_id",
                  "replayed_at"]


@dataclass
class Answer:
    http_status: int
    body: dict[str, Any]
    delivery_id: int | None = None


@dataclass
class Route:
    """How a provider's callback finds its attempt and says things went wrong."""

    #: Pulls ``(attempt_code, external_id)`` out of the payload (PSI) — or ``None`` (standard
    #: callbacks, whose external id is in the URL).
    ids_from_payload: Callable[[Any], tuple[str, str]] | None = None
    url_external_id: str = ""
    orphan_status: int = 404
    ok_body: dict[str, Any] = field(default_factory=dict)


def redact(value: Any) -> Any:
    """Drop photos and raw video links; drop NUL characters, which databases cannot store."""
    if isinstance(value, dict):
        return {redact(k): redact(v) for k, v in value.items() if k not in DROPPED_KEYS}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return value.replace("\x00", "")
    return value


MAX_DEPTH = 32  # PSI's payload is 3 levels deep; deeper bodies are refused, not recursed into


def _check_storable(payload: Any) -> None:
    """Refuse JSON that parses but cannot be stored or walked safely (raises ``ValueError``):
    nesting deeper than :data:`MAX_DEPTH`, NaN/Infinity, lone surrogates (not valid UTF-8)."""
    stack = [(payload, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, (dict, list)):
            if depth > MAX_DEPTH:
                raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
            items = list(value.values()) + list(value) if isinstance(value, dict) else value
            stack.extend((v, depth + 1) for v in items)
    json.dumps(payload, allow_nan=False, ensure_ascii=False).encode("utf-8")


def _finish(delivery: Delivery, outcome: str, http_status: int, code: str, detail: str) -> Answer:
    delivery.outcome, delivery.http_status, delivery.detail = outcome, http_status, detail
    # A recorded delivery gets its outcome, not its (large) payload written again.
    delivery.save(update_fields=OUTCOME_FIELDS if delivery.pk else None)
    log.info("review delivery", extra={"delivery_id": delivery.pk, "provider": delivery.provider,
                                       "attempt_id": delivery.attempt_id, "outcome": outcome,
                                       "http_status": http_status})
    if http_status == 200:
        return Answer(200, {"status": outcome, "detail": detail, "delivery_id": delivery.pk},
                      delivery.pk)
    return Answer(http_status, {"error": code, "detail": detail, "delivery_id": delivery.pk},
                  delivery.pk)


def record_unknown_provider(name: str) -> Answer:
    """A call to a provider we do not have is still a delivery: record it, then refuse it."""
    from proctorhub.providers.registry import available

    delivery = Delivery(provider=redact(name)[:64])
    return _finish(delivery, Outcome.REJECTED, 404, "unknown_provider",
                   f"unknown provider {name[:64]!r}: available are {', '.join(available())}")


def receive(provider: Provider, request, route: Route) -> Answer:
    """The HTTP part: size bound, caller check, JSON body, then record and :func:`process`."""
    delivery = Delivery(provider=provider.name, external_id=route.url_external_id[:255])
    limit = int(settings.CONFIG.reviews.get("max_body_bytes", 1024 * 1024))
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        return _finish(delivery, Outcome.REJECTED, 413, "too_large",
                       f"body is {length} bytes; the limit is {limit}")
    try:
        provider.verify_caller(request)
    except CallerRejected as exc:
        return _finish(delivery, Outcome.REJECTED, 401, "unauthenticated", str(exc))
    raw_body = request.body
    if len(raw_body) > limit:
        return _finish(delivery, Outcome.REJECTED, 413, "too_large",
                       f"body is over the limit of {limit} bytes")
    try:
        payload = json.loads(raw_body or b"null")  # JSON whatever the Content-Type says
        _check_storable(payload)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        return _finish(delivery, Outcome.REJECTED, 400, "malformed_body",
                       f"body is not valid JSON: {str(exc)[:200]}")
    link = payload.get("videoReviewLink") if isinstance(payload, dict) else None
    if isinstance(link, str) and link:
        delivery.video_key_id, delivery.video_link_encrypted = video.encrypt(provider, link)
    delivery.payload = redact(payload)
    delivery.payload_sha256 = payload_digest(delivery.payload)
    delivery.save()  # recorded before anything is applied
    return process(delivery, provider, route)


def process(delivery: Delivery, provider: Provider, route: Route) -> Answer:
    """Locate, match, normalize and apply a recorded delivery (also used to replay one).

    One transaction: the attempt is found and locked in one statement, and the delivery's
    outcome is written with the change it made. If applying fails, that transaction is rolled
    back and the outcome is written on its own.
    """
    payload = delivery.payload
    attempt_code, external_id = "", delivery.external_id
    if route.ids_from_payload is not None:
        try:
            attempt_code, external_id = route.ids_from_payload(payload)
        except InvalidReview as exc:
            return _finish(delivery, Outcome.REJECTED, 400, "invalid_review", str(exc))
        delivery.attempt_code, delivery.external_id = attempt_code[:64], external_id[:255]
    try:
        with transaction.atomic():
            return _process_locked(delivery, provider, route, attempt_code, external_id)
    except Conflict as exc:
        return _finish(delivery, Outcome.REJECTED, 409, exc.code, exc.detail)
    except DatabaseError:
        log.warning("review apply hit a database conflict", extra={"delivery_id": delivery.pk},
                    exc_info=True)
        return _finish(delivery, Outcome.FAILED, 503, "retry", "the attempt is busy; retry the delivery")


def _process_locked(delivery: Delivery, provider: Provider, route: Route, attempt_code: str,
                    external_id: str) -> Answer:
    attempt = _locate_and_lock(provider, attempt_code, external_id)
    if attempt is None:
        what = (f"could not locate attempt code {attempt_code}" if attempt_code else
                f"could not locate an attempt of {provider.name} with id {external_id}")
        return _finish(delivery, Outcome.ORPHANED, route.orphan_status, "unknown_attempt",
                       f"{what}; the delivery is kept and can be replayed")
    if attempt.backend != provider.name:
        return _finish(delivery, Outcome.REJECTED, 403, "wrong_provider",
                       f"the attempt is not proctored by {provider.name}; nothing applied")
    delivery.attempt, delivery.attempt_code = attempt, attempt.attempt_code
    if attempt_code and not _ids_match(attempt, external_id):
        return _finish(delivery, Outcome.REJECTED, 400, "id_mismatch",
                       f"ssiRecordLocator {external_id} does not match the attempt's external id "
                       f"{attempt.external_id}; nothing applied")
    try:
        review = provider.normalize_review(delivery.payload)
    except InvalidReview as exc:
        return _finish(delivery, Outcome.REJECTED, 400, "invalid_review", str(exc))
    reviewer = None
    if review.reviewed_by:
        reviewer = User.objects.filter(email__iexact=review.reviewed_by).first()
        if reviewer is None or not is_course_staff(reviewer, attempt.exam.course_id):
            return _finish(delivery, Outcome.REJECTED, 403, "forbidden",
                           f"reviewed_by is not staff of course {attempt.exam.course_id}")
    by = ActedBy(Actor.PROVIDER, f"provider:{provider.name}")
    applied = apply_review_locked(attempt, review, provider=provider.name, raw=delivery.payload,
                                  by=by, reviewer=reviewer,
                                  video=(delivery.video_key_id, delivery.video_link_encrypted))
    if applied.duplicate:
        return _finish(delivery, Outcome.DUPLICATE, 200, "", applied.note)
    return _finish(delivery, Outcome.APPLIED, 200, "",
                   f"{applied.old_status} -> {applied.new_status}: {applied.note}")


def _locate_and_lock(provider: Provider, attempt_code: str, external_id: str) -> Attempt | None:
    """Find and lock the attempt, live or archived (archiving keeps it findable by both codes)."""
    qs = Attempt.objects.select_for_update(of=("self",)).select_related("exam", "user")
    if attempt_code:
        return qs.filter(attempt_code=attempt_code).first()
    if external_id:
        return qs.filter(backend=provider.name, external_id__iexact=external_id).first()
    return None


def _ids_match(attempt: Attempt, external_id: str) -> bool:
    if settings.CONFIG.reviews.get("allow_callback_simulation"):
        return True  # dev-only; production refuses to start with it on
    return bool(attempt.external_id) and attempt.external_id.lower() == (external_id or "").lower()


def replay(delivery: Delivery, provider: Provider, route: Route) -> Answer:
    delivery.replayed_at = timezone.now()
    return process(delivery, provider, route)
