"""People (learners and staff synced from the LMS), their course roles, and API clients."""

from __future__ import annotations

import hashlib
import secrets

from django.contrib.auth.models import AbstractUser
from django.db import models
from simple_history.models import HistoricalRecords


def new_anonymous_id() -> str:
    return secrets.token_hex(16)


class User(AbstractUser):
    """A learner or staff member. ``anonymous_id`` is the only id providers ever see."""

    lms_user_id = models.CharField(max_length=64, unique=True, null=True, blank=True)
    full_name = models.CharField(max_length=255, blank=True)
    anonymous_id = models.CharField(max_length=32, unique=True, default=new_anonymous_id)

    history = HistoricalRecords(
        excluded_fields=["password", "last_login"],
        history_change_reason_field=models.TextField(null=True),
    )

    def __str__(self) -> str:
        return f"user {self.pk}"


class CourseRole(models.Model):
    """Staff rights of one user in one course."""

    class Role(models.TextChoices):
        STAFF = "staff", "Course staff"
        REVIEWER = "reviewer", "Reviewer"

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="course_roles")
    course_id = models.CharField(max_length=255, db_index=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.STAFF)
    history = HistoricalRecords(history_change_reason_field=models.TextField(null=True))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "course_id"], name="one_role_per_user_course")
        ]


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class APIClient(models.Model):
    """A server-to-server caller (an LMS, a provider). Only the token's hash is stored."""

    TOKEN_PREFIX = "ph_"

    name = models.CharField(max_length=100, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    token_prefix = models.CharField(max_length=12, help_text="First characters, to recognise it")
    scopes = models.JSONField(default=list)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords(excluded_fields=["last_used_at"])

    def __str__(self) -> str:
        return f"api client {self.name}"

    # DRF treats request.user as authenticated when this is true.
    is_authenticated = True
    is_staff = False
    is_superuser = False

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    @classmethod
    def new_token(cls) -> str:
        return cls.TOKEN_PREFIX + secrets.token_urlsafe(32)
