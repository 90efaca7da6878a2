"""The ``mock`` provider: a simulated proctoring service for the demo and the tests.

It registers attempts locally (``MOCK-…`` ids) and, once an attempt is submitted, posts a review
back through the real HTTP callback ``/api/v1/providers/mock/attempts/{external_id}/reviewed``
after ``review_delay_seconds``, with ``review_outcome`` (a review status, or ``random``).
The post leaves through the outbox, so it happens after commit and is retried if it fails.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import secrets
from datetime import timedelta
from typing import Any

import requests
from django.conf import settings

from proctorhub.attempts.statuses import Status
from proctorhub.notifications.dispatch import GiveUp, handles
from proctorhub.providers.base import (
    REVIEW_STATUSES,
    CallerRejected,
    FollowUp,
    Provider,
    bearer_token,
    tokens_match,
)

COMMENTS = {
    "passed": [],
    "violation": [{"comment": "Notes on desk", "status": "violation", "start": 30, "stop": 35}],
    "suspicious": [
        {"comment": "Candidate left the room", "status": "suspicious", "start": 812, "stop": 901}
    ],
    "not_reviewed": [{"comment": "Video unreadable", "status": "not_reviewed", "start": 0, "stop": 0}],
}


class MockProvider(Provider):
    name = "mock"
    verbose_name = "Mock proctoring (simulated, for demos and tests)"
    requires_software = False
    secret_keys = ("callback_token",)

    @property
    def callback_token(self) -> str:
        token = self.settings.get("callback_token")
        if token:
            return token
        # Derived from the service secret, so the demo needs no extra configuration.
        return hmac.new(settings.SECRET_KEY.encode(), b"mock-callback", hashlib.sha256).hexdigest()

    @property
    def delay(self) -> timedelta:
        return timedelta(seconds=float(self.settings.get("review_delay_seconds", 5)))

    def outcome(self) -> str:
        wanted = self.settings.get("review_outcome", "random")
        if wanted in REVIEW_STATUSES:
            return wanted
        return random.choice(REVIEW_STATUSES)

    def register_attempt(self, attempt) -> str:
        return f"MOCK-{secrets.token_hex(8).upper()}"

    def follow_ups(self, attempt, old: str, new: str) -> list[FollowUp]:
        if new != Status.SUBMITTED or not attempt.taking_as_proctored:
            return []
        return [FollowUp(kind="mock.post_review",
                         payload={"external_id": attempt.external_id, "status": self.outcome()},
                         delay=self.delay)]

    def instructions(self) -> list[str]:
        return ["Simulated proctoring: nothing to install. A review arrives after you submit."]

    def verify_caller(self, request) -> None:
        if tokens_match(bearer_token(request), self.callback_token):
            return
        try:
            super().verify_caller(request)
        except CallerRejected:
            raise CallerRejected(
                "send 'Authorization: Bearer <token>': the mock's callback_token, "
                "or an API client token with scope provider:mock"
            ) from None

    def review_body(self, status: str) -> dict[str, Any]:
        return {"status": status, "reviewed_by": None, "comments": COMMENTS[status]}


@handles("mock.post_review")
def post_review(event) -> None:
    """Outbox channel: post the simulated review to our own callback over HTTP."""
    from proctorhub.providers.registry import get_provider

    provider = get_provider("mock")
    url = (f"{settings.CONFIG.base_url}/api/v1/providers/mock/attempts/"
           f"{event.payload['external_id']}/reviewed")
    response = requests.post(
        url,
        json=provider.review_body(event.payload["status"]),
        headers={"Authorization": f"Bearer {provider.callback_token}",
                 "Idempotency-Key": event.idempotency_key},
        timeout=float(provider.settings.get("timeout_seconds", 10)),
    )
    if response.status_code >= 500 or response.status_code in (408, 429):
        raise RuntimeError(f"callback answered {response.status_code}")
    if response.status_code >= 400:
        # A refusal will not change on retry; keep it visible as the last error, then stop.
        raise GiveUp(f"callback refused the review: {response.status_code} {response.text[:300]}")
