"""Exams and allowances."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.response import Response

from proctorhub.api import access
from proctorhub.api.base import ApiView
from proctorhub.api.serializers import (
    AllowanceDeleteSerializer,
    AllowanceInSerializer,
    AllowanceSerializer,
    ExamSerializer,
)
from proctorhub.errors import InvalidInput
from proctorhub.exams import services
from proctorhub.exams.models import Allowance, Exam


class ExamListView(ApiView):
    @extend_schema(parameters=[OpenApiParameter("course_id", str)],
                   responses=ExamSerializer(many=True))
    def get(self, request):
        qs = Exam.objects.all()
        courses = access.visible_courses(request.user)
        if courses is not None:
            qs = qs.filter(course_id__in=courses)
        if request.query_params.get("course_id"):
            qs = qs.filter(course_id=request.query_params["course_id"])
        return Response(ExamSerializer(qs, many=True).data)

    @extend_schema(request=ExamSerializer, responses={201: ExamSerializer})
    def post(self, request):
        serializer = ExamSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        access.require_course_access(request.user, serializer.validated_data["course_id"])
        exam = services.create_exam(serializer.validated_data,
                                    reason=f"{access.label(request.user)} created")
        return Response(ExamSerializer(exam).data, status=status.HTTP_201_CREATED)


class ExamDetailView(ApiView):
    @extend_schema(responses=ExamSerializer)
    def get(self, request, exam_id: int):
        exam = get_object_or_404(Exam, pk=exam_id)
        access.require_course_access(request.user, exam.course_id)
        return Response(ExamSerializer(exam).data)

    @extend_schema(request=ExamSerializer, responses=ExamSerializer)
    def patch(self, request, exam_id: int):
        exam = get_object_or_404(Exam, pk=exam_id)
        access.require_course_access(request.user, exam.course_id)
        serializer = ExamSerializer(exam, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        if serializer.validated_data.get("course_id", exam.course_id) != exam.course_id:
            raise InvalidInput("course_id of an exam cannot change; create a new exam instead")
        exam = services.update_exam(exam.pk, serializer.validated_data,
                                    reason=f"{access.label(request.user)} updated")
        return Response(ExamSerializer(exam).data)


class AllowanceView(ApiView):
    def _exam(self, request, exam_id: int) -> Exam:
        exam = get_object_or_404(Exam, pk=exam_id)
        access.require_course_access(request.user, exam.course_id)
        return exam

    @extend_schema(responses=AllowanceSerializer(many=True))
    def get(self, request, exam_id: int):
        exam = self._exam(request, exam_id)
        qs = Allowance.objects.filter(exam=exam).select_related("user")
        return Response(AllowanceSerializer(qs, many=True).data)

    @extend_schema(request=AllowanceInSerializer(many=True),
                   responses=AllowanceSerializer(many=True),
                   description="One allowance object, or a list of them (bulk).")
    def put(self, request, exam_id: int):
        exam = self._exam(request, exam_id)
        many = isinstance(request.data, list)
        serializer = AllowanceInSerializer(data=request.data, many=many)
        serializer.is_valid(raise_exception=True)
        items = serializer.validated_data if many else [serializer.validated_data]
        saved = services.put_allowances(exam, items, reason=f"{access.label(request.user)} set")
        data = AllowanceSerializer(saved, many=True).data
        return Response(data if many else data[0])

    @extend_schema(request=AllowanceDeleteSerializer,
                   parameters=[OpenApiParameter("lms_user_id", str)],
                   responses={200: dict})
    def delete(self, request, exam_id: int):
        exam = self._exam(request, exam_id)
        if request.query_params.get("lms_user_id"):
            ids = [request.query_params["lms_user_id"]]
        else:
            serializer = AllowanceDeleteSerializer(data=request.data)
            serializer.is_valid(raise_exception=True)
            ids = serializer.validated_data["lms_user_ids"]
        count = services.delete_allowances(exam, ids, reason=f"{access.label(request.user)} deleted")
        return Response({"deleted": count})
