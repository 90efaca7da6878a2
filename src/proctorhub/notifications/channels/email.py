"""Emails through Django's email backend (SMTP by default): learners and the support address.

Learners hear when an attempt of a proctored, non-practice exam is submitted, verified or
rejected. The text comes from templates ``proctorhub/email/attempt_<status>_subject.txt``,
``attempt_<status>.txt`` and optionally ``attempt_<status>.html``; an operator overrides them by
putting files with the same names under a directory listed in ``[email] template_dirs``.

Each message carries a ``Message-ID`` derived from the delivery's idempotency key, so a re-sent
copy is recognisable as the same message.
"""

from __future__ import annotations

import hashlib
import smtplib
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string

from proctorhub.notifications.dispatch import GiveUp, Skipped
from proctorhub.notifications.models import OutboxDelivery, OutboxEvent
from proctorhub.notifications.routing import LEARNER_EMAIL_STATUSES

TEMPLATE_DIR = "proctorhub/email"


def attempt_context(attempt_id: int | None) -> dict[str, Any] | None:
    """What templates and tickets may show about an attempt; None if it does not exist."""
    from proctorhub.attempts.models import Attempt

    attempt = (Attempt.objects.select_related("exam", "user").filter(pk=attempt_id).first()
               if attempt_id is not None else None)
    if attempt is None:
        return None
    base_url = settings.CONFIG.base_url
    return {
        "attempt": attempt,
        "attempt_id": attempt.pk,
        "exam": attempt.exam,
        "exam_name": attempt.exam.exam_name,
        "course_id": attempt.exam.course_id,
        "username": attempt.user.username,
        "learner_name": attempt.user.full_name or attempt.user.username,
        "learner_email": attempt.user.email,
        "status": attempt.status,
        "base_url": base_url,
        "staff_url": f"{base_url}/staff/attempts/{attempt.pk}",
        "support_address": settings.CONFIG.email.get("support_address", ""),
    }


def render(name: str, context: dict[str, Any]) -> tuple[str, str, str | None]:
    """(subject, text, html or None) from ``proctorhub/email/<name>[_subject].txt|.html``."""
    subject = render_to_string(f"{TEMPLATE_DIR}/{name}_subject.txt", context)
    subject = " ".join(subject.split())
    text = render_to_string(f"{TEMPLATE_DIR}/{name}.txt", context)
    try:
        html = render_to_string(f"{TEMPLATE_DIR}/{name}.html", context)
    except TemplateDoesNotExist:
        html = None
    return subject, text, html


def message_id(key: str) -> str:
    domain = settings.CONFIG.email.get("from_address", "proctorhub@localhost").rpartition("@")[2]
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:40]}@{domain or 'proctorhub'}>"


def deliver(to: list[str], name: str, context: dict[str, Any], key: str) -> None:
    subject, text, html = render(name, context)
    msg = EmailMultiAlternatives(
        subject=subject, body=text, from_email=settings.CONFIG.email["from_address"], to=to,
        headers={"Message-ID": message_id(key), "X-Proctorhub-Event": key})
    if html:
        msg.attach_alternative(html, "text/html")
    try:
        msg.send(fail_silently=False)
    except smtplib.SMTPRecipientsRefused as exc:
        # The server refuses this address; retrying won't change that (other SMTP errors retry).
        codes = sorted({code for code, _ in exc.recipients.values()})
        raise GiveUp(f"the mail server refused the recipient (SMTP {codes})") from None


def send(delivery: OutboxDelivery, event: OutboxEvent) -> None:
    """Learner email for an ``attempt.status_changed`` event."""
    status = event.payload.get("new_status")
    if status not in LEARNER_EMAIL_STATUSES:
        raise GiveUp(f"no learner email for status {status!r}")
    context = attempt_context(event.attempt_id)
    if context is None:
        raise Skipped(f"attempt {event.attempt_id} no longer exists")
    if not context["learner_email"]:
        raise Skipped("the learner has no email address")
    context.update(status=status, old_status=event.payload.get("old_status"))
    deliver([context["learner_email"]], f"attempt_{status}", context, delivery.idempotency_key)
