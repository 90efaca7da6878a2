"""Exam attempts. Archived attempts stay in this table, flagged, findable by both codes."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from proctorhub.attempts.statuses import Status


def new_attempt_code() -> str:
    """An unguessable code: 160 random bits, hex (what providers see as the exam code)."""
    return secrets.token_hex(20).upper()


class Attempt(models.Model):
    exam = models.ForeignKey("exams.Exam", on_delete=models.PROTECT, related_name="attempts")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="attempts")
    backend = models.CharField(max_length=64, help_text="Provider the attempt was registered with")
    attempt_code = models.CharField(max_length=64, unique=True, default=new_attempt_code)
    external_id = models.CharField(max_length=255, null=True, blank=True)
    status = models.CharField(
        max_length=32, choices=[(s.value, s.value) for s in Status], default=Status.CREATED
    )
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    allowed_time_limit_mins = models.PositiveIntegerField(null=True, blank=True)
    time_remaining_seconds = models.PositiveIntegerField(null=True, blank=True)
    taking_as_proctored = models.BooleanField(default=False)
    is_sample_attempt = models.BooleanField(default=False)
    is_resumable = models.BooleanField(default=False)
    resumed_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_archived = models.BooleanField(default=False)
    archived_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(history_change_reason_field=models.TextField(null=True))

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["backend", "external_id"],
                condition=models.Q(external_id__isnull=False),
                name="external_id_unique_per_provider",
            )
        ]
        indexes = [
            models.Index(fields=["status", "is_archived"]),
            models.Index(fields=["user", "is_archived"]),
        ]
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"attempt {self.pk}"
