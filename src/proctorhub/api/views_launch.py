"""The launch URL PSI's secure browser opens: marks the attempt ready and the browser as secure.

``GET /api/v1/providers/software_secure/launch/{attempt_code}`` carries no credentials: the
attempt code (160 random bits, only ever given to PSI) is the credential. The answer is a small
HTML page with no personal data, not cached, and sent without a referrer so the code never leaks.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse, JsonResponse
from django.utils.html import escape
from drf_spectacular.utils import OpenApiResponse, extend_schema

from proctorhub.api.base import ApiView
from proctorhub.attempts.lifecycle import ActedBy, apply_action
from proctorhub.attempts.models import Attempt
from proctorhub.attempts.statuses import Action, Actor, Status
from proctorhub.errors import IllegalTransition, NotFound

log = logging.getLogger(__name__)

PROVIDER = "software_secure"
#: The signed cookie marking this browser as PSI's secure browser; its value is the attempt id.
SECURE_BROWSER_COOKIE = "proctorhub_secure_browser"
SECURE_BROWSER_SALT = "proctorhub.secure-browser"
LAUNCHED_BY = ActedBy(Actor.SYSTEM, "psi launch url")
NOT_READY_YET = frozenset({Status.CREATED, Status.DOWNLOAD_SOFTWARE_CLICKED})
#: Unknown codes one client address may try per window before every launch from it gets a 429
#: (``[providers.software_secure] launch_unknown_codes_per_minute``; 0 switches the limit off).
DEFAULT_UNKNOWN_CODES_PER_MINUTE = 20
RATE_WINDOW_SECONDS = 60

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<title>{title}</title></head>
<body><main><h1>{title}</h1><p>{text}</p></main></body></html>
"""


class PSILaunchView(ApiView):
    authentication_classes: list = []
    permission_classes: list = []

    @extend_schema(responses={200: OpenApiResponse(description="HTML page"), 404: dict},
                   description="Opened by PSI's secure browser. Marks the attempt ready to start "
                               "and sets a signed cookie marking the browser as the secure one.")
    def get(self, request, attempt_code: str):
        limit, key, retry_after = _rate_limit(request)
        if limit and _misses(key) >= limit:
            log.warning("PSI launch rate limited", extra={"retry_after": retry_after})
            response = JsonResponse(
                {"error": "throttled", "detail": f"more than {limit} unknown attempt codes from "
                 f"this address in a minute; retry after {retry_after} seconds"}, status=429)
            response["Retry-After"] = str(retry_after)
            return response
        attempt = (Attempt.objects.filter(attempt_code=attempt_code, backend=PROVIDER,
                                          is_archived=False).only("id", "status").first())
        if attempt is None:
            if limit:
                _count_miss(key, retry_after)
            raise NotFound("no live PSI attempt has this code; it may have been reset — "
                           "start the exam again from the course")
        if attempt.status in NOT_READY_YET:
            try:
                attempt = apply_action(attempt.pk, Action.READY, LAUNCHED_BY,
                                       reason="PSI secure browser opened the launch URL")
            except IllegalTransition:
                # Another launch (or a status change) got there first; nothing left to do.
                attempt.refresh_from_db(fields=["status"])
        log.info("PSI launch", extra={"attempt_id": attempt.pk, "status": attempt.status})
        response = HttpResponse(_page(attempt.status), content_type="text/html; charset=utf-8")
        response.set_signed_cookie(
            SECURE_BROWSER_COOKIE, str(attempt.pk), salt=SECURE_BROWSER_SALT,
            httponly=True, samesite="Lax", secure=not settings.DEBUG,
        )
        response["Cache-Control"] = "no-store"
        response["Referrer-Policy"] = "no-referrer"
        return response


def _rate_limit(request) -> tuple[int, str, int]:
    """``(limit, cache key of this address's window, seconds until the window ends)``.

    Keyed by REMOTE_ADDR (not X-Forwarded-For, which a caller can forge); behind a proxy, set the
    proxy to pass the client address as REMOTE_ADDR."""
    conf = settings.CONFIG.providers.get(PROVIDER) or {}
    limit = int(conf.get("launch_unknown_codes_per_minute", DEFAULT_UNKNOWN_CODES_PER_MINUTE))
    now = time.time()
    window = int(now // RATE_WINDOW_SECONDS)
    retry_after = max(1, int((window + 1) * RATE_WINDOW_SECONDS - now + 0.999))
    return limit, f"psi-launch-miss:{request.META.get('REMOTE_ADDR', '')}:{window}", retry_after


def _misses(key: str) -> int:
    try:
        return int(cache.get(key) or 0)
    except Exception:  # a cache outage must not lock learners out: fail open, loudly
        log.exception("rate-limit cache unavailable")
        return 0


def _count_miss(key: str, ttl: int) -> None:
    try:
        if not cache.add(key, 1, timeout=ttl + 1):
            cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=ttl + 1)
    except Exception:
        log.exception("rate-limit cache unavailable")


def _page(status: str) -> str:
    if status == Status.READY_TO_START:
        title, text = ("Your exam is ready",
                       "The secure browser is set up. Return to the exam in this browser and "
                       "start it when you are ready.")
    else:
        title, text = ("Return to your exam",
                       "Return to the exam in this browser to continue.")
    return PAGE.format(title=escape(title), text=escape(text))
