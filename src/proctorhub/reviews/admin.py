"""Reviews and deliveries in the admin: read-only. Decisions go through the staff pages or the API
(``review_by_staff``), so history, events and emails are never skipped."""

from django.contrib import admin

from proctorhub.reviews.models import Delivery, Review, ReviewComment, VideoLinkView


class ReadOnlyAdmin(admin.ModelAdmin):
    """View only: no add, change or delete, whoever is signed in."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class CommentInline(admin.TabularInline):
    model = ReviewComment
    extra = 0
    fields = ("start", "stop", "duration", "status", "comment")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Review)
class ReviewAdmin(ReadOnlyAdmin):
    list_display = ("id", "attempt_id", "provider", "status", "is_staff_review", "modified_at")
    list_filter = ("status", "provider", "is_staff_review")
    search_fields = ("attempt_code", "attempt__external_id")
    # The encrypted video link is left out: the staff pages decrypt it, with an audit record.
    fields = ("attempt", "attempt_code", "provider", "status", "reviewed_by", "is_staff_review",
              "staff_reason", "payload_sha256", "video_key_id", "raw", "created_at", "modified_at")
    readonly_fields = fields
    inlines = [CommentInline]


@admin.register(ReviewComment)
class ReviewCommentAdmin(ReadOnlyAdmin):
    list_display = ("id", "review_id", "start", "stop", "status")
    list_filter = ("status",)


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ("id", "provider", "received_at", "outcome", "http_status", "attempt_id")
    list_filter = ("outcome", "provider")
    search_fields = ("attempt_code", "external_id")
    fields = ("provider", "received_at", "outcome", "http_status", "detail", "attempt",
              "attempt_code", "external_id", "payload_sha256", "video_key_id", "payload",
              "replayed_at")
    readonly_fields = fields


@admin.register(VideoLinkView)
class VideoLinkViewAdmin(ReadOnlyAdmin):
    list_display = ("id", "review_id", "user", "viewed_at")
