"""Staff pages in a real browser: Debian's Chromium driven by Playwright against a live server.

Log in, filter the queue, open an attempt, see the timeline, watch the video, reject with a reason
(confirm step, by keyboard), see the status and history change in place, grant a bulk allowance,
reset an attempt. With ``PROCTORHUB_SCREENSHOTS=1`` it also rewrites ``docs/screenshots/``.
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from rest_framework.test import APIClient as HTTPClient

from proctorhub.accounts.models import User
from proctorhub.accounts.services import grant_course_role
from proctorhub.attempts.models import Attempt
from proctorhub.exams.models import Allowance
from proctorhub.reviews.models import VideoLinkView
from tests.conftest import COURSE, OTHER_COURSE
from tests.psi_helpers import payload, post, psi_attempt, psi_settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
PASSWORD = "staff-demo-password"

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def async_unsafe_allowed():
    """Playwright's sync API runs an event loop in this thread; Django's ORM refuses to run
    under one unless told it is safe (it is: the loop only drives the browser)."""
    saved = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if saved is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = saved


@pytest.fixture(scope="module")
def browser(async_unsafe_allowed):
    if not os.path.exists(CHROMIUM):
        message = (f"browser tests need Debian's chromium at {CHROMIUM} "
                   "(apt-get install chromium; .ci/run installs it)")
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport={"width": 1366, "height": 768},
                                  base_url=live_server.url, locale="en-US")
    context.set_default_timeout(10_000)
    tab = context.new_page()
    yield tab
    context.close()


def _reviewed(exam, name: str, full_name: str, review: str | None, *, minutes_ago: int,
              session_minutes: int = 25) -> Attempt:
    from proctorhub.accounts.services import sync_learner

    learner = sync_learner(lms_user_id=f"lms-{name}", username=name, full_name=full_name,
                           email=f"{name}@learners.example.org")
    attempt = psi_attempt(exam, learner, locator=f"SSI-{name.upper()}")
    if review:
        assert post(HTTPClient(), payload(review, attempt)).status_code == 200
    # Spread the times out like a real day of exams (test data only).
    done = timezone.now() - timedelta(minutes=minutes_ago)
    started = done - timedelta(minutes=session_minutes)
    Attempt.objects.filter(pk=attempt.pk).update(
        created_at=started - timedelta(minutes=3), started_at=started, completed_at=done)
    steps = {"created": started - timedelta(minutes=3), "ready_to_start": started - timedelta(
        minutes=1), "started": started, "submitted": done}
    for status, when in steps.items():  # the review itself arrives "now", hours later
        Attempt.history.filter(id=attempt.pk, status=status).update(history_date=when)
    return Attempt.objects.get(pk=attempt.pk)


@pytest.fixture
def demo(providers_config, make_exam, make_learner):
    """Demo-like data: a proctored final exam with a day of reviewed attempts, and a second
    course that our staff member must never see."""
    providers_config["software_secure"] = psi_settings()
    final = make_exam(exam_name="Final Exam", time_limit_mins=90, course_id=COURSE)
    midterm = make_exam(exam_name="Midterm Exam", time_limit_mins=60, course_id=COURSE)
    practice = make_exam(exam_name="Practice Proctored Exam", time_limit_mins=30,
                         course_id=COURSE, is_practice_exam=True)
    data = {
        "ada": _reviewed(final, "ada", "Ada Lovelace", "review_suspicious.json", minutes_ago=190),
        "barbara": _reviewed(final, "barbara", "Barbara Liskov", "review_suspicious.json",
                             minutes_ago=95),
        "frances": _reviewed(final, "frances", "Frances Allen", "review_not_reviewed.json",
                             minutes_ago=300),
        "edsger": _reviewed(final, "edsger", "Edsger Dijkstra", "review_clean.json",
                            minutes_ago=60),
        "donald": _reviewed(midterm, "donald", "Donald Knuth", "review_rules_violation.json",
                            minutes_ago=2900),
        "grace": _reviewed(midterm, "grace", "Grace Hopper", "review_suspicious.json",
                           minutes_ago=1500),
        # Suspicious on a practice exam: rejected by policy, still worth a human's look.
        "katherine": _reviewed(practice, "katherine", "Katherine Johnson",
                               "review_suspicious.json", minutes_ago=420, session_minutes=20),
        "ken": _reviewed(final, "ken", "Ken Thompson", None, minutes_ago=5),
    }
    other = make_exam(exam_name="Secret Exam", course_id=OTHER_COURSE)
    data["mallory"] = _reviewed(other, "mallory", "Mallory Other", "review_suspicious.json",
                                minutes_ago=30)
    make_learner(username="alan", full_name="Alan Turing")
    staff = User.objects.create_user(username="staff", password=PASSWORD,
                                     email="staff@demo.example.org")
    grant_course_role(staff, COURSE)
    return data


@contextmanager
def evidence(page, tmp_path: Path):
    """On failure, keep what the browser showed (screenshot and HTML) next to the test's tmp dir."""
    try:
        yield
    except Exception:
        page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
        (tmp_path / "failure.html").write_text(page.content())
        print(f"browser evidence: {tmp_path}/failure.png, failure.html (at {page.url})")
        raise


def _shot(page, name: str, **kw) -> None:
    if os.environ.get("PROCTORHUB_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / name), **kw)


def test_staff_settle_a_flagged_attempt_in_the_browser(page, demo, tmp_path):
    with evidence(page, tmp_path):
        _settle_a_flagged_attempt(page, demo)


def _settle_a_flagged_attempt(page, demo):
    from playwright.sync_api import expect

    ada, frances = demo["ada"], demo["frances"]
    rows = page.locator("#queue-table tbody tr")

    # Sign in: the queue sends us to the sign-in page and back.
    page.goto("/staff/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/staff/"))
    page.get_by_label("Username").fill("staff")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()

    # The queue: second reviews first, only our course.
    expect(rows).to_have_count(5)  # 3 second reviews, 1 error, 1 suspicious practice attempt
    expect(rows.first).to_contain_text("second review required")
    expect(page.locator("#queue-table")).not_to_contain_text("mallory")
    expect(page.get_by_role("link", name=re.compile(r"Needs a human\s+5"))).to_be_visible()
    _shot(page, "queue.png")

    # Filter: status (a change re-renders the results in place), then a username search.
    page.get_by_label("Status", exact=True).select_option("second_review_required")
    expect(rows).to_have_count(3)
    page.get_by_label("Username or attempt id").fill("ada")
    page.get_by_label("Username or attempt id").press("Enter")
    expect(rows).to_have_count(1)
    expect(page).to_have_url(re.compile(r"q=ada"))
    expect(rows.first).to_contain_text("Ada Lovelace")

    # Open the attempt: the timeline draws PSI's five comments, coloured by status.
    rows.first.get_by_role("link", name=f"#{ada.pk}").click()
    expect(page.get_by_role("heading", name=re.compile(f"Attempt {ada.pk} — ada"))).to_be_visible()
    expect(page.locator("#timeline svg rect.seg")).to_have_count(5)
    expect(page.locator("#timeline svg rect.seg-violation")).to_have_count(2)
    expect(page.locator("#comments")).to_contain_text("Another person entered the room")
    expect(page.locator("#raw-fields")).to_contain_text("SSI-ADA")
    _shot(page, "attempt.png", full_page=True)

    # Watch the video: decrypted on demand, and the view is recorded.
    page.get_by_role("button", name="Watch video").click()
    expect(page.locator("#video-link")).to_have_attribute("href", re.compile("ID=SSI-ADA"))
    assert VideoLinkView.objects.filter(review__attempt=ada).count() == 1

    # Reject: a reason is required (the browser will not send an empty one), then confirm.
    page.get_by_role("button", name="Reject…").click()
    expect(page.locator("#decide-reason:invalid")).to_have_count(1)
    expect(page.locator("#confirm-reject")).to_have_count(0)
    page.get_by_label(re.compile("^Reason")).first.fill("Phone visible at 20:00 and 20:31")
    page.get_by_role("button", name="Reject…").click()
    expect(page.locator("#confirm-reject")).to_be_focused()
    expect(page.locator("#attempt-status")).to_have_text("second review required")
    page.keyboard.press("Enter")  # confirm by keyboard
    expect(page.locator("#attempt-status")).to_have_text("rejected")
    expect(page.locator("#flash")).to_contain_text(f"Attempt {ada.pk} is now rejected.")
    history = page.locator("#status-history")
    expect(history).to_contain_text("second review required → rejected")
    expect(history).to_contain_text("Phone visible at 20:00")
    expect(history.locator("tbody tr").last).to_contain_text("staff")
    expect(page).to_have_url(re.compile(f"/staff/attempts/{ada.pk}$"))  # updated in place
    assert Attempt.objects.get(pk=ada.pk).status == "rejected"

    # Bulk allowance: a pasted list of usernames.
    page.get_by_role("link", name="allowances of this exam").click()
    expect(page.get_by_role("heading", name="Allowances — Final Exam")).to_be_visible()
    page.get_by_label(re.compile("^Learners")).fill("alan\nbarbara, frances")
    page.get_by_label("Additional minutes").fill("30")
    page.get_by_label(re.compile("^Reason")).fill("Accessibility plan 2026")
    page.get_by_role("button", name="Save allowance").click()
    expect(page.locator("#flash")).to_contain_text("Allowance saved for 3 learner(s).")
    expect(page.locator("#allowance-table tbody tr")).to_have_count(3)
    assert set(Allowance.objects.filter(exam=ada.exam).values_list("user__username", flat=True)) \
        == {"alan", "barbara", "frances"}

    # Reset the errored attempt (the provider could not review it) so the learner can retake.
    page.goto(f"/staff/?status=error&q={frances.user.username}")
    expect(rows).to_have_count(1)
    rows.first.get_by_role("link", name=f"#{frances.pk}").click()
    page.get_by_label("Reason (required)", exact=True).fill("Video unreadable: retake allowed")
    page.get_by_role("button", name="Reset attempt…").click()
    page.get_by_role("button", name="Confirm reset").click()
    expect(page.locator("#status-history")).to_contain_text("reset (archived)")
    expect(page.locator("#reset")).to_contain_text("The learner may start a new attempt")
    frances.refresh_from_db()
    assert frances.is_archived

    # Back in the queue the reset attempt is gone; the rejected one left the default view.
    page.get_by_role("link", name="Review queue").first.click()
    expect(rows).to_have_count(3)
    expect(page.locator("#queue-table")).not_to_contain_text("Frances Allen")
    expect(page.locator("#queue-table")).not_to_contain_text("Ada Lovelace")


def test_other_courses_stay_hidden_in_the_browser(page, demo):
    from playwright.sync_api import expect

    page.goto("/accounts/login/?next=/staff/")
    page.get_by_label("Username").fill("staff")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    response = page.goto(f"/staff/attempts/{demo['mallory'].pk}")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    response = page.goto(f"/staff/?course={OTHER_COURSE}")
    assert response.status == 403
