"""The ``software_secure`` provider: PSI (formerly Software Secure) RPNow.

Attempts are registered with PSI's exam-registration endpoint (a signed JSON POST, see
:mod:`.signing` and :mod:`.registration`); PSI's secure browser then opens our launch URL
(``/api/v1/providers/software_secure/launch/{attempt_code}``), and PSI posts its review to our
callback (:mod:`.reviews`). Settings come from ``[providers.software_secure]`` with the key names
Open edX uses for this backend.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import requests
from django.utils import timezone

from proctorhub.providers.base import NormalizedReview, Provider, ProviderError
from proctorhub.providers.software_secure import registration, signing

if TYPE_CHECKING:
    from rest_framework.request import Request

    from proctorhub.attempts.models import Attempt

log = logging.getLogger(__name__)

REQUIRED_KEYS = ("secret_key_id", "secret_key", "crypto_key", "exam_register_endpoint")
DEFAULT_TIMEOUT_SECONDS = 10.0


class SoftwareSecureProvider(Provider):
    name = "software_secure"
    verbose_name = "PSI RPNow (Software Secure)"
    requires_software = True
    secret_keys = ("secret_key", "crypto_key", "video_review_key", "video_review_old_keys",
                   "callback_basic_auth", "callback_token")

    # --- configuration -------------------------------------------------------------------------
    def missing_settings(self) -> list[str]:
        return [key for key in REQUIRED_KEYS if not self.settings.get(key)]

    @property
    def timeout(self) -> float:
        try:
            return float(self.settings.get("timeout_seconds", DEFAULT_TIMEOUT_SECONDS))
        except (TypeError, ValueError):
            raise ProviderError("[providers.software_secure] timeout_seconds must be a number "
                                f"of seconds, not {self.settings.get('timeout_seconds')!r}") from None

    # --- registration --------------------------------------------------------------------------
    def register_attempt(self, attempt: Attempt) -> str:
        """POST the signed registration to PSI; return its ``ssiRecordLocator``."""
        missing = self.missing_settings()
        if missing:
            raise ProviderError("[providers.software_secure] is missing "
                                f"{', '.join(missing)}; set them in the configuration file")
        timeout = self.timeout
        now = timezone.now()
        body = registration.build_body(attempt, self.settings, now)
        date = signing.rfc1123(now)
        headers = {
            "Content-Type": signing.CONTENT_TYPE,
            "Date": date,
            "Authorization": signing.authorization(
                str(self.settings["secret_key_id"]), str(self.settings["secret_key"]),
                "POST", signing.CONTENT_TYPE, date, body),
        }
        ids = {"exam_id": attempt.exam.pk, "user_id": attempt.user.pk}
        url = self.settings["exam_register_endpoint"]
        try:
            response = requests.post(url, json=body, headers=headers, timeout=timeout)
        except requests.Timeout:
            log.warning("PSI registration timed out", extra={**ids, "timeout": timeout})
            raise ProviderError(f"PSI did not answer within {timeout:g} seconds") from None
        except requests.RequestException as exc:
            log.warning("PSI registration failed to connect",
                        extra={**ids, "error": type(exc).__name__})
            raise ProviderError(f"could not reach PSI at {url} ({type(exc).__name__})") from None
        if not 200 <= response.status_code < 300:
            log.warning("PSI refused registration", extra={**ids, "http_status": response.status_code})
            raise ProviderError(f"PSI answered HTTP {response.status_code}"
                                f"{_snippet(response.text, attempt.attempt_code)}")
        try:
            answer = response.json()
        except ValueError:
            answer = None
        locator = answer.get("ssiRecordLocator") if isinstance(answer, dict) else None
        if not locator or not isinstance(locator, (str, int)):
            log.warning("PSI answer without ssiRecordLocator",
                        extra={**ids, "http_status": response.status_code})
            raise ProviderError(f"PSI answered HTTP {response.status_code} without an "
                                "ssiRecordLocator; the attempt was not registered")
        log.info("PSI registered attempt", extra=ids)
        return str(locator)

    # --- description ---------------------------------------------------------------------------
    def instructions(self) -> list[str]:
        steps = ["This exam is proctored by PSI RPNow: you take it in PSI's secure browser."]
        url = self.settings.get("software_download_url")
        if url:
            steps.append(f"Download and install the PSI software from {url}.")
        steps += [
            "Start the PSI software and follow its identity and room checks; it opens the exam "
            "for you and marks your attempt ready to start.",
            "Return to the exam in the secure browser and start it there.",
        ]
        return steps

    # --- callbacks (implemented in reviews.py) -------------------------------------------------
    def verify_caller(self, request: Request) -> None:
        from proctorhub.providers.software_secure import reviews

        reviews.verify_caller(self, request)

    def normalize_review(self, payload: dict[str, Any]) -> NormalizedReview:
        from proctorhub.providers.software_secure import reviews

        return reviews.normalize_review(self, payload)


def _snippet(text: str, secret: str) -> str:
    """A short, single-line excerpt of PSI's answer for the error detail, secret removed."""
    text = " ".join((text or "").split())
    if secret:
        text = text.replace(secret, "<attempt code>")
    return f": {text[:200]}" if text else ""


__all__ = ["SoftwareSecureProvider"]
