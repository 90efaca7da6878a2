"""The review queue, its CSV export, and the list of exams (the way to their allowances)."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from proctorhub.dashboard import selectors
from proctorhub.dashboard.access import check_course, is_htmx, staff_page
from proctorhub.dashboard.forms import QueueFilterForm
from proctorhub.exams.models import Exam


def _filters(request: HttpRequest) -> tuple[QueueFilterForm, dict]:
    form = QueueFilterForm(request.GET)
    f = form.filters()
    if f["course"]:
        check_course(request, f["course"])
    if f["exam"]:
        exam = Exam.objects.filter(pk=f["exam"]).only("course_id").first()
        if exam is not None:
            check_course(request, exam.course_id)
    return form, f


def _querystring(request: HttpRequest, **changes) -> str:
    params = request.GET.copy()
    for key, value in changes.items():
        params.pop(key, None)
        if value not in (None, ""):
            params[key] = value
    return params.urlencode()


@require_GET
@staff_page
def queue(request: HttpRequest) -> HttpResponse:
    form, f = _filters(request)
    courses = request.staff_courses
    page = Paginator(selectors.queue(courses, f), f["per_page"]).get_page(request.GET.get("page"))
    now = timezone.now()
    rows = [{"attempt": a, "review": selectors.review_of(a), "waiting": now - a.activity_at}
            for a in page.object_list]
    context = {
        "nav": "queue", "form": form, "f": f, "page": page, "rows": rows,
        "counts": selectors.queue_counts(courses, f),
        "export_qs": _querystring(request, page=None, per_page=None),
        "sort_qs": _querystring(request, page=None,
                                sort="newest" if f["sort"] == "oldest" else "oldest"),
        "page_qs": _querystring(request, page=None),
        "chip_qs": _querystring(request, page=None, status=None),
    }
    if is_htmx(request):
        return render(request, "dashboard/_queue_results.html", context)
    context.update(selectors.filter_options(courses))
    return render(request, "dashboard/queue.html", context)


@require_GET
@staff_page
def export_csv(request: HttpRequest) -> StreamingHttpResponse:
    _, f = _filters(request)
    qs = selectors.queue(request.staff_courses, f)
    now = timezone.now()
    response = StreamingHttpResponse(selectors.csv_lines(qs, now), content_type="text/csv")
    stamp = now.strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="proctorhub-queue-{stamp}.csv"'
    response["Cache-Control"] = "no-store"
    return response


@require_GET
@staff_page
def exams(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard/exams.html",
                  {"nav": "exams", "exams": selectors.exams_for(request.staff_courses)})
