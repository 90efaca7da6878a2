"""The staff queue at scale: order by the stored priority and age, keyset pages (next/previous,
no row lost or repeated at a page boundary, even between rows of the same age), chip counts that
stop at a cap, and the derived columns (not reviews) deciding what needs a human."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient as HTTPClient

from proctorhub.accounts.models import User
from proctorhub.attempts.models import Attempt
from proctorhub.dashboard import keyset
from proctorhub.dashboard.keyset import Cursor
from tests.conftest import OTHER_COURSE
from tests.psi_helpers import payload, post, psi_attempt, psi_settings

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def staff(make_staff) -> Client:
    client = Client()
    client.force_login(make_staff())
    return client


def make_attempts(exam, specs: list[tuple[str, str, int]], tag: str = "k") -> list[Attempt]:
    """Attempts from (status, review status, minutes ago), derived columns set as save() would."""
    users = User.objects.bulk_create([User(username=f"{tag}-{exam.pk}-{i}",
                                           lms_user_id=f"{tag}-{exam.pk}-{i}")
                                      for i in range(len(specs))])
    now = timezone.now().replace(microsecond=0)
    drafts = []
    for user, (status, review, ago) in zip(users, specs, strict=True):
        draft = Attempt(exam=exam, user=user, backend="software_secure", status=status,
                        review_status=review, completed_at=now - timedelta(minutes=ago))
        draft.refresh_derived()  # bulk_create skips save()
        drafts.append(draft)
    return Attempt.objects.bulk_create(drafts)


def ids(response) -> list[int]:
    return [row["attempt"].pk for row in response.context["rows"]]


def walk(client, url: str, link: str = "next_qs") -> list[list[int]]:
    """Every page from ``url`` on, following the page's next (or previous) link."""
    pages = []
    while url is not None:
        response = client.get(url)
        assert response.status_code == 200
        pages.append(ids(response))
        qs = response.context[link]
        url = f"/staff/?{qs}" if qs else None
        assert len(pages) < 50
    return pages


def test_queue_order_is_priority_then_age_then_id(exam, staff):
    a = make_attempts(exam, [("verified", "passed", 50), ("second_review_required", "suspicious",
                                                             10),
                             ("error", "not_reviewed", 40), ("rejected", "suspicious", 30),
                             ("second_review_required", "suspicious", 20),
                             ("submitted", "", 60), ("verified", "passed", 50)])
    assert [x.queue_priority for x in a] == [2, 0, 1, 1, 0, 2, 2]
    oldest = ids(staff.get("/staff/?status=all"))
    assert oldest == [a[4].pk, a[1].pk, a[2].pk, a[3].pk, a[5].pk, a[0].pk, a[6].pk]
    newest = ids(staff.get("/staff/?status=all&sort=newest"))
    assert newest == [a[1].pk, a[4].pk, a[3].pk, a[2].pk, a[6].pk, a[0].pk, a[5].pk]
    assert ids(staff.get("/staff/")) == oldest[:4]                      # needs a human
    assert ids(staff.get("/staff/?status=suspicious")) == [a[4].pk, a[1].pk, a[3].pk]
    assert ids(staff.get("/staff/?status=verified&sort=newest")) == [a[6].pk, a[0].pk]


@pytest.mark.parametrize("sort", ["oldest", "newest"])
@pytest.mark.parametrize("status", ["all", "attention"])
def test_pages_cover_every_row_once_even_when_ages_are_equal(exam, staff, sort, status):
    specs = ([("second_review_required", "suspicious", 5)] * 4 + [("error", "", 5)] * 3
             + [("verified", "passed", 5)] * 5 + [("verified", "passed", 9)] * 2)
    make_attempts(exam, specs)  # one age for almost all: only the id separates them
    expected = ids(staff.get(f"/staff/?status={status}&sort={sort}&per_page=100"))
    assert len(expected) == (14 if status == "all" else 7)
    forward = walk(staff, f"/staff/?status={status}&sort={sort}&per_page=5")
    assert [len(p) for p in forward] == [5, 5, 4] if status == "all" else [5, 2]
    assert [i for page in forward for i in page] == expected
    # ...and back again from the last page, with the previous links.
    last = staff.get(f"/staff/?status={status}&sort={sort}&per_page=5")
    while last.context["next_qs"]:
        last = staff.get(f"/staff/?{last.context['next_qs']}")
    backward = walk(staff, f"/staff/?{last.context['previous_qs']}", link="previous_qs")
    assert backward[::-1] == forward[:-1]


def test_page_links_carry_the_filters_and_number_the_pages(exam, staff):
    make_attempts(exam, [("verified", "passed", m) for m in range(12)])
    first = staff.get("/staff/?status=verified&per_page=5&q=k-")
    page = first.content.decode()
    assert "page 1" in page and 'rel="prev"' not in page and 'rel="next"' in page
    link = html.unescape(re.search(r'rel="next" href="\?([^"]+)"', page).group(1))
    assert "status=verified" in link and "per_page=5" in link and "q=k-" in link
    second = staff.get(f"/staff/?{link}", **HTMX)
    assert second.context["page"].number == 2 and "page 2" in second.content.decode()
    assert 'rel="prev"' in second.content.decode()
    # A chip, the sort link and the export start over: no cursor in them.
    for key in ("chip_qs", "sort_qs", "export_qs"):
        assert "after=" not in second.context[key] and "before=" not in second.context[key]


@pytest.mark.parametrize("token", ["", "nonsense", "1.2.3", "1.x.3.4", "0.99999999999999999999.1.2"])
def test_a_bad_cursor_shows_the_first_page(exam, staff, token):
    make_attempts(exam, [("verified", "passed", m) for m in range(3)])
    response = staff.get(f"/staff/?status=all&after={token}&before={token}")
    assert response.status_code == 200 and response.context["page"].number == 1
    assert len(ids(response)) == 3


def test_a_page_whose_rows_went_away_shows_the_first_page(exam, staff):
    rows = make_attempts(exam, [("verified", "passed", m) for m in range(4)])
    gone = Cursor(2, timezone.now() + timedelta(days=1), 10**9, page=7)
    after = staff.get(f"/staff/?status=all&after={gone.token()}")
    assert after.context["page"].number == 1 and len(ids(after)) == 4
    first = Cursor.of(rows[-1], page=3)  # the newest row: nothing before it in "newest" order
    before = staff.get(f"/staff/?status=all&sort=newest&before={first.token()}")
    assert before.context["page"].number == 1 and len(ids(before)) == 4


def test_cursor_token_round_trip():
    now = timezone.now()
    cursor = Cursor(1, now, 42, page=3)
    assert Cursor.parse(cursor.token()) == cursor
    assert Cursor.parse(None) is None


def test_course_staff_pages_stay_in_their_courses(make_exam, staff, monkeypatch):
    ours = [make_exam() for _ in range(3)]
    theirs = make_exam(course_id=OTHER_COURSE)
    for i, exam in enumerate([*ours, theirs]):
        make_attempts(exam, [("error", "", 3 * m + i) for m in range(4)], tag=f"e{i}")
    visible = set(Attempt.objects.filter(exam__in=ours).values_list("id", flat=True))
    for branches in (keyset.MAX_EXAM_BRANCHES, 1):  # per exam, or one range over all exams
        monkeypatch.setattr(keyset, "MAX_EXAM_BRANCHES", branches)
        pages = walk(staff, "/staff/?per_page=5")
        seen = [i for page in pages for i in page]
        assert sorted(seen) == sorted(visible) and len(seen) == len(set(seen))
        ages = list(Attempt.objects.filter(pk__in=seen).values_list("id", "activity_at"))
        by_id = dict(ages)
        assert [by_id[i] for i in seen] == sorted(by_id[i] for i in seen)
        assert walk(staff, f"/staff/?per_page=5&exam={ours[1].pk}") == [
            list(Attempt.objects.filter(exam=ours[1]).order_by("activity_at", "id")
                 .values_list("id", flat=True))]


def test_chip_counts_stop_at_the_cap_and_say_so(exam, staff, settings):
    make_attempts(exam, [("verified", "passed", m) for m in range(5)]
                  + [("error", "not_reviewed", m) for m in range(2)])
    settings.DASHBOARD_COUNT_CAP = 3
    response = staff.get("/staff/?status=verified")
    chips = {c["key"]: c for c in response.context["counts"]}
    assert (chips["verified"]["display"], chips["verified"]["capped"]) == ("3+", True)
    assert (chips["all"]["display"], chips["all"]["capped"]) == ("3+", True)
    assert (chips["error"]["display"], chips["error"]["capped"]) == ("2", False)
    assert (chips["attention"]["display"], chips["attention"]["count"]) == ("2", 2)
    page = response.content.decode()
    assert "Counts stop at 3" in page and "3+ attempts" in page
    assert len(ids(response)) == 5  # the cap limits counting, never the rows shown
    settings.DASHBOARD_COUNT_CAP = 7
    relaxed = staff.get("/staff/?status=verified")
    assert "Counts stop at" not in relaxed.content.decode()
    assert {c["key"]: c["display"] for c in relaxed.context["counts"]}["all"] == "7"


def test_capped_counts_stop_counting_one_past_the_cap(exam):
    make_attempts(exam, [("verified", "passed", m) for m in range(5)])
    live = Attempt.objects.filter(is_archived=False)
    counts = keyset.capped_counts({"all": live, "none": live.filter(status="error"),
                                   "empty": live.filter(exam_id__in=[])}, cap=3)
    assert counts == {"all": 4, "none": 0, "empty": 0}
    assert keyset.capped_counts({"all": live}, cap=10) == {"all": 5}


def test_a_status_without_a_chip_is_counted_for_the_caption(exam, staff):
    make_attempts(exam, [("started", "", 1), ("started", "", 2), ("verified", "passed", 3)])
    response = staff.get("/staff/?status=started")
    assert response.context["total"]["display"] == "2" and "2 attempts" in response.content.decode()
    assert "started" not in {c["key"] for c in response.context["counts"]}


def test_a_staff_verdict_takes_a_suspicious_review_out_of_needs_a_human(
        providers_config, exam, staff, make_learner):
    providers_config["software_secure"] = psi_settings()
    attempt = psi_attempt(exam, make_learner(username="ada"), locator="SSI-1")
    assert post(HTTPClient(), payload("review_suspicious.json", attempt)).status_code == 200
    attempt.refresh_from_db()
    assert (attempt.queue_priority, attempt.review_status) == (0, "suspicious")
    assert ids(staff.get("/staff/")) == [attempt.pk]
    assert ids(staff.get("/staff/?status=suspicious")) == [attempt.pk]
    response = staff.post(f"/staff/attempts/{attempt.pk}/decide",
                          {"decision": "verify", "reason": "Only a reflection", "confirm": "on"})
    assert response.status_code in (200, 302)
    attempt.refresh_from_db()
    assert (attempt.status, attempt.review_is_staff, attempt.queue_priority) == (
        "verified", True, 2)
    assert ids(staff.get("/staff/")) == [] and ids(staff.get("/staff/?status=suspicious")) == []
    chips = {c["key"]: c["count"] for c in staff.get("/staff/").context["counts"]}
    assert chips["attention"] == 0 and chips["suspicious"] == 0 and chips["verified"] == 1


def test_the_stored_priority_not_the_review_table_decides(exam, staff):
    routine, flagged = make_attempts(exam, [("verified", "passed", 2), ("verified", "passed", 1)])
    Attempt.objects.filter(pk=flagged.pk).update(queue_priority=1)  # as the review path writes
    assert ids(staff.get("/staff/")) == [flagged.pk]
    assert ids(staff.get("/staff/?status=verified")) == [flagged.pk, routine.pk]
    exams = staff.get("/staff/exams/").context["exams"]
    assert [(e.pk, e.attention_count) for e in exams] == [(exam.pk, 1)]
