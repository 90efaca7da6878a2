"""Bad input on the whole API: schemathesis generates requests from our own OpenAPI schema.

Every operation of ``/api/schema/`` is called with generated (valid and invalid) parameters and
bodies, as an LMS client; no answer may be a 5xx. Half of the cases are pointed at an exam and an
attempt that exist, so the generated bodies reach the services instead of stopping at a 404.
"""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.db import transaction
from hypothesis import HealthCheck, settings

from tests.conftest import make_client
from tests.reliability.conftest import ANSWERS, CASES, EXAMPLES

schemathesis = pytest.importorskip("schemathesis")

PER_OPERATION = max(EXAMPLES // 3, 10)


def _app(environ, start_response):
    """proctorhub's WSGI app, minus the connection closing around each request (as Django's test client
    does): the test's transaction must survive each call."""
    from django.core import signals
    from django.db import close_old_connections

    from proctorhub.wsgi import application

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        response = application(environ, start_response)
        body = b"".join(response)
        response.close()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)
    return [body]


def _load_schema():
    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", _app)


schema = _load_schema()


@pytest.fixture
def lms_token(db, make_exam, make_learner):
    from proctorhub.attempts.services import create_attempt
    from tests.conftest import LEARNER

    http, client_obj = make_client("lms")
    token = http._credentials["HTTP_AUTHORIZATION"].split(" ", 1)[1]
    exam = make_exam()
    attempt = create_attempt(exam=exam, user=make_learner(), by=LEARNER)
    return token, {"exam_id": exam.pk, "attempt_id": attempt.pk}


@schema.parametrize()
@settings(max_examples=PER_OPERATION, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much, HealthCheck.data_too_large])
def test_no_server_error(case, lms_token):
    token, real_ids = lms_token
    CASES["API operations (schemathesis)"] += 1
    if case.path_parameters and CASES["API operations (schemathesis)"] % 2:
        for name, value in real_ids.items():
            if name in case.path_parameters:
                case.path_parameters[name] = value
    with transaction.atomic():  # a savepoint: one failing case cannot poison the next
        response = case.call(headers={"Authorization": f"Bearer {token}"})
    ANSWERS[response.status_code] += 1
    cache.clear()  # the launch URL's rate limit must not turn the next cases into 429s
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}")
