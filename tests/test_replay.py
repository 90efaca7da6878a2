"""replay-deliveries: orphaned deliveries apply once their attempt exists; rejected never replay."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from proctorhub.attempts.models import Attempt
from proctorhub.reviews.models import Delivery, Review
from proctorhub.reviews.replay import replay_deliveries
from tests.psi_helpers import basic_header, payload, post, psi_attempt, psi_settings


@pytest.fixture
def psi(providers_config):
    providers_config["software_secure"] = psi_settings()


def _orphan(anon, attempt):
    body = payload("review_clean.json", attempt)
    body["examMetaData"]["examCode"] = "LATE-CODE"
    assert post(anon, body).status_code == 400
    return Delivery.objects.get(outcome="orphaned")


def test_orphaned_delivery_applies_once_the_attempt_appears(psi, anon, exam, learner):
    attempt = psi_attempt(exam, learner)
    orphan = _orphan(anon, attempt)
    dry = io.StringIO()
    call_command("replay_deliveries", "--dry-run", stdout=dry)
    assert f"delivery {orphan.pk}: orphaned -> (dry run)" in dry.getvalue()
    assert not Review.objects.exists()
    Attempt.objects.filter(pk=attempt.pk).update(attempt_code="LATE-CODE")
    out = io.StringIO()
    call_command("replay_deliveries", "--state", "orphaned", stdout=out)
    assert f"delivery {orphan.pk}: orphaned -> applied" in out.getvalue()
    orphan.refresh_from_db()
    assert orphan.outcome == "applied" and orphan.replayed_at is not None
    assert Attempt.objects.get(pk=attempt.pk).status == "verified"
    assert replay_deliveries() == []  # nothing left to replay


def test_since_filters_and_rejected_deliveries_are_never_replayed(psi, anon, exam, learner):
    attempt = psi_attempt(exam, learner)
    _orphan(anon, attempt)
    post(anon, payload("review_clean.json", attempt), auth=basic_header("psi", "wrong"))
    assert Delivery.objects.filter(outcome="rejected").count() == 1
    assert replay_deliveries(since=Delivery.objects.latest("id").received_at, dry_run=True) == []
    with pytest.raises(ValueError, match="can be replayed"):
        replay_deliveries(states=("rejected",))
    with pytest.raises(CommandError, match="not a date"):
        call_command("replay_deliveries", "--since", "yesterday", stdout=io.StringIO())


def test_a_delivery_cut_off_before_its_outcome_is_settled_as_failed_by_the_runner(db):
    from datetime import timedelta

    from django.utils import timezone

    from proctorhub.runtime.runner import run_once

    old = Delivery.objects.create(provider="software_secure", payload={"x": 1})
    fresh = Delivery.objects.create(provider="software_secure", payload={"x": 2})
    Delivery.objects.filter(pk=old.pk).update(received_at=timezone.now() - timedelta(minutes=11))
    assert run_once()["deliveries_abandoned"] == 1
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert old.outcome == "failed" and "cut off" in old.detail
    assert fresh.outcome == "received"  # may still be in flight
    assert run_once(sweep=False) == {"outbox_sent": 0}
