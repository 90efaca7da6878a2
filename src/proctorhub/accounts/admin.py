from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from simple_history.admin import SimpleHistoryAdmin

from proctorhub.accounts.models import APIClient, CourseRole, User


@admin.register(User)
class ProctorhubUserAdmin(UserAdmin, SimpleHistoryAdmin):
    list_display = ("id", "username", "lms_user_id", "is_staff")
    fieldsets = UserAdmin.fieldsets + (("LMS", {"fields": ("lms_user_id", "full_name", "anonymous_id")}),)


@admin.register(CourseRole)
class CourseRoleAdmin(SimpleHistoryAdmin):
    list_display = ("user", "course_id", "role")
    list_filter = ("role",)


@admin.register(APIClient)
class APIClientAdmin(SimpleHistoryAdmin):
    list_display = ("name", "token_prefix", "scopes", "is_active", "last_used_at")
    readonly_fields = ("token_hash", "token_prefix", "created_at", "last_used_at")
