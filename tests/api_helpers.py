"""Assertions shared by the API tests."""

from __future__ import annotations

from rest_framework.test import APIClient as HTTPClient


def assert_error(response, status: int, code: str | None = None) -> dict:
    """Every error is JSON {"error": code, "detail": message}."""
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = response.json()
    assert isinstance(body.get("error"), str) and body["error"], body
    assert isinstance(body.get("detail"), str) and body["detail"], body
    if code is not None:
        assert body["error"] == code, body
    return body


def wrong_token() -> HTTPClient:
    http = HTTPClient()
    http.credentials(HTTP_AUTHORIZATION="Bearer ph_not-a-real-token")
    return http
