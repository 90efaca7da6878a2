from django.contrib import admin, messages

from proctorhub.notifications import maintenance
from proctorhub.notifications.models import OutboxDelivery, OutboxEvent, WebhookEndpoint


class DeliveryInline(admin.TabularInline):
    model = OutboxDelivery
    extra = 0
    can_delete = False
    fields = ("destination", "state", "tries", "next_attempt_at", "last_error", "idempotency_key")
    readonly_fields = fields


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "state", "tries", "next_attempt_at", "attempt_id")
    list_filter = ("state", "kind")
    readonly_fields = [f.name for f in OutboxEvent._meta.fields]
    inlines = [DeliveryInline]


@admin.register(OutboxDelivery)
class OutboxDeliveryAdmin(admin.ModelAdmin):
    list_display = ("id", "event_id", "destination", "state", "tries", "next_attempt_at",
                    "attempt_id", "short_error")
    list_filter = ("state", "destination")
    readonly_fields = [f.name for f in OutboxDelivery._meta.fields]
    actions = ["retry", "replay"]

    @admin.display(description="last error")
    def short_error(self, obj):
        return obj.last_error[:80]

    @admin.action(description="Retry now (pending and dead rows)")
    def retry(self, request, queryset):
        n = maintenance.retry(queryset)
        self.message_user(request, f"{n} row(s) due now", messages.SUCCESS)

    @admin.action(description="Replay (re-send delivered rows, same webhook-id)")
    def replay(self, request, queryset):
        n = maintenance.replay(queryset)
        self.message_user(request, f"{n} row(s) will be sent again", messages.SUCCESS)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "url", "event_kinds", "is_active")
    list_filter = ("is_active",)
    readonly_fields = ("secret", "created_at")
