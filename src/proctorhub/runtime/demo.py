"""Idempotent demo data: one course, a proctored, a practice and a timed exam, learners, attempts.

Submitted proctored attempts get their reviews from the mock provider over the real HTTP
callback once the service runs (the outbox sends them).
"""

from __future__ import annotations

from django.db import transaction

from proctorhub.accounts.models import User
from proctorhub.accounts.services import grant_course_role, sync_learner
from proctorhub.attempts.lifecycle import ActedBy, apply_action
from proctorhub.attempts.services import create_attempt
from proctorhub.attempts.statuses import Action, Actor
from proctorhub.exams.models import Exam
from proctorhub.exams.services import create_exam, put_allowances
from proctorhub.notifications.models import OutboxEvent

COURSE = "course-v1:DemoU+PH101+2026"
STAFF_USERNAME, STAFF_PASSWORD = "staff", "staff-demo-password"
ADMIN_USERNAME, ADMIN_PASSWORD = "admin", "admin-demo-password"
LEARNER = ActedBy(Actor.LEARNER, "demo")

# (learner, actions to take, mock review outcome once submitted)
PROCTORED_SCRIPT = [
    ("ada", [], None),
    ("grace", [Action.CLICK_DOWNLOAD_SOFTWARE], None),
    ("alan", [Action.CLICK_DOWNLOAD_SOFTWARE, Action.READY, Action.START], None),
    ("edsger", [Action.READY, Action.START, Action.SUBMIT], "passed"),
    ("barbara", [Action.READY, Action.START, Action.SUBMIT], "suspicious"),
    ("donald", [Action.READY, Action.START, Action.STOP, Action.SUBMIT], "violation"),
    ("frances", [Action.READY, Action.START, Action.SUBMIT], "not_reviewed"),
    ("ken", [Action.DECLINE], None),
]


def _learner(name: str, n: int) -> User:
    return sync_learner(lms_user_id=f"demo-{n}", username=name,
                        email=f"{name}@learners.example.org", full_name=f"{name.title()} Demo")


@transaction.atomic
def _people() -> None:
    admin = User.objects.filter(username=ADMIN_USERNAME).first() or User(username=ADMIN_USERNAME)
    admin.is_staff = admin.is_superuser = True
    admin.set_password(ADMIN_PASSWORD)
    admin.save()
    staff = User.objects.filter(username=STAFF_USERNAME).first() or User(username=STAFF_USERNAME)
    staff.is_staff = False
    staff.set_password(STAFF_PASSWORD)
    staff.email = "staff@demo.example.org"
    staff.save()
    grant_course_role(staff, COURSE)


def load_demo() -> dict[str, int | bool]:
    _people()
    if Exam.objects.filter(course_id=COURSE).exists():
        return {"created": False, "exams": Exam.objects.filter(course_id=COURSE).count()}
    proctored = create_exam({"course_id": COURSE, "content_id": "block-final", "backend": "mock",
                             "exam_name": "Final Exam", "time_limit_mins": 90,
                             "review_policy": "Closed book. No notes, no second screen."},
                            reason="demo")
    practice = create_exam({"course_id": COURSE, "content_id": "block-practice", "backend": "mock",
                            "exam_name": "Practice Proctored Exam", "time_limit_mins": 30,
                            "is_practice_exam": True}, reason="demo")
    timed = create_exam({"course_id": COURSE, "content_id": "block-quiz", "backend": "null",
                         "exam_name": "Timed Quiz", "time_limit_mins": 20, "is_proctored": False},
                        reason="demo")
    put_allowances(proctored, [{"user": {"lms_user_id": "demo-3", "username": "alan",
                                         "email": "alan@learners.example.org",
                                         "full_name": "Alan Demo"},
                                "additional_minutes": 30}], reason="demo")
    for n, (name, actions, outcome) in enumerate(PROCTORED_SCRIPT, start=1):
        attempt = create_attempt(exam=proctored, user=_learner(name, n), by=LEARNER)
        for action in actions:
            actor = Actor.SYSTEM if action == Action.READY else Actor.LEARNER
            apply_action(attempt.pk, action, ActedBy(actor, "demo"))
        if outcome:
            OutboxEvent.objects.filter(kind="mock.post_review", attempt_id=attempt.pk).update(
                payload={"external_id": attempt.external_id, "status": outcome})
    practice_attempt = create_attempt(exam=practice, user=_learner("ada", 1), by=LEARNER)
    apply_action(practice_attempt.pk, Action.READY, ActedBy(Actor.SYSTEM, "demo"))
    timed_attempt = create_attempt(exam=timed, user=_learner("grace", 2), by=LEARNER)
    apply_action(timed_attempt.pk, Action.START, LEARNER)
    return {"created": True, "exams": 3}
