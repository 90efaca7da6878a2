"""PSI review callbacks: who may call, where the attempt ids are, and the review's meaning.

PSI posts its "Reviewer Data Transfer" JSON: ``examMetaData.examCode`` (our attempt code),
``examMetaData.ssiRecordLocator`` (its id), ``reviewStatus`` and ``webCamComments`` /
``desktopComments`` with ``comments``, ``eventStart``, ``eventFinish``, ``duration``,
``eventStatus``.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from typing import Any

from proctorhub.providers.base import (
    CallerRejected,
    InvalidReview,
    NormalizedReview,
    ReviewComment,
    tokens_match,
)

STATUS_MAP = {
    "Clean": "passed",
    "Rules Violation": "violation",
    "Suspicious": "suspicious",
    "Not Reviewed": "not_reviewed",
}
MAX_COMMENTS = 2000


def ids_from_payload(payload: Any) -> tuple[str, str]:
    if not isinstance(payload, dict):
        raise InvalidReview("the body must be a JSON object (PSI Reviewer Data Transfer)")
    meta = payload.get("examMetaData")
    if not isinstance(meta, dict):
        raise InvalidReview("examMetaData is missing or not an object")
    code, locator = meta.get("examCode"), meta.get("ssiRecordLocator")
    if not isinstance(code, str) or not code.strip():
        raise InvalidReview("examMetaData.examCode is missing: it must be the attempt code")
    if locator is not None and not isinstance(locator, str):
        raise InvalidReview("examMetaData.ssiRecordLocator must be a string")
    return code.strip()[:64], (locator or "").strip()[:255]


def _basic_credentials(request) -> str:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return ""
    try:
        return base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return ""


def _path_token(request) -> str:
    context = getattr(request, "parser_context", None) or {}
    return (context.get("kwargs") or {}).get("token") or ""


def _ip_allowed(request, allowed: list[str]) -> bool:
    try:
        addr = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    for entry in allowed:
        try:
            if addr in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def verify_caller(provider, request) -> None:
    """HTTP Basic credentials (from the callback URL) or the secret token path segment, plus an
    optional source-IP allowlist. With neither configured every caller is refused (fail closed)."""
    settings = provider.settings
    basic, token = settings.get("callback_basic_auth"), settings.get("callback_token")
    if not basic and not token:
        raise CallerRejected("the software_secure callback has no credentials configured: set "
                             "callback_basic_auth or callback_token in [providers.software_secure]")
    allowed_ips = settings.get("callback_allowed_ips") or []
    if allowed_ips and not _ip_allowed(request, list(allowed_ips)):
        raise CallerRejected("the caller's address is not in callback_allowed_ips")
    if basic and tokens_match(_basic_credentials(request), basic):
        return
    if token and tokens_match(_path_token(request), token):
        return
    raise CallerRejected("wrong or missing credentials: use the callback URL with its HTTP Basic "
                         "credentials or its token path segment")


def _seconds(item: dict, key: str, where: str) -> int:
    value = item.get(key, 0)
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise InvalidReview(f"{where}.{key} must be a number of seconds")
    try:
        number = int(float(value))
    except (TypeError, ValueError, OverflowError):
        raise InvalidReview(f"{where}.{key} must be a number of seconds, not {value!r}") from None
    if number < 0 or number > 10**7:
        raise InvalidReview(f"{where}.{key} is out of range ({number})")
    return number


def _comments(payload: dict, key: str) -> list[ReviewComment]:
    items = payload.get(key) or []
    if not isinstance(items, list):
        raise InvalidReview(f"{key} must be a list")
    out = []
    for i, item in enumerate(items):
        where = f"{key}[{i}]"
        if not isinstance(item, dict):
            raise InvalidReview(f"{where} must be an object")
        label = item.get("eventStatus")
        if not isinstance(label, str) or label not in STATUS_MAP:
            raise InvalidReview(f"unexpected eventStatus {label!r} in {where}: use one of "
                                f"{', '.join(STATUS_MAP)}")
        start, stop = _seconds(item, "eventStart", where), _seconds(item, "eventFinish", where)
        duration = (_seconds(item, "duration", where) if "duration" in item
                    else max(stop - start, 0))
        out.append(ReviewComment(start=start, stop=max(stop, start), duration=duration,
                                 comment=str(item.get("comments") or "")[:4000],
                                 status=STATUS_MAP[label]))
    return out


def normalize_review(provider, payload: Any) -> NormalizedReview:
    code, locator = ids_from_payload(payload)
    label = payload.get("reviewStatus")
    if not isinstance(label, str) or label not in STATUS_MAP:
        raise InvalidReview(f"unexpected reviewStatus {label!r}: use one of "
                            f"{', '.join(STATUS_MAP)}")
    comments = _comments(payload, "webCamComments") + _comments(payload, "desktopComments")
    if len(comments) > MAX_COMMENTS:
        raise InvalidReview(f"too many comments ({len(comments)} > {MAX_COMMENTS})")
    return NormalizedReview(status=STATUS_MAP[label], comments=comments, reviewed_by=None,
                            attempt_code=code, external_id=locator)
