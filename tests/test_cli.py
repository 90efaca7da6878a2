"""The console script: create-api-client, demo, serve (a real gunicorn on loopback)."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError

from proctorhub.accounts.models import APIClient, hash_token
from proctorhub.attempts.models import Attempt
from proctorhub.exams.models import Exam
from proctorhub.runtime import demo

PROCTORHUB = str(Path(sys.executable).with_name("proctorhub"))


def test_create_api_client_prints_the_token_once_alone_on_the_last_line(db):
    out = io.StringIO()
    call_command("create_api_client", "my-lms", "--scope", "lms", "--scope", "provider:mock",
                 stdout=out)
    token = out.getvalue().strip().splitlines()[-1]
    assert " " not in token and token.startswith("ph_")
    client = APIClient.objects.get(name="my-lms")
    assert client.token_hash == hash_token(token)  # stored hashed, never in clear
    assert token not in str(APIClient.objects.values().get(pk=client.pk))
    assert client.scopes == ["lms", "provider:mock"]


@pytest.mark.parametrize("args, needle", [
    (["x", "--scope", "everything"], "invalid scope"),
])
def test_create_api_client_refuses_bad_scopes(db, args, needle):
    with pytest.raises(CommandError, match=needle):
        call_command("create_api_client", *args)


def test_create_api_client_refuses_a_duplicate_name(db):
    call_command("create_api_client", "dup", "--scope", "lms", stdout=io.StringIO())
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_api_client", "dup", "--scope", "lms", stdout=io.StringIO())


def test_demo_is_idempotent_and_covers_several_states(db):
    call_command("demo", stdout=io.StringIO())
    exams = Exam.objects.filter(course_id=demo.COURSE)
    assert {(e.is_proctored, e.is_practice_exam, e.backend) for e in exams} == {
        (True, False, "mock"), (True, True, "mock"), (False, False, "null")}
    first = sorted(Attempt.objects.values_list("id", "status"))
    assert len({status for _, status in first}) >= 5
    call_command("demo", stdout=io.StringIO())
    assert sorted(Attempt.objects.values_list("id", "status")) == first
    assert Exam.objects.filter(course_id=demo.COURSE).count() == 3


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not os.path.exists(PROCTORHUB), reason="console script not installed")
def test_serve_migrates_and_answers_on_the_bound_port(tmp_path):
    """What `make run` does: migrate, demo, serve; then an LMS client reads attempts."""
    port = _free_port()
    env = {**os.environ, "PROCTORHUB_VAR_DIR": str(tmp_path), "PROCTORHUB_ENV": "development",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'serve.sqlite3'}"}
    env.pop("PROCTORHUB_BASE_URL", None)
    subprocess.run([PROCTORHUB, "migrate", "-v0"], env=env, check=True, timeout=120)
    subprocess.run([PROCTORHUB, "demo"], env=env, check=True, timeout=120, capture_output=True)
    token = subprocess.run([PROCTORHUB, "create-api-client", "lms", "--scope", "lms"], env=env,
                           check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    server = subprocess.Popen([PROCTORHUB, "serve", "--bind", f"127.0.0.1:{port}", "--workers", "1"],
                              env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                health = requests.get(f"{base}/api/v1/health",
                                      headers={"Authorization": f"Bearer {token}"}, timeout=2)
                break
            except requests.RequestException:
                time.sleep(0.2)
        else:
            pytest.fail("server did not start")
        assert health.status_code == 200 and health.json()["database"] == "ok"
        assert requests.get(f"{base}/api/v1/health", timeout=5).status_code == 401
        attempts = requests.get(f"{base}/api/v1/attempts", timeout=5,
                                headers={"Authorization": f"Bearer {token}"}).json()
        assert attempts["count"] >= 8
        assert requests.get(f"{base}/api/docs/", timeout=5).status_code == 200
        # The embedded runner delivers the mock's reviews through the HTTP callback.
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            statuses = {a["status"] for a in requests.get(
                f"{base}/api/v1/attempts?page_size=100", timeout=5,
                headers={"Authorization": f"Bearer {token}"}).json()["results"]}
            if {"verified", "second_review_required", "error"} <= statuses:
                break
            time.sleep(0.5)
        assert {"verified", "second_review_required", "error"} <= statuses
    finally:
        server.terminate()
        server.wait(timeout=20)


def test_course_staff_sign_in_page_logs_in_with_a_session(db, make_staff):
    from django.test import Client

    staff = make_staff()
    browser = Client(enforce_csrf_checks=False)
    page = browser.get("/accounts/login/")
    assert page.status_code == 200 and b"Sign in" in page.content
    bad = browser.post("/accounts/login/", {"username": staff.username, "password": "wrong"})
    assert b"didn&#x27;t match" in bad.content or b"didn't match" in bad.content
    ok = browser.post("/accounts/login/", {"username": staff.username, "password": "pw"})
    assert ok.status_code == 302
    assert browser.get("/api/v1/exams").status_code == 200  # session now authenticates the API


def test_serve_refuses_threads_on_sqlite(tmp_path):
    env = {**os.environ, "PROCTORHUB_VAR_DIR": str(tmp_path), "PROCTORHUB_ENV": "development",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'threads.sqlite3'}"}
    out = subprocess.run([PROCTORHUB, "serve", "--threads", "4", "--no-migrate"], env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "needs PostgreSQL" in out.stderr
