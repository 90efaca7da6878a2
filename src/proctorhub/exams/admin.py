from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from proctorhub.exams.models import Allowance, Exam


@admin.register(Exam)
class ExamAdmin(SimpleHistoryAdmin):
    list_display = ("id", "course_id", "exam_name", "backend", "is_proctored", "is_active")
    list_filter = ("backend", "is_proctored", "is_practice_exam", "is_active")
    search_fields = ("course_id", "content_id", "exam_name")


@admin.register(Allowance)
class AllowanceAdmin(SimpleHistoryAdmin):
    list_display = ("id", "exam", "user", "additional_minutes", "time_multiplier")
