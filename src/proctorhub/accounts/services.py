"""Writes for people and API clients."""

from __future__ import annotations

import re

from django.db import transaction

from proctorhub.accounts.models import APIClient, CourseRole, User, hash_token

SCOPE_RE = re.compile(r"^(lms|admin|provider:[a-z0-9_\-]+)$")


class InvalidScope(ValueError):
    pass


def create_api_client(name: str, scopes: list[str]) -> tuple[APIClient, str]:
    """Create a client and return it with its token; the token is not stored, only its hash."""
    bad = [s for s in scopes if not SCOPE_RE.match(s)]
    if bad or not scopes:
        raise InvalidScope(
            f"invalid scope(s) {bad or scopes!r}: use lms, admin or provider:<name>"
        )
    token = APIClient.new_token()
    client = APIClient.objects.create(
        name=name,
        token_hash=hash_token(token),
        token_prefix=token[:10],
        scopes=sorted(set(scopes)),
    )
    return client, token


@transaction.atomic
def sync_learner(*, lms_user_id: str, username: str, email: str = "", full_name: str = "") -> User:
    """Create or update the local copy of an LMS user, keyed by ``lms_user_id``."""
    user = User.objects.select_for_update().filter(lms_user_id=lms_user_id).first()
    if user is None:
        user = User(lms_user_id=lms_user_id, username=_free_username(username, None))
        user.set_unusable_password()
    changed = user.pk is None
    for field, value in (("email", email), ("full_name", full_name)):
        if getattr(user, field) != value:
            setattr(user, field, value)
            changed = True
    if user.username != username:
        user.username = _free_username(username, user.pk)
        changed = True
    if changed:
        user._change_reason = "synced from the LMS"
        user.save()
    return user


def _free_username(username: str, own_pk: int | None) -> str:
    """LMS usernames may collide with local staff accounts; suffix until free."""
    limit = User._meta.get_field("username").max_length
    candidate, n = username[:limit], 1
    while User.objects.filter(username=candidate).exclude(pk=own_pk).exists():
        n += 1
        suffix = f"~{n}"
        candidate = username[: limit - len(suffix)] + suffix
    return candidate


def grant_course_role(user: User, course_id: str, role: str = CourseRole.Role.STAFF) -> CourseRole:
    obj, _ = CourseRole.objects.update_or_create(user=user, course_id=course_id, defaults={"role": role})
    return obj
