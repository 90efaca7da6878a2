"""Provider callbacks. They authenticate with the provider's own verification, not API sessions."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.parsers import BaseParser
from rest_framework.response import Response

from proctorhub.api.base import ApiView
from proctorhub.api.errors import RETRY_AFTER_SECONDS
from proctorhub.api.serializers import StandardReviewSerializer
from proctorhub.providers.registry import UnknownProvider, get_provider
from proctorhub.reviews.intake import Route, receive, record_unknown_provider


class RawBodyParser(BaseParser):
    """Accept any Content-Type: the callback reads the raw body as JSON itself."""

    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        return {}


class StandardReviewCallbackView(ApiView):
    authentication_classes: list = []
    permission_classes: list = []
    parser_classes = [RawBodyParser]

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
        answer = receive(prov, request, Route(url_external_id=external_id))
        return _answer(answer)


class PSIReviewCallbackView(ApiView):
    """PSI (Software Secure RPNow) "Reviewer Data Transfer" callback; answers ``OK``."""

    authentication_classes: list = []
    permission_classes: list = []
    parser_classes = [RawBodyParser]

    @extend_schema(request={"application/json": dict},
                   responses={200: OpenApiResponse(description="OK"), 400: dict, 401: dict,
                              409: dict, 413: dict, 503: dict},
                   description="Configure PSI with this URL, with HTTP Basic credentials "
                               "(callback_basic_auth) or the token path segment (callback_token).")
    def post(self, request, token: str | None = None):
        from proctorhub.providers.software_secure import reviews as psi

        provider = get_provider("software_secure")
        answer = receive(provider, request, Route(ids_from_payload=psi.ids_from_payload,
                                                  orphan_status=400))
        if answer.http_status == 200:
            return HttpResponse("OK", content_type="text/plain")
        return _answer(answer)


def _answer(answer) -> Response:
    """The JSON answer; a 503 (busy or unavailable: nothing applied) says when to retry."""
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if answer.http_status == 503 else None
    return Response(answer.body, status=answer.http_status, headers=headers)


class PSIReviewCallbackTokenView(PSIReviewCallbackView):
    """The same callback with the secret token as a path segment (its own OpenAPI operation)."""

    @extend_schema(operation_id="psi_review_callback_with_token", request={"application/json": dict},
                   responses={200: OpenApiResponse(description="OK"), 400: dict, 401: dict,
                              409: dict, 413: dict, 503: dict})
    def post(self, request, token: str | None = None):
        return super().post(request, token=token)
