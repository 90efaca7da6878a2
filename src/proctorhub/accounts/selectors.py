"""Reads about people and their rights."""

from __future__ import annotations

from proctorhub.accounts.models import CourseRole, User


def is_course_staff(user: User, course_id: str) -> bool:
    if not getattr(user, "is_authenticated", False) or not isinstance(user, User):
        return False
    if user.is_superuser or user.is_staff:
        return True
    return CourseRole.objects.filter(user=user, course_id=course_id).exists()


def staff_course_ids(user: User) -> list[str] | None:
    """Courses a staff user may act on; ``None`` means all (global staff)."""
    if user.is_superuser or user.is_staff:
        return None
    return list(CourseRole.objects.filter(user=user).values_list("course_id", flat=True))
