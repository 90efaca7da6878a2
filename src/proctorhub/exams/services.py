"""Writes for exams and allowances."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from proctorhub.accounts.services import sync_learner
from proctorhub.errors import Conflict
from proctorhub.exams.models import Allowance, Exam


def _active_clash(course_id: str, content_id: str, exclude_pk: int | None) -> Exam | None:
    return (Exam.objects.filter(course_id=course_id, content_id=content_id, is_active=True)
            .exclude(pk=exclude_pk).first())


def _clash_error(other: Exam) -> Conflict:
    return Conflict(f"exam {other.pk} is already the active exam for this course_id and "
                    "content_id; deactivate it (is_active=false) or update it instead")


@transaction.atomic
def create_exam(data: dict[str, Any], *, reason: str = "created") -> Exam:
    exam = Exam(**data)
    if exam.is_active and (other := _active_clash(exam.course_id, exam.content_id, None)):
        raise _clash_error(other)
    exam._change_reason = reason
    try:
        with transaction.atomic():
            exam.save()
    except IntegrityError:
        raise _clash_error(_active_clash(exam.course_id, exam.content_id, None) or exam) from None
    return exam


@transaction.atomic
def update_exam(exam_id: int, changes: dict[str, Any], *, reason: str = "updated") -> Exam:
    exam = Exam.objects.select_for_update().get(pk=exam_id)
    for field, value in changes.items():
        setattr(exam, field, value)
    if exam.is_active and (other := _active_clash(exam.course_id, exam.content_id, exam.pk)):
        raise _clash_error(other)
    exam._change_reason = reason
    try:
        with transaction.atomic():
            exam.save()
    except IntegrityError:
        raise Conflict("another active exam holds this course_id and content_id") from None
    return exam


@transaction.atomic
def put_allowances(exam: Exam, items: list[dict[str, Any]], *, reason: str) -> list[Allowance]:
    """Create or replace allowances; each item names its learner (synced if new)."""
    saved = []
    for item in items:
        learner = sync_learner(**item["user"])
        allowance = Allowance.objects.select_for_update().filter(exam=exam, user=learner).first()
        allowance = allowance or Allowance(exam=exam, user=learner)
        allowance.additional_minutes = item.get("additional_minutes", 0)
        allowance.time_multiplier = item.get("time_multiplier")
        allowance.review_policy_exception = item.get("review_policy_exception", "")
        allowance._change_reason = reason
        allowance.save()
        saved.append(allowance)
    return saved


@transaction.atomic
def delete_allowances(exam: Exam, lms_user_ids: list[str], *, reason: str) -> int:
    allowances = Allowance.objects.filter(exam=exam, user__lms_user_id__in=lms_user_ids)
    count = 0
    for allowance in allowances:
        allowance._change_reason = reason
        allowance.delete()
        count += 1
    return count
