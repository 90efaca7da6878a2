"""The body of PSI's exam-registration request, built from a not-yet-saved attempt."""

from __future__ import annotations

import base64
import unicodedata
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from Cryptodome.Cipher import DES3
from Cryptodome.Util.Padding import pad
from django.conf import settings

from proctorhub.attempts import timing
from proctorhub.exams.models import Allowance
from proctorhub.providers.base import ProviderError
from proctorhub.providers.software_secure.signing import rfc1123

if TYPE_CHECKING:
    from proctorhub.attempts.models import Attempt

#: Characters PSI refuses in exam names; each becomes ``_``.
INVALID_NAME_CHARS = "[]<>#:|!?/'\"*\\"
DEFAULT_EXAM_NAME = "Proctored Exam"
SSI_PRODUCT = "rp-now"


def exam_name(name: str) -> str:
    """Fold to ASCII (NFKD, dropping what has no ASCII form) and replace refused characters."""
    folded = unicodedata.normalize("NFKD", name or "").encode("ascii", "ignore").decode("ascii")
    for char in INVALID_NAME_CHARS:
        folded = folded.replace(char, "_")
    return folded or DEFAULT_EXAM_NAME


def split_full_name(full_name: str) -> tuple[str, str]:
    """First name up to the first space, last name the rest (``""`` for a single word)."""
    first, _, last = (full_name or "").partition(" ")
    return first, last


def encrypt_password(crypto_key: str, attempt_code: str) -> str:
    """base64(3DES-ECB(crypto_key, attempt_code)) with PKCS#7 padding, as PSI expects."""
    key = crypto_key.encode("utf-8")
    try:
        cipher = DES3.new(key, DES3.MODE_ECB)
    except ValueError as exc:
        raise ProviderError(
            "[providers.software_secure] crypto_key is not a usable 3DES key "
            f"(it must be 16 or 24 bytes and not degenerate to single DES): {exc}"
        ) from None
    return base64.b64encode(cipher.encrypt(pad(attempt_code.encode("utf-8"), DES3.block_size))
                            ).decode("ascii")


def flag(value: Any) -> bool:
    """A TOML boolean, tolerating the strings operators sometimes write ("true", "0")."""
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def launch_url(attempt_code: str) -> str:
    return f"{settings.CONFIG.base_url}/api/v1/providers/software_secure/launch/{attempt_code}"


def reviewer_notes(attempt: Attempt, allowance: Allowance | None) -> str:
    notes = attempt.exam.review_policy or ""
    exception = allowance.review_policy_exception if allowance is not None else ""
    return f"{notes}; {exception}" if exception else notes


def build_body(attempt: Attempt, config: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The JSON body for ``attempt`` (saved or not: only exam, user and attempt_code are used)."""
    exam, user = attempt.exam, attempt.user
    allowance = Allowance.objects.filter(exam=exam, user=user).first()
    duration = timing.allowed_minutes(attempt, now)
    first_name, last_name = split_full_name(user.full_name)
    org_extra: dict[str, Any] = {
        "examStartDate": rfc1123(now),
        "examEndDate": None if duration is None else rfc1123(now + timedelta(minutes=duration)),
        "noOfStudents": 1,
        "examID": exam.pk,
        "courseID": exam.course_id,
        "firstName": first_name,
        "lastName": last_name,
    }
    if flag(config.get("send_email")):
        org_extra["email"] = user.email
    return {
        "examCode": attempt.attempt_code,
        "organization": config.get("organization", ""),
        "duration": duration,
        "reviewedExam": not attempt.is_sample_attempt,
        "reviewerNotes": reviewer_notes(attempt, allowance),
        "examPassword": encrypt_password(config["crypto_key"], attempt.attempt_code),
        "examSponsor": config.get("exam_sponsor", ""),
        "examName": exam_name(exam.exam_name),
        "ssiProduct": SSI_PRODUCT,
        "examUrl": launch_url(attempt.attempt_code),
        "orgExtra": org_extra,
    }
