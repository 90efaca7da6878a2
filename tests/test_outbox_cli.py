"""``proctorhub outbox list|retry|replay|endpoints|add-endpoint`` and ``proctorhub worker --once``."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from standardwebhooks.webhooks import Webhook

from proctorhub.attempts.services import create_attempt
from proctorhub.notifications.models import OutboxDelivery, WebhookEndpoint
from tests.conftest import LEARNER
from tests.outbox_fakes import drain_all

pytest_plugins = ["tests.outbox_fixtures"]  # fixtures: receiver, endpoint, notify_config, ...


def run(*args) -> str:
    out = io.StringIO()
    call_command("outbox", *args, stdout=out)
    return out.getvalue()


def test_list_shows_id_kind_state_tries_and_last_error(
    notify_config, quiet_mock, receiver, endpoint, exam, learner
):
    receiver.mode = "fail"
    create_attempt(exam=exam, user=learner, by=LEARNER)
    drain_all()
    text = run("list")
    header, *lines = text.splitlines()
    assert header.split()[:6] == ["id", "event", "kind", "destination", "state", "tries"]
    row = OutboxDelivery.objects.get(destination=endpoint.destination)
    mine = next(line for line in lines if line.split()[0] == str(row.pk))
    assert "attempt.created" in mine and "pending" in mine and "500" in mine
    items = [json.loads(line) for line in run("list", "--json", "--state", "pending").splitlines()]
    assert [i["id"] for i in items] == [row.pk]
    assert items[0]["idempotency_key"] == row.idempotency_key and items[0]["tries"] == 1
    assert run("list", "--kind", "attempt.archived").splitlines()[1:] == []


def test_retry_and_replay_from_the_command_line(
    notify_config, quiet_mock, receiver, endpoint, exam, learner
):
    receiver.status = 410
    attempt = create_attempt(exam=exam, user=learner, by=LEARNER)
    drain_all()
    row = OutboxDelivery.objects.get(destination=endpoint.destination)
    assert row.state == "dead"
    with pytest.raises(CommandError, match="--all"):
        run("retry")
    receiver.status = 204
    assert "1 row(s) due now" in run("retry", str(row.pk))
    drain_all()
    row.refresh_from_db()
    assert row.state == "delivered"

    with pytest.raises(CommandError, match="name rows"):
        run("replay")
    assert "1 delivered row(s)" in run("replay", "--attempt", str(attempt.pk), "--destination",
                                       endpoint.destination)
    drain_all()
    keys = [m for m, _ in receiver.received]
    assert keys[-2:] == [row.idempotency_key, row.idempotency_key]  # same webhook-id again
    assert "0 row(s) due now" in run("retry", "--all")  # nothing is dead any more


def test_add_endpoint_prints_a_standard_webhooks_secret(db):
    out = run("add-endpoint", "canvas", "https://lms.example.org/hooks",
              "--kind", "attempt.status_changed")
    secret = out.strip().splitlines()[-1]
    assert secret.startswith("whsec_")
    Webhook(secret)  # a valid Standard Webhooks secret
    ep = WebhookEndpoint.objects.get(name="canvas")
    assert ep.secret == secret and ep.event_kinds == ["attempt.status_changed"]
    assert "canvas" in run("endpoints") and "attempt.status_changed" in run("endpoints")
    with pytest.raises(CommandError, match="already exists"):
        run("add-endpoint", "canvas", "https://lms.example.org/other")
    with pytest.raises(CommandError, match="unknown event kind"):
        run("add-endpoint", "x", "https://lms.example.org/x", "--kind", "attempt.exploded")


def test_worker_once_drains_without_a_broker(
    notify_config, quiet_mock, receiver, endpoint, exam, learner
):
    create_attempt(exam=exam, user=learner, by=LEARNER)
    out = io.StringIO()
    call_command("worker", "--once", stdout=out)
    assert "'outbox_sent': 2" in out.getvalue()  # tracking + webhook
    assert len(receiver.received) == 1
