"""Bad input on the PSI review callback: hypothesis throws malformed bodies at it, authenticated.

Whatever arrives — wrong types, missing keys, huge strings, deep nesting, invalid UTF-8, bodies
that are not JSON, bodies over the limit — the answer is never a 500, every delivery is recorded,
and a refused delivery changes nothing: no review stored, no attempt status moved.
"""

from __future__ import annotations

import copy
import json

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proctorhub.attempts.models import Attempt
from proctorhub.reviews.models import Delivery, Review, ReviewComment
from tests.psi_helpers import TOKEN, URL, basic_header, payload, psi_attempt, psi_settings
from tests.reliability.conftest import CASES, EXAMPLES, KINDS

LIMIT = 64 * 1024  # a small body limit for the test, so oversize bodies stay cheap to make
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large, HealthCheck.large_base_example])
CONTENT_TYPES = ["application/json", "text/plain", "application/x-www-form-urlencoded",
                 "multipart/form-data; boundary=xyz", "application/octet-stream", ""]

leaves = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                   st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=40))
json_values = st.recursive(
    leaves, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                        max_size=4),
    max_leaves=16)


def _deep(depth: int, kind: str) -> str:
    if kind == "list":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "1" + "}" * depth


def _paths(value, prefix=()):
    """Every path into a JSON document (keys and list indexes)."""
    yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            yield from _paths(child, prefix + (key,))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _paths(child, prefix + (i,))


def _set(doc, path, value, *, delete=False):
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value


@st.composite
def mutated(draw, base: dict) -> bytes:
    """The valid payload with a few keys deleted or replaced by wrong types, huge or deep values."""
    doc = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 4))):
        paths = [p for p in _paths(doc) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        op = draw(st.sampled_from(["delete", "replace", "huge", "deep", "type"]))
        if op == "delete":
            _set(doc, path, None, delete=True)
        elif op == "replace":
            _set(doc, path, draw(json_values))
        elif op == "huge":
            _set(doc, path, draw(st.sampled_from("xé\u2603\U0001f600")) *
                 draw(st.integers(1000, 20000)))
        elif op == "type":
            _set(doc, path, draw(st.sampled_from([[], {}, 0, -1, 1.5, True, None, "", "1e3",
                                                  10**30, [None], {"": None}])))
        else:
            _set(doc, path, "__DEEP__")
            text = json.dumps(doc).replace('"__DEEP__"', _deep(draw(st.integers(5, 3000)),
                                                               draw(st.sampled_from(["list", "dict"]))))
            return text.encode()
    return json.dumps(doc, ensure_ascii=draw(st.booleans())).encode()


@st.composite
def bodies(draw, base: dict) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(["mutated", "mutated", "mutated", "json", "bytes", "invalid_utf8",
                                 "deep", "non_json", "oversize", "escapes"]))
    if kind == "mutated":
        return kind, draw(mutated(base))
    if kind == "json":
        return kind, json.dumps(draw(json_values)).encode()
    if kind == "bytes":
        return kind, draw(st.binary(max_size=2000))
    if kind == "invalid_utf8":
        text = json.dumps(base).encode()
        at = draw(st.integers(0, len(text)))
        bad = draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80",
                                    b"\x80", b"\xfe\xff"]))
        return kind, text[:at] + bad + text[at:]
    if kind == "deep":
        return kind, _deep(draw(st.integers(10, 100_000)), draw(st.sampled_from(["list", "dict"]))).encode()
    if kind == "non_json":
        return kind, draw(st.sampled_from([
            b"reviewStatus=Clean&examCode=x", b"<xml><reviewStatus>Clean</reviewStatus></xml>",
            b"", b"null", b"true", b"42", b'"Clean"', b"{", b"{'reviewStatus': 'Clean'}",
            b"\x00\x00\x00", b"\xef\xbb\xbf{}", json.dumps(base).encode()[:-1]]))
    if kind == "oversize":
        size = LIMIT + draw(st.integers(1, 4096))
        doc = dict(base, overAllComments="x" * size)
        return kind, json.dumps(doc).encode()
    # JSON that parses in Python but that a database cannot store: lone surrogates, NUL,
    # NaN/Infinity, numbers too big for a float or for int().
    key = draw(st.sampled_from(["reviewStatus", "overAllComments", "examDate"]))
    value = draw(st.sampled_from(['"\\ud800"', '"a\\udfffb"', '"\\u0000"', "NaN", "Infinity",
                                  "-Infinity", "1e999", "9" * 5000, '"\\ud83d\\ude00"']))
    text = json.dumps(dict(base, **{key: "__X__"})).replace('"__X__"', value)
    return kind, text.encode()


def _state(attempt_ids):
    return (Review.objects.count(), ReviewComment.objects.count(),
            list(Review.objects.order_by("pk").values_list("pk", "status", "payload_sha256")),
            list(Attempt.objects.filter(pk__in=attempt_ids).order_by("pk")
                 .values_list("pk", "status", "is_archived")))


@pytest.fixture
def psi(providers_config, reviews_config):
    providers_config["software_secure"] = psi_settings()
    reviews_config["max_body_bytes"] = LIMIT


@pytest.mark.parametrize("fixture", ["review_clean.json", "review_suspicious.json"])
def test_psi_callback_survives_any_body(psi, anon, exam, make_learner, fixture):
    attempts = [psi_attempt(exam, make_learner(), locator=f"SSI-FUZZ-{i}") for i in range(2)]
    base = payload(fixture, attempts[0])
    ids = [a.pk for a in attempts]
    seen: dict[str, int] = {}

    @FUZZ
    @given(case=bodies(base), content_type=st.sampled_from(CONTENT_TYPES),
           token_path=st.booleans())
    def run(case, content_type, token_path):
        kind, body = case
        CASES["psi callback (hypothesis)"] += 1
        seen[kind] = seen.get(kind, 0) + 1
        KINDS[kind] += 1
        before, deliveries = _state(ids), Delivery.objects.count()
        url, auth = (f"{URL}/{TOKEN}", "") if token_path else (URL, basic_header())
        with transaction.atomic():  # a savepoint: one failing example cannot poison the next
            response = anon.generic("POST", url, body, content_type=content_type,
                                    HTTP_AUTHORIZATION=auth)
        assert response.status_code < 500, (kind, response.status_code, response.content[:300])
        assert Delivery.objects.count() == deliveries + 1, "every delivery is recorded"
        if response.status_code != 200:
            assert response["Content-Type"].startswith("application/json")
            assert set(response.json()) >= {"error", "detail"}
            assert _state(ids) == before, (kind, response.json())

    run()
    print(f"PSI fuzz ({fixture}): {sum(seen.values())} cases by kind {seen}")
