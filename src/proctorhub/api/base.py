"""The base class of every API v1 view."""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser
from rest_framework.views import APIView

from proctorhub.api.access import is_client
from proctorhub.errors import InvalidInput


class ApiView(APIView):
    def perform_authentication(self, request) -> None:
        super().perform_authentication(request)
        if is_client(request.user):
            # DRF copies the principal onto the plain HttpRequest, where simple_history's
            # HistoryRequestMiddleware picks it up as the history user of every row written in
            # the request; an API client is not a User, so the write would fail with a 500.
            # Changes by API clients carry the client in their change reason instead.
            request._request.user = AnonymousUser()

    def initial(self, request, *args, **kwargs) -> None:
        super().initial(request, *args, **kwargs)
        # PostgreSQL text cannot hold NUL; refuse it here rather than fail in the query.
        for name, value in kwargs.items():
            if isinstance(value, str) and "\x00" in value:
                raise InvalidInput(f"{name} in the path must not contain NUL characters")
        for name, values in request.query_params.lists():
            if "\x00" in name or any("\x00" in v for v in values):
                raise InvalidInput(f"query parameter {name!r} must not contain NUL characters")
