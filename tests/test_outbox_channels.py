"""Support tickets (a fake Zendesk on loopback, through zenpy), emails (locmem), tracking log."""

from __future__ import annotations

import json

import pytest
from django.core import mail

from proctorhub import config
from proctorhub.attempts.lifecycle import apply_action
from proctorhub.attempts.services import create_attempt
from proctorhub.notifications import maintenance
from proctorhub.notifications.models import OutboxDelivery
from tests.conftest import COURSE, LEARNER, STAFF
from tests.conftest import provider_review as review
from tests.conftest import submitted_attempt as submitted
from tests.outbox_fakes import drain_all, make_due

pytest_plugins = ["tests.outbox_fixtures"]  # fixtures: receiver, endpoint, notify_config, ...


def support_row(attempt):
    return OutboxDelivery.objects.get(attempt_id=attempt.pk, destination="support")


# --- Zendesk ----------------------------------------------------------------------------------
def test_one_zendesk_ticket_per_suspicious_review(
    notify_config, quiet_mock, zendesk, exam, learner, settings
):
    attempt = submitted(exam, learner)
    review(attempt, "suspicious")
    assert review(attempt, "suspicious").duplicate  # re-delivered by the provider
    review(submitted(exam, learner.__class__.objects.create(username="other")), "passed")
    drain_all()

    assert len(zendesk.tickets) == 1
    ticket = zendesk.tickets[0]
    assert COURSE in ticket["subject"] and exam.exam_name in ticket["subject"]
    body = ticket["comment"]["body"]
    assert learner.username in body and "suspicious" in body
    assert f"{settings.CONFIG.base_url}/staff/attempts/{attempt.pk}" in body
    assert learner.email not in body and learner.full_name not in body
    row = support_row(attempt)
    assert ticket["external_id"] == row.idempotency_key and row.state == "delivered"
    assert ticket["tags"] == ["proctorhub", "suspicious_review"]
    assert mail.outbox == [] or all("support" not in m.to[0] for m in mail.outbox)

    # Replayed (or re-sent after a crash): found by external_id, no second ticket.
    maintenance.replay(maintenance.select(ids=[row.pk]))
    drain_all()
    assert len(zendesk.tickets) == 1
    assert OutboxDelivery.objects.get(pk=row.pk).state == "delivered"


def test_zendesk_unavailable_then_back(notify_config, quiet_mock, zendesk, exam, learner):
    zendesk.fail_next = 1
    attempt = submitted(exam, learner)
    review(attempt, "suspicious")
    drain_all()
    row = support_row(attempt)
    assert row.state == "pending" and row.tries == 1 and zendesk.tickets == []
    make_due()
    drain_all()
    assert len(zendesk.tickets) == 1 and support_row(attempt).state == "delivered"


def test_zendesk_refusing_our_token_parks_the_row_dead(
    notify_config, quiet_mock, zendesk, exam, learner
):
    notify_config.zendesk["token"] = "wrong"
    attempt = submitted(exam, learner)
    review(attempt, "suspicious")
    drain_all()
    row = support_row(attempt)
    assert row.state == "dead" and "401" in row.last_error and zendesk.tickets == []


def test_without_zendesk_the_support_address_gets_an_email(
    notify_config, quiet_mock, exam, learner
):
    notify_config.email.update(support_address="support@example.org", learner_emails=False)
    attempt = submitted(exam, learner)
    review(attempt, "suspicious")
    drain_all()
    [msg] = mail.outbox
    assert msg.to == ["support@example.org"]
    assert COURSE in msg.subject and exam.exam_name in msg.subject
    assert learner.username in msg.body and f"/staff/attempts/{attempt.pk}" in msg.body
    assert msg.extra_headers["X-Proctorhub-Event"] == support_row(attempt).idempotency_key


def test_no_support_destination_when_nothing_is_configured(notify_config, quiet_mock, exam,
                                                           learner):
    attempt = submitted(exam, learner)
    review(attempt, "suspicious")
    assert not OutboxDelivery.objects.filter(attempt_id=attempt.pk,
                                             destination="support").exists()


# --- learner emails -----------------------------------------------------------------------------
def test_learner_hears_on_submitted_verified_and_rejected(
    notify_config, quiet_mock, exam, make_learner
):
    ada, bob = make_learner(), make_learner()
    review(submitted(exam, ada), "passed")
    bad = submitted(exam, bob)
    review(bad, "suspicious")
    apply_action(bad.pk, "reject", STAFF, reason="notes on desk")
    drain_all()
    got = [(m.to[0], m.subject.split(":")[0]) for m in mail.outbox]
    # In order for each learner (attempts are independent of each other).
    assert [s for to, s in got if to == ada.email] == [
        "Proctoring results submitted", "Proctoring review passed"]
    assert [s for to, s in got if to == bob.email] == [
        "Proctoring results submitted", "Proctoring review result"]
    assert len(got) == 4
    assert all(exam.exam_name in m.subject and m.from_email == "proctorhub@localhost"
               for m in mail.outbox)
    assert "did not meet the exam rules" in [m for m in mail.outbox if m.to == [bob.email]][-1].body
    assert mail.outbox[0].extra_headers["Message-ID"].startswith("<")


@pytest.mark.parametrize("kind", ["practice", "unproctored"])
def test_no_learner_email_for_practice_or_unproctored_exams(
    notify_config, quiet_mock, make_exam, learner, kind
):
    exam = make_exam(is_practice_exam=True) if kind == "practice" else make_exam(
        is_proctored=False, backend="null")
    attempt = submitted(exam, learner)
    drain_all()
    assert not OutboxDelivery.objects.filter(attempt_id=attempt.pk, destination="email").exists()
    assert mail.outbox == []


def test_operators_override_the_email_templates(
    notify_config, quiet_mock, exam, learner, settings, tmp_path
):
    custom = tmp_path / "templates" / "proctorhub" / "email"
    custom.mkdir(parents=True)
    (custom / "attempt_submitted_subject.txt").write_text("We got your exam {{ exam_name }}")
    (custom / "attempt_submitted.txt").write_text("Custom body for {{ username }}")
    (custom / "attempt_submitted.html").write_text("<p>Custom for {{ username }}</p>")
    engine = dict(settings.TEMPLATES[0])
    engine["DIRS"] = [str(tmp_path / "templates"), *engine["DIRS"]]
    settings.TEMPLATES = [engine]
    submitted(exam, learner)
    drain_all()
    [msg] = mail.outbox
    assert msg.subject == f"We got your exam {exam.exam_name}"
    assert msg.body == f"Custom body for {learner.username}"
    assert msg.alternatives[0][0] == f"<p>Custom for {learner.username}</p>"


def test_template_dirs_come_from_the_config_file(tmp_path):
    toml = tmp_path / "c.toml"
    toml.write_text('[email]\ntemplate_dirs = "/srv/ph-templates"\nsupport_address = "s@x.org"\n'
                    '[tracking]\npath = "stdout"\n[zendesk]\nsubdomain = "acme"\nemail = "a@x.org"\n')
    cfg = config.load({"PROCTORHUB_CONFIG": str(toml), "PROCTORHUB_VAR_DIR": str(tmp_path),
                       "ZENDESK_TOKEN": "tok"})
    assert cfg.email["template_dirs"] == ["/srv/ph-templates"]
    assert cfg.zendesk["token"] == "tok" and cfg.tracking["path"] == "stdout"
    with pytest.raises(config.ConfigError, match="needs email and token"):
        config.load({"PROCTORHUB_CONFIG": str(toml), "PROCTORHUB_VAR_DIR": str(tmp_path)})


# --- tracking log -----------------------------------------------------------------------------
def test_tracking_log_has_one_json_line_per_event(
    notify_config, quiet_mock, exam, learner, tmp_path
):
    attempt = submitted(exam, learner)
    review(attempt, "passed")
    drain_all()
    lines = [json.loads(line) for line in (tmp_path / "tracking.log").read_text().splitlines()]
    names = [line["name"] for line in lines]
    assert names == ["proctorhub.attempt.created"] + ["proctorhub.attempt.status_changed"] * 3 + [
        "proctorhub.attempt.status_changed", "proctorhub.review.received"]
    last_change = lines[-2]
    assert last_change["status"] == "verified" and last_change["old_status"] == "submitted"
    for line in lines:
        assert line["course_id"] == COURSE and line["exam_id"] == exam.pk
        assert line["attempt_id"] == attempt.pk and line["content_id"] == exam.content_id
        assert line["time"].endswith("+00:00")
        assert learner.username not in json.dumps(line) and learner.email not in json.dumps(line)
    assert lines[-1]["review_status"] == "passed"


def test_tracking_log_to_stdout(notify_config, quiet_mock, exam, learner, capsys):
    notify_config.tracking["path"] = "stdout"
    create_attempt(exam=exam, user=learner, by=LEARNER)
    drain_all()
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [line["name"] for line in out] == ["proctorhub.attempt.created"]
    assert out[0]["status"] == "created"
