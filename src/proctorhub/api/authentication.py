"""Bearer tokens for server-to-server API clients (stored hashed)."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from rest_framework import authentication, exceptions

from proctorhub.accounts.models import APIClient, hash_token


def client_for_token(token: str) -> APIClient | None:
    if not token:
        return None
    client = APIClient.objects.filter(token_hash=hash_token(token), is_active=True).first()
    if client is not None:
        now = timezone.now()
        if client.last_used_at is None or now - client.last_used_at > timedelta(minutes=1):
            APIClient.objects.filter(pk=client.pk).update(last_used_at=now)
    return client


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        client = client_for_token(token.strip())
        if client is None:
            raise exceptions.AuthenticationFailed(
                "unknown or revoked API token; create one with 'proctorhub create-api-client'"
            )
        return client, client

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="proctorhub"'


try:
    from drf_spectacular.extensions import OpenApiAuthenticationExtension

    class BearerTokenScheme(OpenApiAuthenticationExtension):
        target_class = "proctorhub.api.authentication.BearerTokenAuthentication"
        name = "bearerAuth"

        def get_security_definition(self, auto_schema):
            return {"type": "http", "scheme": "bearer",
                    "description": "Token of an API client ('proctorhub create-api-client')."}
except ImportError:  # pragma: no cover
    pass
