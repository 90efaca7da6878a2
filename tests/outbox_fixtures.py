"""Fixtures for the outbox tests (registered with ``pytest_plugins = ["tests.outbox_fixtures"]``).

The receivers and helpers they use live in :mod:`tests.outbox_fakes`.
"""

from __future__ import annotations

import pytest
import redis
from django.conf import settings

from proctorhub.notifications import celery as ph_celery
from proctorhub.notifications.models import WebhookEndpoint, new_webhook_secret
from tests.outbox_fakes import QUEUE, REDIS_URL, FakeZendesk, WebhookReceiver

NOTIFY_SECTIONS = ("outbox", "webhooks", "zendesk", "email", "tracking")


@pytest.fixture
def quiet_mock(providers_config):
    """The mock provider's review post waits an hour, so tests decide every review."""
    providers_config["mock"] = {"review_outcome": "passed", "review_delay_seconds": 3600}
    return providers_config


@pytest.fixture
def notify_config(tmp_path):
    """Change [outbox]/[webhooks]/[zendesk]/[email]/[tracking] for one test; restored after.

    Tracking goes to a file in ``tmp_path``; webhook requests time out after 0.3 s.
    """
    saved = {name: dict(getattr(settings.CONFIG, name)) for name in NOTIFY_SECTIONS}
    cfg = settings.CONFIG
    cfg.tracking["path"] = str(tmp_path / "tracking.log")
    cfg.webhooks["timeout_seconds"] = 0.3
    yield cfg
    for name, values in saved.items():
        getattr(cfg, name).clear()
        getattr(cfg, name).update(values)


@pytest.fixture
def receiver():
    rx = WebhookReceiver(new_webhook_secret())
    yield rx
    rx.close()


@pytest.fixture
def endpoint(db, receiver):
    return WebhookEndpoint.objects.create(name="lms", url=receiver.url, secret=receiver.secret)


@pytest.fixture
def zendesk(notify_config):
    zd = FakeZendesk()
    notify_config.zendesk.update(api_url=zd.url, email=zd.email, token=zd.token)
    yield zd
    zd.close()


@pytest.fixture
def broker(settings):
    """Point the app (and settings.CELERY_BROKER_URL) at a broker for one test."""
    app = ph_celery.app
    saved = app.conf.broker_url
    app.conf.task_default_queue = QUEUE

    def point_at(url: str) -> None:
        settings.CELERY_BROKER_URL = url
        app.conf.broker_url = url
        app._pool = None
        app.amqp._producer_pool = None

    yield point_at
    app.conf.broker_url = saved
    app._pool = None
    app.amqp._producer_pool = None
    redis.Redis.from_url(REDIS_URL).delete(QUEUE)
