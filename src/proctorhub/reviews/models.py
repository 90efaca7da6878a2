"""Reviews (one per attempt, history kept), their comments, and every delivery that brought one."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords


class Delivery(models.Model):
    """One inbound HTTP call carrying a review, recorded before anything else happens."""

    class Outcome(models.TextChoices):
        RECEIVED = "received"
        APPLIED = "applied"
        DUPLICATE = "duplicate"
        REJECTED = "rejected"
        ORPHANED = "orphaned"
        FAILED = "failed"

    provider = models.CharField(max_length=64)
    received_at = models.DateTimeField(auto_now_add=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.RECEIVED)
    http_status = models.PositiveSmallIntegerField(null=True)
    detail = models.TextField(blank=True)
    attempt_code = models.CharField(max_length=64, blank=True, db_index=True)
    external_id = models.CharField(max_length=255, blank=True, db_index=True)
    attempt = models.ForeignKey("attempts.Attempt", null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="deliveries")
    payload = models.JSONField(null=True, help_text="Redacted: no photos, no raw video links")
    payload_sha256 = models.CharField(max_length=64, blank=True)
    video_key_id = models.CharField(max_length=16, blank=True)
    video_link_encrypted = models.TextField(blank=True)
    replayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "deliveries"


class Review(models.Model):
    class Status(models.TextChoices):
        PASSED = "passed"
        VIOLATION = "violation"
        SUSPICIOUS = "suspicious"
        NOT_REVIEWED = "not_reviewed"

    attempt = models.OneToOneField("attempts.Attempt", on_delete=models.PROTECT,
                                   related_name="review")
    attempt_code = models.CharField(max_length=64, unique=True)
    provider = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+")
    is_staff_review = models.BooleanField(default=False)
    payload_sha256 = models.CharField(max_length=64, blank=True)
    raw = models.JSONField(null=True, help_text="The review payload, redacted")
    video_key_id = models.CharField(max_length=16, blank=True)
    video_link_encrypted = models.TextField(blank=True)
    staff_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords(history_change_reason_field=models.TextField(null=True))


class ReviewComment(models.Model):
    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="comments")
    start = models.PositiveIntegerField()
    stop = models.PositiveIntegerField()
    duration = models.PositiveIntegerField(null=True)
    comment = models.TextField(blank=True)
    status = models.CharField(max_length=16)

    class Meta:
        ordering = ["start", "id"]


class VideoLinkView(models.Model):
    """Audit: a staff member decrypted a review's video link."""

    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="video_views")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    viewed_at = models.DateTimeField(auto_now_add=True)
