"""16 threads deliver the same PSI review at once: one review, comments once, one notification."""

from __future__ import annotations

import json
import threading

import pytest
from django.db import connection
from django.test import Client

from proctorhub.notifications.models import OutboxEvent
from proctorhub.reviews.models import Delivery, Review, ReviewComment
from tests.psi_helpers import URL, basic_header, payload, psi_attempt, psi_settings

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_sixteen_concurrent_identical_deliveries(providers_config, exam, learner):
    providers_config["software_secure"] = psi_settings()
    attempt = psi_attempt(exam, learner)
    body = json.dumps(payload("review_suspicious.json", attempt))
    barrier = threading.Barrier(16)
    answers: list[int] = []

    def deliver():
        try:
            barrier.wait()
            response = Client().generic("POST", URL, body, content_type="application/json",
                                        HTTP_AUTHORIZATION=basic_header())
            answers.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(answers) == 16
    assert set(answers) <= {200, 503} and 200 in answers  # never a 500
    assert Review.objects.filter(attempt=attempt).count() == 1
    expected = len(json.loads(body)["webCamComments"]) + len(json.loads(body)["desktopComments"])
    assert ReviewComment.objects.filter(review__attempt=attempt).count() == expected
    assert OutboxEvent.objects.filter(kind="support.suspicious_review").count() == 1
    assert OutboxEvent.objects.filter(kind="review.received").count() == 1
    outcomes = list(Delivery.objects.values_list("outcome", flat=True))
    assert len(outcomes) == 16 and outcomes.count("applied") == 1
    assert set(outcomes) <= {"applied", "duplicate", "failed"}
