"""Helpers for PSI callback tests: fixture payloads filled with real codes, attempts in place."""

from __future__ import annotations

import base64
import json
from pathlib import Path

from proctorhub.attempts.lifecycle import apply_action
from proctorhub.attempts.models import Attempt
from proctorhub.attempts.services import create_attempt
from tests.conftest import LEARNER, SYSTEM

FIXTURES = Path(__file__).parent / "fixtures" / "psi"
URL = "/api/v1/providers/software_secure/reviews"
BASIC = ("psi", "callback-pass")
TOKEN = "tok-" + "x" * 40
VIDEO_KEY = base64.b64encode(bytes(range(32))).decode()
LABELS = {"review_clean.json": ("Clean", "passed"),
          "review_rules_violation.json": ("Rules Violation", "violation"),
          "review_suspicious.json": ("Suspicious", "suspicious"),
          "review_not_reviewed.json": ("Not Reviewed", "not_reviewed")}


def psi_settings(**extra) -> dict:
    return {"callback_basic_auth": ":".join(BASIC), "callback_token": TOKEN,
            "video_review_key": VIDEO_KEY, **extra}


def payload(name: str, attempt: Attempt, *, locator: str | None = None) -> dict:
    text = (FIXTURES / name).read_text()
    text = text.replace("{attempt_code}", attempt.attempt_code)
    text = text.replace("{external_id}", locator if locator is not None else attempt.external_id)
    return json.loads(text)


def basic_header(user: str = BASIC[0], password: str = BASIC[1]) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def post(http, body, *, url: str = URL, auth: str | None = None, content_type="application/json"):
    data = body if isinstance(body, (bytes, str)) else json.dumps(body)
    headers = {"HTTP_AUTHORIZATION": auth if auth is not None else basic_header()}
    return http.generic("POST", url, data, content_type=content_type, **headers)


def psi_attempt(exam, learner, *, submitted: bool = True, locator: str = "SSI-Locator-42") -> Attempt:
    """A PSI attempt without calling PSI: made on the exam, then given PSI's ids directly."""
    attempt = create_attempt(exam=exam, user=learner, by=LEARNER)
    Attempt.objects.filter(pk=attempt.pk).update(backend="software_secure", external_id=locator)
    apply_action(attempt.pk, "ready", SYSTEM)
    apply_action(attempt.pk, "start", LEARNER)
    if submitted:
        apply_action(attempt.pk, "submit", LEARNER)
    return Attempt.objects.get(pk=attempt.pk)
