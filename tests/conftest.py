"""Shared fixtures: API callers, exams, learners, staff. Tests talk to the real database."""

from __future__ import annotations

import itertools

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient as HTTPClient

from proctorhub.accounts.models import User
from proctorhub.accounts.services import create_api_client, grant_course_role, sync_learner
from proctorhub.attempts.lifecycle import ActedBy
from proctorhub.attempts.statuses import Actor
from proctorhub.exams.services import create_exam

COURSE = "course-v1:TestU+T101+2026"
OTHER_COURSE = "course-v1:TestU+OTHER+2026"
_seq = itertools.count(1)


def pytest_collection_modifyitems(config, items):
    on_postgres = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    if on_postgres:
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (run with DATABASE_URL=postgres://...)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


def pytest_report_header(config):
    return f"database: {settings.DATABASES['default']['ENGINE']}"


@pytest.fixture
def on_postgres() -> bool:
    return connection.vendor == "postgresql"


@pytest.fixture
def reviews_config():
    """Change ``[reviews]`` switches for one test; restored afterwards."""
    saved = dict(settings.CONFIG.reviews)
    yield settings.CONFIG.reviews
    settings.CONFIG.reviews.clear()
    settings.CONFIG.reviews.update(saved)


@pytest.fixture
def providers_config():
    """Change ``[providers.*]`` settings for one test; restored afterwards."""
    saved = {k: dict(v) for k, v in settings.CONFIG.providers.items()}
    yield settings.CONFIG.providers
    settings.CONFIG.providers.clear()
    settings.CONFIG.providers.update(saved)


@pytest.fixture
def psi(providers_config, reviews_config):
    """PSI configured with the test callback credentials and video key (psi_helpers)."""
    from tests.psi_helpers import psi_settings

    providers_config["software_secure"] = psi_settings()
    return providers_config["software_secure"]


@pytest.fixture
def psi_submitted(psi, exam, learner):
    """A submitted PSI attempt with its record locator (no call to PSI)."""
    from tests.psi_helpers import psi_attempt

    return psi_attempt(exam, learner)


def make_client(*scopes: str) -> tuple[HTTPClient, object]:
    client_obj, token = create_api_client(f"client-{next(_seq)}", list(scopes))
    http = HTTPClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return http, client_obj


@pytest.fixture
def lms(db) -> HTTPClient:
    """An HTTP client authenticated as an LMS (scope lms)."""
    return make_client("lms")[0]


@pytest.fixture
def anon(db) -> HTTPClient:
    return HTTPClient()


@pytest.fixture
def make_exam(db):
    def factory(**overrides):
        n = next(_seq)
        data = {"course_id": COURSE, "content_id": f"block-{n}", "exam_name": f"Exam {n}",
                "time_limit_mins": 60, "backend": "mock", "is_proctored": True}
        data.update(overrides)
        return create_exam(data)

    return factory


@pytest.fixture
def exam(make_exam):
    return make_exam()


@pytest.fixture
def make_learner(db):
    def factory(**overrides):
        n = next(_seq)
        data = {"lms_user_id": f"lms-{n}", "username": f"learner{n}",
                "email": f"learner{n}@example.org", "full_name": f"Learner Number{n}"}
        data.update(overrides)
        return sync_learner(**data)

    return factory


@pytest.fixture
def learner(make_learner):
    return make_learner()


@pytest.fixture
def make_staff(db):
    def factory(course_id: str = COURSE, **kw) -> User:
        user = User.objects.create_user(username=f"staff{next(_seq)}", password="pw", **kw)
        if course_id:
            grant_course_role(user, course_id)
        return user

    return factory


@pytest.fixture
def other_staff_http(make_staff) -> HTTPClient:
    """Logged in as staff of OTHER_COURSE only."""
    http = HTTPClient()
    http.force_login(make_staff(OTHER_COURSE))
    return http


@pytest.fixture
def provider_http(db) -> HTTPClient:
    """An API client without scope lms."""
    return make_client("provider:mock")[0]


@pytest.fixture
def staff_http(make_staff) -> HTTPClient:
    """An HTTP client logged in (Django session) as course staff of COURSE."""
    http = HTTPClient()
    http.force_login(make_staff())
    return http


LEARNER = ActedBy(Actor.LEARNER, "test")
SYSTEM = ActedBy(Actor.SYSTEM, "test")
PROVIDER = ActedBy(Actor.PROVIDER, "test")
STAFF = ActedBy(Actor.STAFF, "test")
REVIEWER = ActedBy(Actor.REVIEWER, "test")


def submitted_attempt(exam, user):
    """A live attempt of ``user`` on ``exam``, taken through ready, start and submit."""
    from proctorhub.attempts.lifecycle import apply_action
    from proctorhub.attempts.services import create_attempt

    attempt = create_attempt(exam=exam, user=user, by=LEARNER)
    for action, by in (("ready", SYSTEM), ("start", LEARNER), ("submit", LEARNER)):
        attempt = apply_action(attempt.pk, action, by)
    assert attempt.status == "submitted"
    return attempt


def provider_review(attempt, status: str):
    """Apply a standard review of ``status`` from the mock provider."""
    from proctorhub.providers.base import NormalizedReview
    from proctorhub.reviews.services import apply_review

    return apply_review(attempt.pk, NormalizedReview(status=status), provider="mock",
                        raw={"status": status}, by=PROVIDER)
