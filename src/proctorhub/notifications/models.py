"""The transactional outbox: side effects written with the change, sent after commit.

- :class:`OutboxEvent` — one row per :func:`~proctorhub.notifications.outbox.emit`: what happened
  (kind, payload, idempotency key). Its state/tries/last error summarise its deliveries.
- :class:`OutboxDelivery` — one row per event and destination (an LMS webhook endpoint, the
  tracking log, support, the learner's email, an in-process handler). This is what workers claim,
  send, retry with backoff and park as dead, each destination on its own.
- :class:`WebhookEndpoint` — an LMS receiver of signed (Standard Webhooks) events.
"""

from __future__ import annotations

import base64
import secrets

from django.db import models
from django.utils import timezone


class State(models.TextChoices):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


class OutboxEvent(models.Model):
    State = State

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


class OutboxDelivery(models.Model):
    """One event going to one destination; claimed, sent and retried independently."""

    State = State

    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries")
    destination = models.CharField(
        max_length=64, help_text="handler | tracking | support | email | webhook:<endpoint id>")
    # Sent as ``webhook-id`` (and Zendesk external_id, email Message-ID): stable across re-sends.
    idempotency_key = models.CharField(max_length=200, unique=True)
    attempt_id = models.BigIntegerField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    tries = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "destination"], name="one_delivery_per_dest"),
        ]
        indexes = [
            models.Index(fields=["state", "next_attempt_at"]),
            # "is an earlier row of this attempt + destination still pending?"
            models.Index(fields=["attempt_id", "destination", "state"]),
        ]
        verbose_name_plural = "outbox deliveries"

    def __str__(self) -> str:
        return f"delivery {self.pk} {self.destination}"


def new_webhook_secret() -> str:
    """A Standard Webhooks secret: ``whsec_`` + base64 of 32 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class WebhookEndpoint(models.Model):
    name = models.CharField(max_length=100, unique=True)
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=100, default=new_webhook_secret,
                              help_text="whsec_<base64>; give it to the receiver to verify")
    event_kinds = models.JSONField(
        default=list, blank=True,
        help_text='kinds this endpoint receives, e.g. ["attempt.status_changed"]; empty = all')
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.url})"

    def wants(self, kind: str) -> bool:
        """Empty means every kind; otherwise a list of kinds or ``"*"``. (The PostgreSQL outbox
        writer has the same rule in SQL: ``outbox_sql.WANTS_SQL``.)"""
        kinds = self.event_kinds
        if not kinds:
            return True
        return isinstance(kinds, list) and ("*" in kinds or kind in kinds)

    @property
    def destination(self) -> str:
        return f"webhook:{self.pk}"
