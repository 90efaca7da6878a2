"""Load (PostgreSQL only): RELIABILITY_SECONDS (default 30; `make reliability`: 300) of mixed
traffic against `proctorhub serve --workers 2 --no-runner` on its own fresh database; afterwards
every review is present exactly once with its comments once, every status is the policy's, and
no answer was a 5xx. See load.py."""

from __future__ import annotations

import json
import os

import pytest
from django.conf import settings

from tests.reliability.conftest import LOAD, SECONDS
from tests.reliability.load import Load, Server, fresh_database

pytestmark = pytest.mark.postgres


def _server_url() -> str:
    db = settings.DATABASES["default"]
    return (f"postgres://{db.get('USER') or 'postgres'}"
            f"{':' + db['PASSWORD'] if db.get('PASSWORD') else ''}"
            f"@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/postgres")


@pytest.fixture
def server():
    name = os.environ.get("RELIABILITY_DB", "proctorhub_reliability")
    srv = Server(fresh_database(_server_url(), name)).start()
    yield srv
    srv.stop()


def test_mixed_load_loses_nothing_and_never_answers_5xx(server):
    load = Load(server, SECONDS)
    summary = load.run()
    server.stop()
    problems = load.check()
    summary["delivery_outcomes"] = load.outcomes
    print("\nreliability load:", json.dumps(summary, indent=2))
    LOAD.update(summary)
    assert summary["reviewed"] > 0 and summary["attempts"] > 0
    assert not problems, "\n".join(problems[:40]) + f"\nserver log: {server.workdir}/server.log"
    server.cleanup()


def test_killed_database_connections_answer_503_and_lose_nothing(server):
    """Faults: every server connection to PostgreSQL is terminated twice during the load. The
    requests that hit a dead connection are answered 503 with Retry-After (never 500), nothing is
    half-applied, and the refused callbacks, re-delivered as PSI would, all land."""
    seconds = max(6.0, SECONDS / 3)
    load = Load(server, seconds, seed=1, interrupt_at=(seconds / 3, 2 * seconds / 3))
    summary = load.run()
    server.stop()
    problems = load.check()
    summary["delivery_outcomes"] = load.outcomes
    print("\nreliability faults:", json.dumps(summary, indent=2))
    LOAD.update({f"faults {k}": v for k, v in summary.items() if k != "by_kind"})
    assert summary["reviewed"] > 0 and load.terminated > 0
    assert not problems, "\n".join(problems[:40]) + f"\nserver log: {server.workdir}/server.log"
    server.cleanup()
