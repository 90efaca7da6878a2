"""A lost database answers 503 with Retry-After on the staff pages, never a 500 page."""

from __future__ import annotations

import pytest
from django.db import OperationalError
from django.test import Client

from proctorhub.dashboard import selectors


@pytest.fixture
def staff_browser(make_staff):
    browser = Client()
    browser.force_login(make_staff())
    return browser


def test_staff_queue_answers_503_when_the_database_is_gone(staff_browser, monkeypatch):
    assert staff_browser.get("/staff/").status_code == 200

    def lost(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(selectors, "queue_counts", lost)
    response = staff_browser.get("/staff/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert b"Try again shortly" in response.content
