"""Health: is the database reachable, how big is the outbox backlog."""

from __future__ import annotations

from django.db import DatabaseError, connection
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from proctorhub import __version__
from proctorhub.api.base import ApiView
from proctorhub.notifications.outbox import pending_count


class HealthView(ApiView):
    @extend_schema(responses={200: dict, 503: dict})
    def get(self, request):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            pending = pending_count()
        except DatabaseError as exc:
            return Response({"status": "unhealthy", "database": f"unreachable: {type(exc).__name__}",
                             "version": __version__}, status=503)
        return Response({"status": "ok", "database": "ok", "outbox_pending": pending,
                         "version": __version__})
