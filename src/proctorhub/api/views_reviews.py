"""An attempt's review: read it, and let course staff decide."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from proctorhub.api import access
from proctorhub.api.base import ApiView
from proctorhub.attempts.models import Attempt
from proctorhub.errors import Forbidden, NotFound
from proctorhub.reviews.models import Review
from proctorhub.reviews.selectors import review_document
from proctorhub.reviews.staff import STAFF_STATUSES, reveal_video_link, review_by_staff


class StaffReviewSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=STAFF_STATUSES)
    reason = serializers.CharField(max_length=2000)
    comment = serializers.CharField(max_length=4000, required=False, allow_blank=True, default="")


def _attempt(request, attempt_id: int) -> Attempt:
    attempt = get_object_or_404(Attempt.objects.select_related("exam"), pk=attempt_id)
    access.require_course_access(request.user, attempt.exam.course_id)
    return attempt


def _review(attempt: Attempt) -> Review:
    review = Review.objects.filter(attempt=attempt).select_related("reviewed_by").first()
    if review is None:
        raise NotFound(f"attempt {attempt.pk} has no review yet")
    return review


def _staff_only(request) -> None:
    if access.is_client(request.user):
        raise Forbidden("only course staff (signed in) may do this; API clients may not")


class AttemptReviewView(ApiView):
    @extend_schema(responses={200: dict})
    def get(self, request, attempt_id: int):
        return Response(review_document(_review(_attempt(request, attempt_id))))

    @extend_schema(request=StaffReviewSerializer, responses={200: dict})
    def post(self, request, attempt_id: int):
        attempt = _attempt(request, attempt_id)
        _staff_only(request)
        serializer = StaffReviewSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        applied = review_by_staff(attempt, request.user, **serializer.validated_data)
        attempt.refresh_from_db()
        return Response({"attempt_status": attempt.status, "review": review_document(applied.review)})


class ReviewVideoView(ApiView):
    @extend_schema(responses={200: dict})
    def get(self, request, attempt_id: int):
        attempt = _attempt(request, attempt_id)
        _staff_only(request)
        return Response({"video_url": reveal_video_link(_review(attempt), request.user)})
