"""The review queue, its CSV export, and the list of exams (the way to their allowances)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from proctorhub.dashboard import selectors
from proctorhub.dashboard.access import check_course, is_htmx, staff_page
from proctorhub.dashboard.forms import QueueFilterForm
from proctorhub.dashboard.keyset import Cursor
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


#: Query parameters of one page only (a cursor; ``page`` from before keyset pages): links to
#: another page, sort, chip or the export drop them.
PAGE_PARAMS = ("after", "before", "page")


def _link(request: HttpRequest, **changes) -> str:
    return _querystring(request, **{**dict.fromkeys(PAGE_PARAMS), **changes})


@require_GET
@staff_page
def queue(request: HttpRequest) -> HttpResponse:
    form, f = _filters(request)
    courses = request.staff_courses
    options = None if is_htmx(request) else selectors.filter_options(courses)
    exam_ids = selectors.exam_ids_in_view(courses, f, options and options["exams"])
    page = selectors.queue_page(courses, f, exam_ids,
                                after=Cursor.parse(request.GET.get("after")),
                                before=Cursor.parse(request.GET.get("before")))
    counts = selectors.queue_counts(courses, f, exam_ids)
    now = timezone.now()
    rows = [{"attempt": a, "waiting": selectors.waiting(a, now)} for a in page.rows]
    context = {
        "nav": "queue", "form": form, "f": f, "page": page, "rows": rows,
        "counts": [c for c in counts if c["chip"]],
        "total": next(c for c in counts if c["active"]),
        "count_cap": f"{selectors.count_cap():,}",
        "any_capped": any(c["capped"] for c in counts),
        "export_qs": _link(request, per_page=None),
        "sort_qs": _link(request, sort="newest" if f["sort"] == "oldest" else "oldest"),
        "next_qs": page.next_cursor and _link(request, after=page.next_cursor.token()),
        "previous_qs": page.previous_cursor and _link(request,
                                                      before=page.previous_cursor.token()),
        "chip_qs": _link(request, status=None),
    }
    if options is None:
        return render(request, "dashboard/_queue_results.html", context)
    context.update(options)
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
