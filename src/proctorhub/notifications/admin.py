from django.contrib import admin

from proctorhub.notifications.models import OutboxEvent


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "state", "tries", "next_attempt_at", "attempt_id")
    list_filter = ("state", "kind")
    readonly_fields = [f.name for f in OutboxEvent._meta.fields]
