"""Webhooks go out several at once (``[webhooks] send_threads``), and a backlog drains without
pauses; a receiver that is down is not hammered by the concurrency.

A real HTTP receiver on loopback answers slowly and counts the requests it has in flight.
"""

from __future__ import annotations

import threading

import pytest
from django.db import transaction

from proctorhub.notifications.dispatch import drain
from proctorhub.notifications.models import OutboxDelivery, OutboxEvent, State
from proctorhub.notifications.outbox import emit
from proctorhub.runtime import runner
from tests.outbox_fakes import drain_all, make_due

pytest_plugins = ["tests.outbox_fixtures"]  # fixtures: receiver, endpoint, notify_config, ...


def _events(n: int) -> list[OutboxEvent]:
    with transaction.atomic():
        return [emit("support.suspicious_review", {"attempt_id": None, "n": i},
                     key=f"concurrent:{i}") for i in range(n)]


def _webhook_rows(endpoint):
    return OutboxDelivery.objects.filter(destination=f"webhook:{endpoint.pk}")


def test_a_slow_receiver_gets_up_to_send_threads_requests_at_once(
    notify_config, receiver, endpoint
):
    notify_config.webhooks.update(send_threads=4, timeout_seconds=5)
    receiver.delay_seconds = 0.2
    _events(12)
    drain_all()
    assert receiver.max_in_flight == 4
    assert sorted(d["data"]["n"] for _, d in receiver.unique()) == list(range(12))
    assert receiver.requests == 12  # each sent once
    assert receiver.bad_signatures == []
    assert set(_webhook_rows(endpoint).values_list("state", flat=True)) == {State.DELIVERED}
    assert set(OutboxEvent.objects.values_list("state", flat=True)) == {State.DELIVERED}


def test_one_send_thread_sends_one_by_one(notify_config, receiver, endpoint):
    notify_config.webhooks.update(send_threads=1, timeout_seconds=5)
    receiver.delay_seconds = 0.05
    _events(5)
    drain_all()
    assert receiver.max_in_flight == 1
    assert len(receiver.unique()) == 5


def test_a_receiver_that_fails_costs_one_wave_and_the_rest_are_handed_back_untried(
    notify_config, receiver, endpoint
):
    notify_config.webhooks.update(send_threads=4, timeout_seconds=5)
    receiver.mode = "fail"
    _events(20)
    tried = drain(limit=100)
    assert receiver.requests <= 4            # the first wave at most, not 20
    rows = list(_webhook_rows(endpoint))
    failed = [r for r in rows if r.tries == 1]
    assert len(failed) == receiver.requests
    assert all(r.state == State.PENDING and "500" in r.last_error for r in failed)
    handed_back = [r for r in rows if r.tries == 0]
    assert len(handed_back) == 20 - receiver.requests and not any(r.last_error for r in handed_back)
    assert tried == 20 + receiver.requests   # 20 tracking rows + the webhook rows really tried

    receiver.mode = "ok"
    make_due()
    drain_all()
    assert sorted(d["data"]["n"] for _, d in receiver.unique()) == list(range(20))
    assert set(_webhook_rows(endpoint).values_list("state", flat=True)) == {State.DELIVERED}


@pytest.mark.django_db(transaction=True)
def test_the_background_loop_goes_on_without_pausing_while_a_backlog_lasts(
    notify_config, receiver, endpoint, monkeypatch
):
    monkeypatch.setattr(runner, "PASS_LIMIT", 5)
    _events(12)  # 24 rows: five full passes, then a short one
    stop = threading.Event()
    loop = threading.Thread(target=runner.run_forever, args=(stop,),
                            kwargs={"poll_seconds": 120}, daemon=True)
    loop.start()
    try:
        # A pause after a full pass would hold the loop for two minutes on its first pass.
        for _ in range(200):
            if not OutboxDelivery.objects.filter(state=State.PENDING).exists():
                break
            stop.wait(0.05)
        assert not OutboxDelivery.objects.filter(state=State.PENDING).exists()
        assert len(receiver.unique()) == 12
    finally:
        stop.set()
        loop.join(timeout=5)


def test_one_celery_sweep_sends_a_whole_backlog_not_one_pass(
    notify_config, receiver, endpoint, monkeypatch
):
    from proctorhub.notifications import celery as ph_celery

    monkeypatch.setattr(runner, "PASS_LIMIT", 5)
    _events(12)  # 24 rows: five passes of 5
    counts = ph_celery.sweep()  # the task body, as beat's worker runs it
    assert counts["outbox_sent"] == 24
    assert not OutboxDelivery.objects.filter(state=State.PENDING).exists()
    assert len(receiver.unique()) == 12
