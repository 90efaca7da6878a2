"""Staff pages (Django test client): sign-in, course scoping of every page and action, the
queue's constant query count, CSV export, and the decide / reset / allowance flows."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient as HTTPClient

from proctorhub.accounts.models import User
from proctorhub.attempts.models import Attempt
from proctorhub.exams.models import Allowance
from proctorhub.exams.services import put_allowances
from proctorhub.notifications.models import OutboxEvent
from proctorhub.reviews.models import Review, VideoLinkView
from tests.conftest import OTHER_COURSE
from tests.psi_helpers import payload, post, psi_attempt, psi_settings

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def psi(providers_config):
    providers_config["software_secure"] = psi_settings()


@pytest.fixture
def staff_user(make_staff):
    return make_staff(email="reviewer@example.org")


@pytest.fixture
def staff(staff_user) -> Client:
    client = Client()
    client.force_login(staff_user)
    return client


def flagged(exam, learner, name: str = "review_suspicious.json", **kw) -> Attempt:
    """An attempt reviewed by PSI over the real callback (suspicious: second review required)."""
    attempt = psi_attempt(exam, learner, **kw)
    assert post(HTTPClient(), payload(name, attempt)).status_code == 200
    return Attempt.objects.get(pk=attempt.pk)


def learner_spec(user: User) -> dict:
    return {"lms_user_id": user.lms_user_id, "username": user.username, "email": user.email,
            "full_name": user.full_name}


@pytest.fixture
def two_courses(psi, make_exam, make_learner):
    """One flagged attempt in our course (A) and one in another course (B)."""
    exam_a, exam_b = make_exam(), make_exam(course_id=OTHER_COURSE)
    ours = flagged(exam_a, make_learner(username="ada"), locator="SSI-A")
    theirs = flagged(exam_b, make_learner(username="mallory"), locator="SSI-B")
    put_allowances(exam_b, [{"user": learner_spec(theirs.user), "additional_minutes": 5}],
                   reason="setup")
    return ours, theirs


# --- sign-in and scoping ----------------------------------------------------------------------

STAFF_GETS = ["/staff/", "/staff/export.csv", "/staff/exams/", "/staff/attempts/1",
              "/staff/exams/1/allowances"]
STAFF_POSTS = ["/staff/attempts/1/decide", "/staff/attempts/1/reset", "/staff/attempts/1/video",
               "/staff/exams/1/allowances/grant", "/staff/exams/1/allowances/remove"]


@pytest.mark.django_db
@pytest.mark.parametrize("url", STAFF_GETS + STAFF_POSTS)
def test_anonymous_visitors_are_sent_to_sign_in(url):
    client = Client()
    response = client.post(url) if url in STAFF_POSTS else client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/staff/")
    htmx = client.post(url, **HTMX) if url in STAFF_POSTS else client.get(url, **HTMX)
    assert htmx.status_code == 204 and htmx["HX-Redirect"].startswith("/accounts/login/")


def test_sign_in_lands_on_the_queue(make_staff):
    user = make_staff()
    client = Client()
    response = client.post("/accounts/login/", {"username": user.username, "password": "pw"})
    assert response.status_code == 302 and response["Location"] == "/staff/"
    assert client.get("/staff/").status_code == 200


def test_users_who_are_staff_of_no_course_are_refused(make_staff):
    client = Client()
    client.force_login(make_staff(course_id=""))
    response = client.get("/staff/")
    assert response.status_code == 403 and b"not staff of any course" in response.content


def test_course_staff_see_only_their_courses(two_courses, staff):
    ours, theirs = two_courses
    page = staff.get("/staff/").content.decode()
    assert f'href="/staff/attempts/{ours.pk}"' in page and "ada" in page
    assert f'href="/staff/attempts/{theirs.pk}"' not in page and "mallory" not in page
    assert OTHER_COURSE not in page  # not even as a filter choice
    assert "{#" not in page and "{%" not in page  # no template syntax leaks into the page
    exams = staff.get("/staff/exams/").content.decode()
    assert ours.exam.exam_name in exams and theirs.exam.exam_name not in exams
    rows = list(csv.DictReader(io.StringIO(b"".join(staff.get("/staff/export.csv")
                                                    .streaming_content).decode())))
    assert [int(r["attempt_id"]) for r in rows] == [ours.pk]


def test_global_staff_see_every_course(two_courses, make_staff):
    ours, theirs = two_courses
    client = Client()
    client.force_login(make_staff(course_id="", is_staff=True))
    page = client.get("/staff/").content.decode()
    assert f'href="/staff/attempts/{ours.pk}"' in page
    assert f'href="/staff/attempts/{theirs.pk}"' in page
    assert client.get(f"/staff/attempts/{theirs.pk}").status_code == 200


def _refusals(theirs):
    exam_b, allowance = theirs.exam, Allowance.objects.get(exam=theirs.exam)
    a = theirs.pk
    return [
        ("get", f"/staff/?course={OTHER_COURSE}", {}, 403),
        ("get", f"/staff/?exam={exam_b.pk}", {}, 403),
        ("get", f"/staff/export.csv?course={OTHER_COURSE}", {}, 403),
        ("get", f"/staff/export.csv?exam={exam_b.pk}", {}, 403),
        ("get", f"/staff/attempts/{a}", {}, 404),
        ("post", f"/staff/attempts/{a}/decide",
         {"decision": "verify", "reason": "looks fine"}, 404),
        ("post", f"/staff/attempts/{a}/decide",
         {"decision": "reject", "reason": "cheating", "confirm": "on"}, 404),
        ("post", f"/staff/attempts/{a}/reset", {"reason": "retake", "confirm": "on"}, 404),
        ("post", f"/staff/attempts/{a}/video", {}, 404),
        ("get", f"/staff/exams/{exam_b.pk}/allowances", {}, 404),
        ("post", f"/staff/exams/{exam_b.pk}/allowances/grant",
         {"usernames": "mallory", "additional_minutes": "60"}, 404),
        ("post", f"/staff/exams/{exam_b.pk}/allowances/remove", {"allowance": allowance.pk}, 404),
    ]


@pytest.mark.parametrize("htmx", [False, True])
def test_staff_of_course_a_can_neither_see_nor_act_on_course_b(two_courses, staff, htmx):
    _, theirs = two_courses
    before = Review.objects.get(attempt=theirs)
    for method, url, data, code in _refusals(theirs):
        extra = HTMX if htmx else {}
        response = getattr(staff, method)(url, data, **extra)
        assert response.status_code == code, (url, data, response.status_code)
        assert b"mallory" not in response.content and theirs.attempt_code.encode() not in \
            response.content
        if htmx:
            assert response["HX-Retarget"] == "#flash"
    theirs.refresh_from_db()
    assert theirs.status == "second_review_required" and not theirs.is_archived
    review = Review.objects.get(attempt=theirs)
    assert review.payload_sha256 == before.payload_sha256 and not review.is_staff_review
    assert not VideoLinkView.objects.exists()
    allowance = Allowance.objects.get(exam=theirs.exam)
    assert allowance.additional_minutes == 5


# --- the queue --------------------------------------------------------------------------------

def _bulk_attempts(exam, n: int, status: str = "second_review_required") -> list[Attempt]:
    """Many distinct learners with reviews, quickly (the query-count test reads, never writes)."""
    users = User.objects.bulk_create([User(username=f"bulk-{i}", lms_user_id=f"bulk-{i}",
                                           full_name=f"Bulk Learner {i}") for i in range(n)])
    now = timezone.now()
    drafts = [Attempt(exam=exam, user=u, backend="software_secure", status=status,
                      taking_as_proctored=True, started_at=now - timedelta(hours=2, minutes=i),
                      completed_at=now - timedelta(hours=1, minutes=i),
                      review_status="suspicious")
              for i, u in enumerate(users)]
    for draft in drafts:
        draft.refresh_derived()  # bulk_create skips save(), which keeps the derived columns
    attempts = Attempt.objects.bulk_create(drafts)
    Review.objects.bulk_create([Review(attempt=a, attempt_code=a.attempt_code, raw={},
                                       provider="software_secure", status="suspicious")
                                for a in attempts])
    return attempts


def _queries(client, url) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries), response.content.decode()


@pytest.mark.parametrize("status", ["attention", "all"])
def test_queue_query_count_does_not_grow_with_page_size(exam, staff, status):
    _bulk_attempts(exam, 50)
    small, small_page = _queries(staff, f"/staff/?status={status}&per_page=5")
    large, large_page = _queries(staff, f"/staff/?status={status}&per_page=50")
    assert small_page.count('href="/staff/attempts/') == 5
    assert large_page.count('href="/staff/attempts/') == 50
    print(f"queue ({status}): {small} queries with 5 rows, {large} with 50 rows")
    assert small == large, (small, large)
    assert large <= 8  # session, user, course roles, filter choices, page ids, rows, counts
    next_qs = staff.get(f"/staff/?status={status}&per_page=5").context["next_qs"]
    assert "after=" in next_qs
    second_page, second = _queries(staff, f"/staff/?{next_qs}")
    assert second_page == small and second.count('href="/staff/attempts/') == 5
    assert "page 2" in second
    with CaptureQueriesContext(connection) as ctx:  # htmx partial: no filter choices needed
        partial = staff.get(f"/staff/?status={status}&per_page=50", **HTMX)
    assert partial.content.decode().startswith('<div id="queue-results">')
    assert partial.content.decode().count('href="/staff/attempts/') == 50
    assert len(ctx.captured_queries) <= small


def test_queue_puts_second_reviews_first_then_suspicious_and_errors(psi, exam, staff,
                                                                    make_learner):
    clean = flagged(exam, make_learner(username="edsger"), "review_clean.json", locator="L1")
    error = flagged(exam, make_learner(username="frances"), "review_not_reviewed.json",
                    locator="L2")
    second = flagged(exam, make_learner(username="barbara"), locator="L3")
    page = staff.get("/staff/").content.decode()
    assert page.index(f'/staff/attempts/{second.pk}"') < page.index(f'/staff/attempts/{error.pk}"')
    assert f"/staff/attempts/{clean.pk}\"" not in page  # verified: needs no human
    everything = staff.get("/staff/?status=all").content.decode()
    assert f"/staff/attempts/{clean.pk}\"" in everything
    verified = staff.get("/staff/?status=verified").content.decode()
    assert f"/staff/attempts/{clean.pk}\"" in verified and f"/{second.pk}\"" not in verified
    chips = staff.get("/staff/?status=all").context["counts"]
    counts = {c["key"]: c["count"] for c in chips}
    assert counts == {"attention": 2, "second_review_required": 1, "suspicious": 1, "error": 1,
                      "submitted": 0, "verified": 1, "rejected": 0, "all": 3}
    exams = staff.get("/staff/exams/").context["exams"]
    assert [(e.pk, e.attention_count) for e in exams] == [(exam.pk, 2)]


def test_queue_filters_search_dates_and_sort(psi, make_exam, staff, make_learner):
    exam1, exam2 = make_exam(exam_name="Midterm"), make_exam(exam_name="Final")
    old = flagged(exam1, make_learner(username="ada"), locator="L1")
    new = flagged(exam2, make_learner(username="grace"), locator="L2")
    Attempt.objects.filter(pk=old.pk).update(completed_at=timezone.now() - timedelta(days=30),
                                             activity_at=timezone.now() - timedelta(days=30))

    def ids(query: str) -> list[int]:
        return [row["attempt"].pk for row in staff.get(f"/staff/?{query}").context["rows"]]

    assert ids("") == [old.pk, new.pk]                      # oldest first by default
    assert ids("sort=newest") == [new.pk, old.pk]
    assert ids(f"exam={exam2.pk}") == [new.pk]
    assert ids("q=ADA") == [old.pk]                          # username, case-insensitive
    assert ids(f"q={new.pk}") == [new.pk]                    # attempt id
    assert ids("provider=mock") == [] and ids("provider=software_secure") == [old.pk, new.pk]
    today = timezone.now().date()
    assert ids(f"date_from={today - timedelta(days=1)}") == [new.pk]
    assert ids(f"date_to={today - timedelta(days=2)}") == [old.pk]
    assert ids("date_from=nonsense") == [old.pk, new.pk]    # a bad value is ignored, and shown
    assert b"Some filters were ignored" in staff.get("/staff/?date_from=nonsense").content


def test_csv_export_contains_the_filtered_queue(psi, exam, staff, make_learner):
    plain = flagged(exam, make_learner(username="ada"), locator="L1")
    sneaky = flagged(exam, make_learner(username="=HYPERLINK(1)"), locator="L2")
    flagged(exam, make_learner(username="edsger"), "review_clean.json", locator="L3")
    response = staff.get("/staff/export.csv?status=second_review_required&per_page=5&page=9")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    assert response["Content-Disposition"].startswith('attachment; filename="proctorhub-queue-')
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [int(r["attempt_id"]) for r in rows] == [plain.pk, sneaky.pk]  # all rows, no paging
    first = rows[0]
    assert first["course_id"] == exam.course_id and first["exam_name"] == exam.exam_name
    assert first["username"] == "ada" and first["status"] == "second_review_required"
    assert first["review_status"] == "suspicious" and first["reviewed_by_staff"] == "no"
    assert first["provider"] == "software_secure" and first["external_id"] == "L1"
    assert rows[1]["username"] == "'=HYPERLINK(1)"           # no formula in a spreadsheet


# --- the attempt page and its actions -----------------------------------------------------------

def test_attempt_page_shows_times_history_review_timeline_and_raw_fields(psi, exam, staff,
                                                                        learner):
    attempt = flagged(exam, learner)
    page = staff.get(f"/staff/attempts/{attempt.pk}").content.decode()
    assert exam.exam_name in page and learner.username in page
    assert "{#" not in page and "{%" not in page
    assert page.count('class="seg seg-') == 5                 # five PSI comments on the timeline
    assert "seg-violation" in page and "seg-suspicious" in page and "seg-passed" in page
    assert "Another person entered the room" in page and "20:00" in page
    assert "Record locator" in page and "Candidate looked off screen repeatedly." in page
    assert "submitted → <strong>second review required</strong>" in page
    assert "iVBORw0KGgo" not in page and "remoteproctor" not in page  # no photo, no raw link
    assert 'id="watch-video"' in page and 'id="reject"' in page and 'id="verify"' in page


def test_verify_goes_through_the_review_pipeline(psi, exam, staff, staff_user, learner):
    attempt = flagged(exam, learner)
    response = staff.post(f"/staff/attempts/{attempt.pk}/decide",
                          {"decision": "verify", "reason": "Left to fetch a permitted calculator"})
    assert response.status_code == 302 and response["Location"] == f"/staff/attempts/{attempt.pk}"
    attempt.refresh_from_db()
    assert attempt.status == "verified"
    review = Review.objects.get(attempt=attempt)
    assert review.is_staff_review and review.reviewed_by == staff_user and review.status == "passed"
    last = Attempt.history.filter(id=attempt.pk).order_by("history_id").last()
    assert last.history_user_id == staff_user.pk
    assert "permitted calculator" in last.history_change_reason
    kinds = set(OutboxEvent.objects.filter(attempt_id=attempt.pk).values_list("kind", flat=True))
    assert {"attempt.status_changed", "review.received"} <= kinds
    page = staff.get(f"/staff/attempts/{attempt.pk}").content.decode()
    assert "second review required → <strong>verified</strong>" in page
    assert page.count('class="seg seg-') == 5  # the provider's timeline survives the decision


def test_reject_needs_a_reason_and_a_confirmation(psi, exam, staff, learner):
    attempt = flagged(exam, learner)
    url = f"/staff/attempts/{attempt.pk}/decide"
    no_reason = staff.post(url, {"decision": "reject", "reason": "  "}, **HTMX)
    assert no_reason.status_code == 400 and b"Give a reason" in no_reason.content
    ask = staff.post(url, {"decision": "reject", "reason": "Notes on the desk"}, **HTMX)
    assert ask.status_code == 200 and b'id="confirm-reject"' in ask.content
    assert Attempt.objects.get(pk=attempt.pk).status == "second_review_required"
    done = staff.post(url, {"decision": "reject", "reason": "Notes on the desk", "confirm": "on"},
                      **HTMX)
    assert done.status_code == 200
    body = done.content.decode()
    assert body.startswith('<div id="attempt-body">') and 'hx-swap-oob="innerHTML"' in body
    assert 'class="badge big s-rejected">rejected' in body and "Notes on the desk" in body
    assert Attempt.objects.get(pk=attempt.pk).status == "rejected"
    again = staff.post(url, {"decision": "reject", "reason": "twice", "confirm": "on"}, **HTMX)
    assert again.status_code == 409  # already rejected; verify (an override) is what remains


def test_decisions_refused_where_the_transition_table_refuses(psi, exam, staff, learner):
    running = psi_attempt(exam, learner, submitted=False)
    response = staff.post(f"/staff/attempts/{running.pk}/decide",
                          {"decision": "verify", "reason": "x"})
    assert response.status_code == 409 and b"must be submitted first" in response.content
    assert Attempt.objects.get(pk=running.pk).status == "started"
    assert staff.get(f"/staff/attempts/{running.pk}/decide").status_code == 405


def test_reset_archives_with_a_reason_after_confirmation(psi, exam, staff, staff_user, learner):
    attempt = flagged(exam, learner)
    url = f"/staff/attempts/{attempt.pk}/reset"
    assert staff.post(url, {"reason": ""}).status_code == 400
    ask = staff.post(url, {"reason": "Power cut during the exam"})
    assert ask.status_code == 200 and b'id="confirm-reset"' in ask.content
    assert not Attempt.objects.get(pk=attempt.pk).is_archived
    done = staff.post(url, {"reason": "Power cut during the exam", "confirm": "on"}, **HTMX)
    assert done.status_code == 200 and b"reset (archived)" in done.content
    attempt.refresh_from_db()
    assert attempt.is_archived and attempt.archived_at is not None
    last = Attempt.history.filter(id=attempt.pk).order_by("history_id").last()
    assert "Power cut" in last.history_change_reason and last.history_user_id == staff_user.pk
    assert OutboxEvent.objects.filter(kind="attempt.archived", attempt_id=attempt.pk).exists()
    assert f'/staff/attempts/{attempt.pk}"' not in staff.get("/staff/?status=all").content.decode()
    assert staff.post(url, {"reason": "again", "confirm": "on"}).status_code == 409


def test_watch_video_decrypts_on_demand_and_is_audited(psi, exam, staff, staff_user, learner):
    attempt = flagged(exam, learner)
    page = staff.get(f"/staff/attempts/{attempt.pk}").content.decode()
    assert attempt.external_id not in page.split('id="video-slot"')[1][:200]
    assert staff.get(f"/staff/attempts/{attempt.pk}/video").status_code == 405
    response = staff.post(f"/staff/attempts/{attempt.pk}/video", **HTMX)
    assert response.status_code == 200
    assert f"ID={attempt.external_id}" in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    assert VideoLinkView.objects.filter(user=staff_user, review__attempt=attempt).count() == 1


def test_allowances_bulk_grant_see_and_remove(exam, staff, make_learner):
    ada, grace, alan = (make_learner(username=n) for n in ("ada", "grace", "alan"))
    url = f"/staff/exams/{exam.pk}/allowances"
    unknown = staff.post(f"{url}/grant", {"usernames": "ada\nnobody", "additional_minutes": "15"})
    assert unknown.status_code == 400 and b"Unknown learner(s): nobody" in unknown.content
    assert not Allowance.objects.exists()                   # all or nothing
    empty = staff.post(f"{url}/grant", {"usernames": "ada"})
    assert empty.status_code == 400 and not Allowance.objects.exists()
    done = staff.post(f"{url}/grant", {"usernames": "ada\ngrace, alan ada",
                                       "additional_minutes": "15", "time_multiplier": "1.5",
                                       "reason": "accessibility plan"}, **HTMX)
    assert done.status_code == 200 and b"Allowance saved for 3 learner(s)." in done.content
    rows = {a.user.username: a for a in Allowance.objects.filter(exam=exam).select_related("user")}
    assert set(rows) == {"ada", "grace", "alan"}
    assert all(a.additional_minutes == 15 and str(a.time_multiplier) == "1.50"
               for a in rows.values())
    assert "accessibility plan" in rows["ada"].history.latest().history_change_reason
    assert User.objects.get(pk=ada.pk).email == ada.email   # the learner sync left them intact
    page = staff.get(url).content.decode()
    assert page.count("Remove the allowance of") == 3
    removed = staff.post(f"{url}/remove", {"allowance": rows["grace"].pk})
    assert removed.status_code == 302
    assert set(Allowance.objects.values_list("user__username", flat=True)) == {"ada", "alan"}
    gone = Allowance.history.filter(id=rows["grace"].pk, history_type="-").get()
    assert "removed on the staff pages" in gone.history_change_reason


def test_admin_is_read_only_for_reviews_and_deliveries(psi, exam, learner, make_staff):
    flagged(exam, learner)
    admin = Client()
    admin.force_login(make_staff(course_id="", is_staff=True, is_superuser=True))
    review = Review.objects.get()
    assert admin.get("/admin/reviews/review/").status_code == 200
    assert admin.get(f"/admin/reviews/review/{review.pk}/change/").status_code == 200
    assert admin.get("/admin/reviews/delivery/").status_code == 200
    for url in ("/admin/reviews/review/add/", "/admin/reviews/delivery/add/",
                "/admin/reviews/reviewcomment/add/", f"/admin/reviews/review/{review.pk}/delete/"):
        assert admin.get(url).status_code == 403, url
    response = admin.post(f"/admin/reviews/review/{review.pk}/change/", {"status": "passed"})
    assert response.status_code == 403
    assert Review.objects.get().status == "suspicious"
