"""Answer 503 with Retry-After, not 500, when the database is unreachable (pages outside the API;
the API's own exception handler does the same in JSON)."""

from __future__ import annotations

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        log.warning("database unavailable", extra={"path_kind": request.path.split("/")[1:2]})
        if request.path.startswith("/api/"):
            response = JsonResponse({"error": "unavailable",
                                     "detail": "the database is unavailable; retry shortly"},
                                    status=503)
        else:
            response = HttpResponse("<!doctype html><title>proctorhub: try again shortly</title>"
                                    "<h1>Try again shortly</h1><p>proctorhub cannot reach its "
                                    "database right now. Nothing you did was lost.</p>",
                                    status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
