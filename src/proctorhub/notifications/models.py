"""The transactional outbox: side effects written with the change, sent after commit."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class OutboxEvent(models.Model):
    class State(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        DEAD = "dead"

    kind = models.CharField(max_length=64, db_index=True)
    payload = models.JSONField(default=dict)
    idempotency_key = models.CharField(max_length=128, unique=True)
    attempt_id = models.BigIntegerField(null=True, blank=True, db_index=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    tries = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["state", "next_attempt_at"])]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"outbox {self.pk} {self.kind}"
