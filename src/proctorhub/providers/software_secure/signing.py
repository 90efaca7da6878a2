"""PSI's "SSI" request signature for the exam-registration call.

The message signed is::

    <METHOD>\n
    \n
    <Content-Type>\n
    <Date>\n
    <body flattened to key:value lines>

and the header is ``Authorization: SSI <secret_key_id>:<base64(HMAC-SHA256(secret_key, message))>``.

The body is flattened with keys sorted at every level, nested objects prefixed ``parent.child``,
list items prefixed ``key.0``, ``key.1``; booleans as ``true``/``false``; every other empty value
(``None``, ``0``) as ``null`` — the empty string stays empty. An empty list or object adds no line.
For the registration payload (flat scalars plus the one-level ``orgExtra`` object) this produces
the same bytes as Open edX's software_secure backend, whose signatures PSI accepts; ``0`` becoming
``null`` is kept on purpose for that reason.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from django.utils.http import http_date

CONTENT_TYPE = "application/json"


def rfc1123(moment: datetime) -> str:
    """``Tue, 05 May 2026 14:03:00 GMT`` (always English, always GMT)."""
    return http_date(moment.timestamp())


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value == "":
        return ""
    if not value:
        return "null"
    return str(value)


def flatten(body: Mapping[str, Any], prefix: str = "") -> str:
    """The body as sorted ``key:value`` lines, each ending in a newline."""
    lines: list[str] = []
    for key in sorted(body):
        _flatten_value(f"{prefix}{key}", body[key], lines)
    return "".join(lines)


def _flatten_value(path: str, value: Any, lines: list[str]) -> None:
    if isinstance(value, Mapping):
        lines.append(flatten(value, f"{path}."))
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _flatten_value(f"{path}.{index}", item, lines)
    else:
        lines.append(f"{path}:{_scalar(value)}\n")


def message(method: str, content_type: str, date: str, body: Mapping[str, Any]) -> bytes:
    head = f"{method.upper()}\n\n{content_type}\n{date}\n"
    return head.encode("utf-8") + flatten(body).encode("utf-8")


def signature(secret_key: str, method: str, content_type: str, date: str,
              body: Mapping[str, Any]) -> str:
    digest = hmac.new(secret_key.encode("utf-8"), message(method, content_type, date, body),
                      hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def authorization(secret_key_id: str, secret_key: str, method: str, content_type: str,
                  date: str, body: Mapping[str, Any]) -> str:
    """The ``Authorization`` header value: ``SSI <key id>:<signature>``."""
    return f"SSI {secret_key_id}:{signature(secret_key, method, content_type, date, body)}"
