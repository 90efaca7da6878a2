"""Attempts: create, read, list, act, archive."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response

from proctorhub.accounts.services import sync_learner
from proctorhub.api import access
from proctorhub.api.base import ApiView
from proctorhub.api.serializers import (
    ActionSerializer,
    ArchiveSerializer,
    AttemptCreateSerializer,
    AttemptSerializer,
)
from proctorhub.attempts import services
from proctorhub.attempts.lifecycle import apply_action
from proctorhub.attempts.models import Attempt
from proctorhub.attempts.statuses import Status
from proctorhub.errors import InvalidInput, NotFound
from proctorhub.exams.models import Exam


def _attempt(request, attempt_id: int) -> Attempt:
    attempt = get_object_or_404(Attempt.objects.select_related("exam", "user"), pk=attempt_id)
    access.require_course_access(request.user, attempt.exam.course_id)
    return attempt


def _id_param(value: str, name: str) -> int:
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise InvalidInput(f"{name} must be a positive whole number, not {value!r}")
    return int(value)


class AttemptPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


class AttemptListView(ApiView):
    @extend_schema(
        parameters=[OpenApiParameter(n, str) for n in ("course_id", "exam_id", "status",
                                                       "username", "include_archived")],
        responses=AttemptSerializer(many=True),
    )
    def get(self, request):
        qs = Attempt.objects.select_related("exam", "user").order_by("-id")
        courses = access.visible_courses(request.user)
        if courses is not None:
            qs = qs.filter(exam__course_id__in=courses)
        params = request.query_params
        if params.get("include_archived", "").lower() not in {"1", "true", "yes"}:
            qs = qs.filter(is_archived=False)
        if params.get("course_id"):
            qs = qs.filter(exam__course_id=params["course_id"])
        if params.get("exam_id"):
            qs = qs.filter(exam_id=_id_param(params["exam_id"], "exam_id"))
        if params.get("status"):
            if params["status"] not in {s.value for s in Status}:
                raise InvalidInput(f"unknown status {params['status']!r}: use one of "
                                   f"{', '.join(s.value for s in Status)}")
            qs = qs.filter(status=params["status"])
        if params.get("username"):
            qs = qs.filter(user__username=params["username"])
        paginator = AttemptPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(AttemptSerializer(page, many=True).data)

    @extend_schema(request=AttemptCreateSerializer, responses={201: AttemptSerializer})
    def post(self, request):
        serializer = AttemptCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        exam = Exam.objects.filter(pk=serializer.validated_data["exam_id"]).first()
        if exam is None:
            raise NotFound(f"exam {serializer.validated_data['exam_id']} does not exist")
        access.require_course_access(request.user, exam.course_id)
        learner = sync_learner(**serializer.validated_data["user"])
        by = access.acted_by(request.user, None, backend=exam.backend, course_id=exam.course_id)
        attempt = services.create_attempt(exam=exam, user=learner, by=by)
        attempt = Attempt.objects.select_related("exam", "user").get(pk=attempt.pk)
        return Response(AttemptSerializer(attempt).data, status=status.HTTP_201_CREATED)


class AttemptDetailView(ApiView):
    @extend_schema(responses=AttemptSerializer)
    def get(self, request, attempt_id: int):
        return Response(AttemptSerializer(_attempt(request, attempt_id)).data)

    @extend_schema(request=ArchiveSerializer, responses=AttemptSerializer)
    def delete(self, request, attempt_id: int):
        attempt = _attempt(request, attempt_id)
        serializer = ArchiveSerializer(data=request.data or {})
        serializer.is_valid(raise_exception=True)
        by = access.acted_by(request.user, None, backend=attempt.backend,
                             course_id=attempt.exam.course_id)
        attempt = services.archive_attempt(attempt.pk, by,
                                           reason=serializer.validated_data["reason"])
        return Response(AttemptSerializer(attempt).data)


class AttemptActionView(ApiView):
    @extend_schema(request=ActionSerializer, responses=AttemptSerializer)
    def post(self, request, attempt_id: int):
        attempt = _attempt(request, attempt_id)
        serializer = ActionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        by = access.acted_by(request.user, data.get("actor"), backend=attempt.backend,
                             course_id=attempt.exam.course_id, action=data["action"])
        attempt = apply_action(attempt.pk, data["action"], by, reason=data["reason"])
        return Response(AttemptSerializer(attempt).data)
