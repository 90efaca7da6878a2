"""Exams and per-learner allowances."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from simple_history.models import HistoricalRecords


class Exam(models.Model):
    course_id = models.CharField(max_length=255, db_index=True)
    content_id = models.CharField(max_length=255)
    exam_name = models.CharField(max_length=255)
    time_limit_mins = models.PositiveIntegerField(null=True, blank=True)
    due_date = models.DateTimeField(null=True, blank=True)
    is_proctored = models.BooleanField(default=True)
    is_practice_exam = models.BooleanField(default=False)
    is_onboarding = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    hide_after_due = models.BooleanField(default=False)
    backend = models.CharField(max_length=64, default="null")
    external_id = models.CharField(max_length=255, null=True, blank=True)
    review_policy = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(history_change_reason_field=models.TextField(null=True))

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["course_id", "content_id"],
                condition=models.Q(is_active=True),
                name="one_active_exam_per_content",
            )
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"exam {self.pk}"

    @property
    def is_sample(self) -> bool:
        """Practice and onboarding attempts are samples: they never count for credit."""
        return self.is_practice_exam or self.is_onboarding


class Allowance(models.Model):
    """Extra time and review exceptions for one learner on one exam."""

    exam = models.ForeignKey(Exam, on_delete=models.CASCADE, related_name="allowances")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    additional_minutes = models.PositiveIntegerField(default=0)
    time_multiplier = models.DecimalField(
        max_digits=4,
        decimal_places=2,
        null=True,
        blank=True,
        validators=[MinValueValidator(Decimal("1.00"))],
    )
    review_policy_exception = models.TextField(blank=True)
    modified_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(history_change_reason_field=models.TextField(null=True))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["exam", "user"], name="one_allowance_per_learner_exam")
        ]

    def __str__(self) -> str:
        return f"allowance {self.pk}"
