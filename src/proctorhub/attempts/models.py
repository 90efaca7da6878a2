"""Exam attempts. Archived attempts stay in this table, flagged, findable by both codes."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from proctorhub.attempts import queue
from proctorhub.attempts.statuses import Status

DERIVED_FIELDS = ["review_status", "review_is_staff", "review_sha256", "queue_priority",
                  "activity_at"]


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

    # Derived columns, kept in step by :meth:`save` (and the review store, which writes them in
    # its own UPDATE): the staff queue sorts and filters on them without joining reviews, and the
    # review path spots a re-delivery from the locked row alone. Not part of the history.
    review_status = models.CharField(max_length=16, blank=True,
                                     help_text="Status of the attempt's review, if any")
    review_is_staff = models.BooleanField(default=False)
    review_sha256 = models.CharField(max_length=64, blank=True,
                                     help_text="Digest of the review payload last applied")
    queue_priority = models.PositiveSmallIntegerField(
        default=queue.ROUTINE, help_text="0 second review, 1 suspicious or error, 2 routine")
    activity_at = models.DateTimeField(null=True, blank=True,
                                       help_text="Submitted time, else creation time")

    history = HistoricalRecords(history_change_reason_field=models.TextField(null=True),
                                excluded_fields=DERIVED_FIELDS)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["backend", "external_id"],
                condition=models.Q(external_id__isnull=False),
                name="external_id_unique_per_provider",
            )
        ]
        # The staff queue (dashboard/selectors.py) reads live attempts in queue order: priority,
        # then age, then id. Each index below is partial (live rows only) and ends with that
        # order, so a page or a capped count reads a bounded range whatever the table's size.
        indexes = [
            models.Index(fields=["status", "is_archived"]),
            models.Index(fields=["user", "is_archived"]),
            models.Index(fields=["queue_priority", "activity_at", "id"],
                         condition=models.Q(is_archived=False), name="attempt_queue"),
            models.Index(fields=["status", "queue_priority", "activity_at", "id"],
                         condition=models.Q(is_archived=False), name="attempt_queue_status"),
            models.Index(fields=["exam", "queue_priority", "activity_at", "id"],
                         condition=models.Q(is_archived=False), name="attempt_queue_exam"),
            models.Index(fields=["exam", "status", "queue_priority", "activity_at", "id"],
                         condition=models.Q(is_archived=False), name="attempt_queue_exam_status"),
            models.Index(fields=["queue_priority", "activity_at", "id"],
                         condition=models.Q(is_archived=False, review_status="suspicious",
                                            review_is_staff=False),
                         name="attempt_queue_suspicious"),
            models.Index(fields=["exam", "queue_priority", "activity_at", "id"],
                         condition=models.Q(is_archived=False, review_status="suspicious",
                                            review_is_staff=False),
                         name="attempt_queue_exam_suspicious"),
        ]
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"attempt {self.pk}"

    def refresh_derived(self) -> None:
        """Recompute :attr:`queue_priority` and :attr:`activity_at` from the row's own fields."""
        self.queue_priority = queue.priority(self.status, self.review_status, self.review_is_staff)
        self.activity_at = self.completed_at or self.created_at or timezone.now()

    def save(self, *args, **kwargs):
        self.refresh_derived()
        update_fields = kwargs.get("update_fields")
        if update_fields is not None:
            kwargs["update_fields"] = {*update_fields, "queue_priority", "activity_at"}
        super().save(*args, **kwargs)
