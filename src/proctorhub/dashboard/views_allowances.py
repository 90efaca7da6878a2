"""Allowances of one exam: see them, grant them to one learner or a pasted list, remove them.

Writes go through :func:`proctorhub.exams.services.put_allowances` / ``delete_allowances``.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from proctorhub.dashboard.access import is_htmx, staff_page, visible_exam
from proctorhub.dashboard.forms import AllowanceForm, RemoveAllowanceForm
from proctorhub.dashboard.selectors import allowances_for, learners_by_username
from proctorhub.errors import DomainError
from proctorhub.exams.models import Allowance, Exam
from proctorhub.exams.services import delete_allowances, put_allowances


def _render(request: HttpRequest, exam: Exam, *, form: AllowanceForm | None = None,
            status: int = 200, flash: str = "", flash_error: bool = False) -> HttpResponse:
    context = {"nav": "exams", "exam": exam, "allowances": allowances_for(exam),
               "form": form or AllowanceForm(),
               "flash": flash, "flash_error": flash_error}
    if is_htmx(request):
        context["oob"] = True
        return render(request, "dashboard/_allowances_body.html", context, status=status)
    return render(request, "dashboard/allowances.html", context, status=status)


def _done(request: HttpRequest, exam: Exam, message: str) -> HttpResponse:
    if is_htmx(request):
        return _render(request, exam, flash=message)
    messages.success(request, message)
    return redirect("dashboard:allowances", exam_id=exam.pk)


def _reason(request: HttpRequest, verb: str, text: str = "") -> str:
    base = f"user:{request.user.pk} (staff) {verb} on the staff pages"
    return f"{base}; {text.strip()}" if text.strip() else base


@require_GET
@staff_page
def allowances(request: HttpRequest, exam_id: int) -> HttpResponse:
    return _render(request, visible_exam(request, exam_id))


@require_POST
@staff_page
def grant(request: HttpRequest, exam_id: int) -> HttpResponse:
    exam = visible_exam(request, exam_id)
    form = AllowanceForm(request.POST)
    if not form.is_valid():
        return _render(request, exam, form=form, status=400,
                       flash="Nothing was granted: correct the form.", flash_error=True)
    data = form.cleaned_data
    found, unknown = learners_by_username(data["usernames"])
    if unknown:
        form.add_error("usernames", "Unknown learner(s): " + ", ".join(unknown[:50])
                       + (" …" if len(unknown) > 50 else "") + ". Learners become known when the "
                       "LMS first sends them; nothing was granted.")
        return _render(request, exam, form=form, status=400,
                       flash="Nothing was granted: some usernames are unknown.", flash_error=True)
    items = [{"user": {"lms_user_id": u.lms_user_id, "username": u.username, "email": u.email,
                       "full_name": u.full_name},
              "additional_minutes": data["additional_minutes"] or 0,
              "time_multiplier": data["time_multiplier"],
              "review_policy_exception": data["review_policy_exception"]}
             for u in (found[name] for name in data["usernames"])]
    try:
        saved = put_allowances(exam, items, reason=_reason(request, "granted", data["reason"]))
    except DomainError as exc:
        return _render(request, exam, form=form, status=exc.http_status, flash=exc.detail,
                       flash_error=True)
    return _done(request, exam, f"Allowance saved for {len(saved)} learner(s).")


@require_POST
@staff_page
def remove(request: HttpRequest, exam_id: int) -> HttpResponse:
    exam = visible_exam(request, exam_id)
    form = RemoveAllowanceForm(request.POST)
    allowance = None
    if form.is_valid():
        allowance = (Allowance.objects.filter(pk=form.cleaned_data["allowance"], exam=exam)
                     .select_related("user").first())
    if allowance is None:
        return _render(request, exam, status=404, flash="No such allowance on this exam.",
                       flash_error=True)
    if not allowance.user.lms_user_id:
        return _render(request, exam, status=409, flash_error=True,
                       flash="This allowance's learner has no LMS id; remove it in the admin.")
    count = delete_allowances(exam, [allowance.user.lms_user_id],
                              reason=_reason(request, "removed"))
    return _done(request, exam, f"Allowance of {allowance.user.username} removed ({count}).")
