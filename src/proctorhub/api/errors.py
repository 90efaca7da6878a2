"""Every error leaves as JSON ``{"error": code, "detail": message}`` — never a bare 500 page."""

from __future__ import annotations

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response

from proctorhub.errors import DomainError

log = logging.getLogger(__name__)

#: Seconds a client should wait before retrying when the database is unreachable.
RETRY_AFTER_SECONDS = 5

_CODES = {
    exceptions.NotAuthenticated: "unauthenticated",
    exceptions.AuthenticationFailed: "unauthenticated",
    exceptions.PermissionDenied: "forbidden",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.ParseError: "malformed_body",
    exceptions.Throttled: "throttled",
}


def error_body(code: str, detail: str, **extra) -> dict:
    return {"error": code, "detail": detail, **extra}


def _flatten(detail, prefix="") -> list[str]:
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            name = key if key != "non_field_errors" else ""
            out += _flatten(value, f"{prefix}{name}." if name else prefix)
        return out
    if isinstance(detail, list):
        out = []
        for i, value in enumerate(detail):
            out += _flatten(value, f"{prefix}{i}." if isinstance(value, dict) else prefix)
        return out
    return [f"{prefix.rstrip('.')}: {detail}" if prefix else str(detail)]


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response(error_body(exc.code, exc.detail), status=exc.http_status)
    if isinstance(exc, (OperationalError, InterfaceError)):
        # The database went away (restart, failover, a killed connection) or refused for a
        # moment (deadlock, lock timeout): the transaction was rolled back, so the request can
        # simply be retried. Django drops the broken connection at the end of the request.
        log.warning("database unavailable: %s", type(exc).__name__)
        return Response(error_body("unavailable", "the database is unavailable for a moment; "
                                   f"nothing was changed — retry in {RETRY_AFTER_SECONDS} seconds"),
                        status=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body("too_large", "request body is larger than allowed"),
                        status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE)
    if isinstance(exc, Http404):
        return Response(error_body("not_found", str(exc) or "not found"), status=404)
    if isinstance(exc, DjangoPermissionDenied):
        return Response(error_body("forbidden", str(exc) or "forbidden"), status=403)
    if isinstance(exc, DjangoValidationError):
        return Response(error_body("invalid", "; ".join(exc.messages)), status=400)
    if isinstance(exc, exceptions.ValidationError):
        return Response(error_body("invalid", "; ".join(_flatten(exc.detail)), fields=exc.detail),
                        status=400)
    if isinstance(exc, exceptions.APIException):
        code = next((c for t, c in _CODES.items() if isinstance(exc, t)), "error")
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        return Response(error_body(code, str(exc.detail)), status=exc.status_code, headers=headers)
    return None


def json_404(request, exception=None):
    return JsonResponse(error_body("not_found", f"no such path {request.path}"), status=404)


def json_500(request):
    return JsonResponse(error_body("internal", "unexpected server error; it has been logged"),
                        status=500)
