from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from proctorhub.attempts.models import Attempt


@admin.register(Attempt)
class AttemptAdmin(SimpleHistoryAdmin):
    list_display = ("id", "exam", "user", "status", "backend", "is_archived", "created_at")
    list_filter = ("status", "backend", "is_archived")
    search_fields = ("attempt_code", "external_id", "user__username")
    readonly_fields = ("attempt_code", "status")
