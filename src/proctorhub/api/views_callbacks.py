"""Provider callbacks. They authenticate with the provider's own verification, not API sessions."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from proctorhub.api.base import ApiView
from proctorhub.api.serializers import StandardReviewSerializer
from proctorhub.providers.registry import UnknownProvider, get_provider
from proctorhub.reviews.intake import receive_standard, record_unknown_provider


class StandardReviewCallbackView(ApiView):
    authentication_classes: list = []
    permission_classes: list = []

    @extend_schema(request=StandardReviewSerializer, responses={200: dict},
                   description="A provider posts its review of an attempt (standard shape). "
                               "Authenticate with a bearer token of an API client with scope "
                               "provider:<name> (the mock also accepts its callback_token).")
    def post(self, request, provider: str, external_id: str):
        try:
            prov = get_provider(provider)
        except UnknownProvider:
            answer = record_unknown_provider(provider)
            return Response(answer.body, status=answer.http_status)
        answer = receive_standard(prov, external_id, request)
        return Response(answer.body, status=answer.http_status)
