"""Review video links: kept only encrypted (AES-256-GCM), with the key id so keys can rotate.

Keys come from the provider's settings: ``video_review_key`` (base64 of 32 bytes) encrypts;
``video_review_old_keys`` (a list of base64 keys) still decrypt. Outside production, with no key
configured, a key derived from SECRET_KEY is used so the demo works.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings

from proctorhub.errors import DomainError

log = logging.getLogger(__name__)


class VideoKeyError(DomainError):
    """The configured keys cannot open this link: an operator must add the old key."""

    code = "video_key_unavailable"
    http_status = 503


def _decode(key_b64: str) -> bytes:
    try:
        key = base64.b64decode(key_b64, validate=True)
    except (ValueError, TypeError):
        raise VideoKeyError("video_review_key must be base64 of 32 bytes") from None
    if len(key) != 32:
        raise VideoKeyError(f"video_review_key must decode to 32 bytes, not {len(key)}")
    return key


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"proctorhub-video-key" + key).hexdigest()[:16]


def _keys(provider) -> list[bytes]:
    keys = []
    if provider.settings.get("video_review_key"):
        keys.append(_decode(provider.settings["video_review_key"]))
    keys += [_decode(k) for k in provider.settings.get("video_review_old_keys", [])]
    if not keys and not settings.CONFIG.is_production:
        keys.append(hmac.new(settings.SECRET_KEY.encode(), b"video-review-key", hashlib.sha256)
                    .digest())
    return keys


def encrypt(provider, link: str) -> tuple[str, str]:
    """Return ``(key_id, token)``; ``("", "")`` when no key is configured (the link is dropped)."""
    keys = _keys(provider)
    if not keys:
        log.warning("no video_review_key configured; video link dropped",
                    extra={"provider": provider.name})
        return "", ""
    nonce = os.urandom(12)
    sealed = AESGCM(keys[0]).encrypt(nonce, link.encode(), provider.name.encode())
    return key_id(keys[0]), base64.urlsafe_b64encode(nonce + sealed).decode()


def decrypt(provider, kid: str, token: str) -> str:
    for key in _keys(provider):
        if key_id(key) == kid:
            raw = base64.urlsafe_b64decode(token.encode())
            try:
                return AESGCM(key).decrypt(raw[:12], raw[12:], provider.name.encode()).decode()
            except InvalidTag:
                raise VideoKeyError(f"the video link does not open with key {kid}") from None
    raise VideoKeyError(f"no configured video key has id {kid}; add it to video_review_old_keys")
