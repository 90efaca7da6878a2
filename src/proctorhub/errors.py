"""Domain errors. Each carries the code and HTTP status the API answers with."""

from __future__ import annotations


class DomainError(Exception):
    code = "error"
    http_status = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(DomainError):
    code = "invalid"
    http_status = 400


class NotFound(DomainError):
    code = "not_found"
    http_status = 404


class Forbidden(DomainError):
    code = "forbidden"
    http_status = 403


class Conflict(DomainError):
    code = "conflict"
    http_status = 409


class IllegalTransition(Conflict):
    code = "illegal_transition"


class ProviderFailed(DomainError):
    code = "provider_failed"
    http_status = 502
