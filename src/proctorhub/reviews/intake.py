"""Receive a review delivery: authenticate, record, normalize, locate, apply.

Every delivery is recorded (redacted) whatever its fate, so nothing a provider sent is lost and
orphaned deliveries can be replayed once their attempt exists.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DatabaseError

from proctorhub.accounts.models import User
from proctorhub.accounts.selectors import is_course_staff
from proctorhub.attempts.lifecycle import ActedBy
from proctorhub.attempts.models import Attempt
from proctorhub.attempts.statuses import Actor
from proctorhub.errors import Conflict
from proctorhub.providers.base import CallerRejected, InvalidReview, Provider
from proctorhub.reviews.models import Delivery
from proctorhub.reviews.services import apply_review, payload_digest

log = logging.getLogger(__name__)

DROPPED_KEYS = {"userPhotoBase64String", "videoReviewLink"}


@dataclass
class Answer:
    http_status: int
    body: dict[str, Any]


def redact(value: Any) -> Any:
    """Drop photos and raw video links; drop NUL characters, which databases cannot store."""
    if isinstance(value, dict):
        return {redact(k): redact(v) for k, v in value.items() if k not in DROPPED_KEYS}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return value.replace("\x00", "")
    return value


def _finish(delivery: Delivery, outcome: str, http_status: int, code: str, detail: str,
            **extra) -> Answer:
    delivery.outcome, delivery.http_status, delivery.detail = outcome, http_status, detail
    for key, value in extra.items():
        setattr(delivery, key, value)
    delivery.save()
    log.info("review delivery", extra={"delivery_id": delivery.pk, "provider": delivery.provider,
                                       "attempt_id": delivery.attempt_id, "outcome": outcome})
    if http_status == 200:
        return Answer(200, {"status": outcome, "detail": detail, "delivery_id": delivery.pk})
    return Answer(http_status, {"error": code, "detail": detail, "delivery_id": delivery.pk})


def record_unknown_provider(name: str) -> Answer:
    """A call to a provider we do not have is still a delivery: record it, then refuse it."""
    from proctorhub.providers.registry import available

    delivery = Delivery(provider=redact(name)[:64])
    return _finish(delivery, Delivery.Outcome.REJECTED, 404, "unknown_provider",
                   f"unknown provider {name[:64]!r}: available are {', '.join(available())}")


def receive_standard(provider: Provider, external_id: str, request) -> Answer:
    """The standard-shape review callback of ``provider`` for the attempt it calls ``external_id``."""
    delivery = Delivery(provider=provider.name, external_id=external_id[:255])
    limit = int(settings.CONFIG.reviews.get("max_body_bytes", 1024 * 1024))
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        return _finish(delivery, Delivery.Outcome.REJECTED, 413, "too_large",
                       f"body is {length} bytes; the limit is {limit}")
    try:
        provider.verify_caller(request)
    except CallerRejected as exc:
        return _finish(delivery, Delivery.Outcome.REJECTED, 401, "unauthenticated", str(exc))
    raw_body = request.body
    if len(raw_body) > limit:
        return _finish(delivery, Delivery.Outcome.REJECTED, 413, "too_large",
                       f"body is over the limit of {limit} bytes")
    try:
        payload = json.loads(raw_body or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        return _finish(delivery, Delivery.Outcome.REJECTED, 400, "malformed_body",
                       f"body is not valid JSON: {exc}")
    delivery.payload = redact(payload)
    delivery.payload_sha256 = payload_digest(payload)
    delivery.save()  # recorded before anything is applied
    try:
        review = provider.normalize_review(delivery.payload)
    except InvalidReview as exc:
        return _finish(delivery, Delivery.Outcome.REJECTED, 400, "invalid_review", str(exc))
    attempt = (Attempt.objects.select_related("exam")
               .filter(backend=provider.name, external_id__iexact=external_id).first())
    if attempt is None:
        return _finish(delivery, Delivery.Outcome.ORPHANED, 404, "unknown_attempt",
                       f"could not locate an attempt of {provider.name} with id {external_id}; "
                       "the delivery is kept and can be replayed")
    delivery.attempt, delivery.attempt_code = attempt, attempt.attempt_code
    reviewer = None
    if review.reviewed_by:
        reviewer = User.objects.filter(email__iexact=review.reviewed_by).first()
        if reviewer is None or not is_course_staff(reviewer, attempt.exam.course_id):
            return _finish(delivery, Delivery.Outcome.REJECTED, 403, "forbidden",
                           f"reviewed_by is not staff of course {attempt.exam.course_id}")
    by = ActedBy(Actor.PROVIDER, f"provider:{provider.name}")
    try:
        applied = apply_review(attempt.pk, review, provider=provider.name,
                               raw=delivery.payload, by=by, reviewer=reviewer)
    except Conflict as exc:
        return _finish(delivery, Delivery.Outcome.REJECTED, 409, exc.code, exc.detail)
    except DatabaseError:
        log.warning("review apply hit a database conflict", extra={"delivery_id": delivery.pk})
        return _finish(delivery, Delivery.Outcome.FAILED, 503, "retry",
                       "the attempt is busy; retry the delivery")
    if applied.duplicate:
        return _finish(delivery, Delivery.Outcome.DUPLICATE, 200, "", applied.note)
    return _finish(delivery, Delivery.Outcome.APPLIED, 200, "",
                   f"{applied.old_status} -> {applied.new_status}: {applied.note}")
