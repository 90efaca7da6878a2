"""Who may see what on the staff pages.

Every view is wrapped in :func:`staff_page`: anonymous visitors go to the sign-in page, signed-in
users who are staff of no course get 403, and everyone else gets ``request.staff_courses`` (``None``
for global staff, who see every course). Objects of other courses answer 404, so their existence
is not revealed; filters naming another course answer 403.
"""

from __future__ import annotations

import logging
from functools import wraps
from urllib.parse import quote

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render

from proctorhub.accounts.models import User
from proctorhub.accounts.selectors import is_course_staff, staff_course_ids
from proctorhub.attempts.models import Attempt
from proctorhub.exams.models import Exam

log = logging.getLogger(__name__)


def is_htmx(request: HttpRequest) -> bool:
    """A partial-update request from htmx (not a history restore, which wants the full page)."""
    return (request.headers.get("HX-Request") == "true"
            and request.headers.get("HX-History-Restore-Request") != "true")


def error_response(request: HttpRequest, status: int, message: str) -> HttpResponse:
    """A full error page, or for htmx a fragment shown in the page's status region."""
    if is_htmx(request):
        response = render(request, "dashboard/_flash_msg.html",
                          {"flash": message, "flash_error": True}, status=status)
        response["HX-Retarget"] = "#flash"
        response["HX-Reswap"] = "innerHTML"
        return response
    return render(request, "dashboard/error.html", {"status": status, "message": message},
                  status=status)


def staff_page(view):
    """Sign-in required; staff of at least one course (or global staff); errors as pages."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        user = request.user
        if not user.is_authenticated or not isinstance(user, User):
            login = f"{settings.LOGIN_URL}?next={quote(request.get_full_path())}"
            if is_htmx(request):
                response = HttpResponse(status=204)
                response["HX-Redirect"] = login
                return response
            return HttpResponseRedirect(login)
        courses = staff_course_ids(user)
        if courses is not None and not courses:
            return error_response(request, 403, "You are not staff of any course. Ask an "
                                  "administrator to give you a course role.")
        request.staff_courses = courses
        try:
            return view(request, *args, **kwargs)
        except Http404:
            return error_response(request, 404, "Not found, or not in one of your courses.")
        except PermissionDenied as exc:
            return error_response(request, 403, str(exc) or "You may not do this.")

    return wrapper


def check_course(request: HttpRequest, course_id: str) -> None:
    """403 unless the user may act on ``course_id`` (used for filters naming a course)."""
    courses = request.staff_courses
    if courses is not None and course_id not in courses:
        raise PermissionDenied(f"You are not staff of course {course_id}.")


def visible_attempt(request: HttpRequest, attempt_id: int, *related: str) -> Attempt:
    """The attempt if it belongs to one of the user's courses, else 404."""
    attempt = (Attempt.objects.select_related("exam", "user", *related)
               .filter(pk=attempt_id).first())
    if attempt is None or not is_course_staff(request.user, attempt.exam.course_id):
        if attempt is not None:
            log.info("staff page refused: other course",
                     extra={"user_id": request.user.pk, "attempt_id": attempt_id})
        raise Http404("no such attempt in your courses")
    return attempt


def visible_exam(request: HttpRequest, exam_id: int) -> Exam:
    exam = Exam.objects.filter(pk=exam_id).first()
    if exam is None or not is_course_staff(request.user, exam.course_id):
        raise Http404("no such exam in your courses")
    return exam


def scoped(queryset, courses: list[str] | None, field: str = "exam__course_id"):
    """Restrict ``queryset`` to the user's courses (``None``: all)."""
    return queryset if courses is None else queryset.filter(**{f"{field}__in": courses})
