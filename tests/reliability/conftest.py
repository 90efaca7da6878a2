"""Reliability suite: shared knobs and the count of fuzz cases tried (printed at the end)."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

#: Examples per hypothesis/schemathesis test; CI keeps the default, `make reliability` raises it.
EXAMPLES = int(os.environ.get("RELIABILITY_EXAMPLES", "150"))
#: Seconds of load in the load test (short mode 30, full mode 300).
SECONDS = float(os.environ.get("RELIABILITY_SECONDS", "30"))

#: Cases tried per fuzz target, counted by the tests themselves.
CASES: Counter = Counter()
#: Answers of the fuzzed API by status code, to show the cases got past authentication.
ANSWERS: Counter = Counter()
#: PSI fuzz cases by kind of body (mutated, deep, invalid_utf8, ...).
KINDS: Counter = Counter()
#: The load test's summary (requests, rates, outcomes), printed at the end.
LOAD: dict = {}


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if LOAD:
        terminalreporter.section("reliability: load")
        for key, value in LOAD.items():
            terminalreporter.write_line(f"{key}: {value}")
    if not CASES:
        return
    terminalreporter.section("reliability: fuzz cases tried")
    for name, count in sorted(CASES.items()):
        terminalreporter.write_line(f"{name}: {count}")
    terminalreporter.write_line(f"total: {sum(CASES.values())}")
    if KINDS:
        terminalreporter.write_line("PSI bodies by kind: " + ", ".join(
            f"{kind}: {n}" for kind, n in sorted(KINDS.items())))
    if ANSWERS:
        terminalreporter.write_line("API answers by status: " + ", ".join(
            f"{code}: {n}" for code, n in sorted(ANSWERS.items())))
    out = os.environ.get("RELIABILITY_REPORT")
    if out:
        Path(out).write_text(json.dumps({"cases": dict(CASES), "psi_kinds": dict(KINDS),
                                         "api_answers": dict(ANSWERS), "load": LOAD}, indent=2))


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rate-limit counters live in the cache: no test may inherit another's (or leave its own)."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()
