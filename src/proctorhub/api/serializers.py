"""Request and response shapes of API v1."""

from __future__ import annotations

from rest_framework import serializers

from proctorhub.attempts.models import Attempt
from proctorhub.attempts.statuses import Action, Actor
from proctorhub.exams.models import Allowance, Exam
from proctorhub.providers.registry import available

API_ACTIONS = ["click_download_software", "ready", "start", "stop", "submit", "decline", "error",
               "ping", "mark_resumable"]
MAX_TIME_LIMIT_MINS = 366 * 24 * 60


class ExamSerializer(serializers.ModelSerializer):
    class Meta:
        model = Exam
        fields = ["id", "course_id", "content_id", "exam_name", "time_limit_mins", "due_date",
                  "is_proctored", "is_practice_exam", "is_onboarding", "is_active",
                  "hide_after_due", "backend", "external_id", "review_policy",
                  "created_at", "modified_at"]
        read_only_fields = ["id", "created_at", "modified_at"]
        validators = []  # the partial unique constraint is checked in the service with a clear 409

    def validate_backend(self, value: str) -> str:
        if value not in available():
            raise serializers.ValidationError(
                f"unknown provider {value!r}: available are {', '.join(available())}")
        return value

    def validate_time_limit_mins(self, value):
        if value is not None and value < 1:
            raise serializers.ValidationError("must be at least 1 minute (or null for untimed)")
        if value is not None and value > MAX_TIME_LIMIT_MINS:
            raise serializers.ValidationError(
                f"must be at most {MAX_TIME_LIMIT_MINS} minutes (one year), or null for untimed")
        return value

    def validate(self, attrs):
        practice = attrs.get("is_practice_exam", getattr(self.instance, "is_practice_exam", False))
        onboarding = attrs.get("is_onboarding", getattr(self.instance, "is_onboarding", False))
        if practice and onboarding:
            raise serializers.ValidationError("an exam is a practice exam or onboarding, not both")
        return attrs


class LearnerSerializer(serializers.Serializer):
    lms_user_id = serializers.CharField(max_length=64)
    username = serializers.CharField(max_length=150)
    # No default: an empty default is not a valid "format: email" in the OpenAPI schema.
    email = serializers.EmailField(required=False, allow_blank=True)
    full_name = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class AttemptCreateSerializer(serializers.Serializer):
    exam_id = serializers.IntegerField()
    user = LearnerSerializer()


class AttemptSerializer(serializers.ModelSerializer):
    exam_id = serializers.IntegerField(read_only=True)
    course_id = serializers.CharField(source="exam.course_id", read_only=True)
    user = serializers.SerializerMethodField()

    class Meta:
        model = Attempt
        fields = ["id", "exam_id", "course_id", "user", "backend", "attempt_code", "external_id",
                  "status", "started_at", "completed_at", "allowed_time_limit_mins",
                  "time_remaining_seconds", "taking_as_proctored", "is_sample_attempt",
                  "is_resumable", "resumed_from", "is_archived", "archived_at", "created_at",
                  "modified_at"]
        read_only_fields = fields

    def get_user(self, obj) -> dict:
        return {"lms_user_id": obj.user.lms_user_id, "username": obj.user.username}


class ActionSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=API_ACTIONS)
    actor = serializers.ChoiceField(choices=[a.value for a in Actor], required=False)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)

    def validate_action(self, value: str) -> str:
        return Action(value).value


class ArchiveSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class AllowanceInSerializer(serializers.Serializer):
    user = LearnerSerializer()
    additional_minutes = serializers.IntegerField(min_value=0, max_value=10000, default=0)
    time_multiplier = serializers.DecimalField(max_digits=4, decimal_places=2, min_value=1,
                                               max_value=10, required=False, allow_null=True)
    review_policy_exception = serializers.CharField(required=False, allow_blank=True, default="")


class AllowanceSerializer(serializers.ModelSerializer):
    user = serializers.SerializerMethodField()

    class Meta:
        model = Allowance
        fields = ["id", "exam", "user", "additional_minutes", "time_multiplier",
                  "review_policy_exception", "modified_at"]

    def get_user(self, obj) -> dict:
        return {"lms_user_id": obj.user.lms_user_id, "username": obj.user.username}


class AllowanceDeleteSerializer(serializers.Serializer):
    lms_user_ids = serializers.ListField(child=serializers.CharField(max_length=64),
                                         allow_empty=False, max_length=10000)


class StandardReviewCommentSerializer(serializers.Serializer):
    comment = serializers.CharField(allow_blank=True)
    status = serializers.ChoiceField(choices=["passed", "violation", "suspicious", "not_reviewed"])
    start = serializers.IntegerField(min_value=0)
    stop = serializers.IntegerField(min_value=0)


class StandardReviewSerializer(serializers.Serializer):
    """Documentation of the standard review shape providers post."""

    status = serializers.ChoiceField(choices=["passed", "violation", "suspicious", "not_reviewed"])
    reviewed_by = serializers.EmailField(required=False, allow_null=True)
    comments = StandardReviewCommentSerializer(many=True, required=False)
