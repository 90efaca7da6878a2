"""Which destinations an event goes to, decided when it is emitted (inside the transaction).

The public event catalogue (what LMS webhooks may subscribe to and what the tracking log records)
is :data:`PUBLIC_KINDS`; other kinds (e.g. ``mock.post_review``) are internal and reach only the
in-process handler registered for them with :func:`~proctorhub.notifications.dispatch.handles`.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

PUBLIC_KINDS = (
    "attempt.created",
    "attempt.status_changed",
    "attempt.archived",
    "review.received",
    "support.suspicious_review",
)

# Learner emails go out when an attempt of a proctored, non-practice exam reaches these statuses.
LEARNER_EMAIL_STATUSES = ("submitted", "verified", "rejected")

HANDLER = "handler"
TRACKING = "tracking"
SUPPORT = "support"
EMAIL = "email"


def tracking_enabled() -> bool:
    return bool(str(settings.CONFIG.tracking.get("path") or "").strip())


def zendesk_configured() -> bool:
    zd = settings.CONFIG.zendesk
    return bool((zd.get("subdomain") or zd.get("api_url")) and zd.get("token"))


def support_configured() -> bool:
    return zendesk_configured() or bool(settings.CONFIG.email.get("support_address"))


def destinations_for(kind: str, payload: dict[str, Any], attempt_id: int | None, *,
                     attempt=None) -> list[str]:
    """The event's destinations but webhooks: the outbox writer adds the active endpoints that
    want a public kind (in SQL on PostgreSQL). ``attempt`` saves reading the attempt again."""
    from proctorhub.notifications.dispatch import has_handler

    found: list[str] = []
    if has_handler(kind):
        found.append(HANDLER)
    if kind not in PUBLIC_KINDS:
        return found
    if tracking_enabled():
        found.append(TRACKING)
    if kind == "support.suspicious_review" and support_configured():
        found.append(SUPPORT)
    if kind == "attempt.status_changed" and _learner_should_hear(payload, attempt_id, attempt):
        found.append(EMAIL)
    return found


def _learner_should_hear(payload: dict[str, Any], attempt_id: int | None, attempt=None) -> bool:
    if not settings.CONFIG.email.get("learner_emails", True):
        return False
    if payload.get("new_status") not in LEARNER_EMAIL_STATUSES or attempt_id is None:
        return False
    from proctorhub.attempts.models import Attempt

    if attempt is None or attempt.pk != attempt_id:
        attempt = (Attempt.objects.select_related("exam")
                   .only("taking_as_proctored", "is_sample_attempt", "exam__is_proctored",
                         "exam__is_practice_exam", "exam__is_onboarding")
                   .filter(pk=attempt_id).first())
    if attempt is None:
        return False
    exam = attempt.exam
    return bool(attempt.taking_as_proctored and exam.is_proctored and not exam.is_practice_exam
                and not exam.is_onboarding and not attempt.is_sample_attempt)
