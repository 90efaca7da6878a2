"""Registering attempts with PSI (Software Secure RPNow) against a local server that plays PSI.

The fake PSI recomputes the SSI signature from the raw request with its own code (not the
production signing module), refuses a wrong one with 401, and decrypts the 3DES exam password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import socket
import threading
from datetime import timedelta
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from Cryptodome.Cipher import DES3
from Cryptodome.Util.Padding import unpad
from django.conf import settings
from django.utils import timezone

from proctorhub.attempts.models import Attempt
from proctorhub.attempts.services import create_attempt
from proctorhub.attempts.statuses import Status
from proctorhub.errors import ProviderFailed
from proctorhub.exams.models import Allowance
from proctorhub.providers.registry import available, get_provider
from proctorhub.providers.software_secure import SoftwareSecureProvider, signing
from tests.conftest import COURSE, LEARNER, make_client

KEY_ID = "key-id-123"
SECRET = "psi-shared-secret"
CRYPTO_KEY = "0123456789abcdefFEDCBA98"  # 24 bytes, as Open edX operators configure it
RFC1123 = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|"
                     r"Sep|Oct|Nov|Dec) \d{4} \d\d:\d\d:\d\d GMT$")


# --- PSI's side, written independently of proctorhub.providers.software_secure.signing -------
def _render(value) -> bytes:
    if value is True or value is False:
        return b"true" if value else b"false"
    if value == "":
        return b""
    return b"null" if not value else str(value).encode("utf-8")


def psi_flatten(obj: dict, prefix: bytes = b"") -> bytes:
    return b"".join(_psi_lines(prefix + key.encode("utf-8"), obj[key]) for key in sorted(obj))


def _psi_lines(name: bytes, value) -> bytes:
    if isinstance(value, dict):
        return psi_flatten(value, name + b".")
    if isinstance(value, list):
        return b"".join(_psi_lines(b"%s.%d" % (name, i), item) for i, item in enumerate(value))
    return name + b":" + _render(value) + b"\n"


def psi_signature_ok(method: str, headers, raw_body: bytes) -> bool:
    auth = headers.get("Authorization", "")
    match = re.fullmatch(r"SSI ([^:]+):(.+)", auth)
    if match is None or match.group(1) != KEY_ID:
        return False
    text = (method + "\n\n" + headers.get("Content-Type", "") + "\n" + headers.get("Date", "")
            + "\n").encode("utf-8") + psi_flatten(json.loads(raw_body))
    expected = base64.b64encode(hmac.new(SECRET.encode(), text, hashlib.sha256).digest())
    return hmac.compare_digest(expected, match.group(2).encode())


def psi_password(encrypted: str) -> str:
    cipher = DES3.new(CRYPTO_KEY.encode(), DES3.MODE_ECB)
    return unpad(cipher.decrypt(base64.b64decode(encrypted)), 8).decode()


class FakePSI:
    def __init__(self) -> None:
        self.mode = "ok"
        self.received: list[dict] = []
        self.release = threading.Event()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                body = json.loads(raw)
                entry = {"path": self.path, "headers": dict(self.headers), "raw": raw,
                         "body": body, "signature_ok": psi_signature_ok("POST", self.headers, raw)}
                fake.received.append(entry)
                if fake.mode == "sleep":
                    fake.release.wait(5)
                    return self._answer(200, {"ssiRecordLocator": "TOO-LATE"})
                if fake.mode == "500":
                    return self._answer(500, {"error": f"boom for {body.get('examCode')}"})
                if not entry["signature_ok"]:
                    return self._answer(401, {"error": "bad signature"})
                entry["password"] = psi_password(body["examPassword"])
                if entry["password"] != body["examCode"]:
                    return self._answer(400, {"error": "examPassword does not decrypt"})
                if fake.mode == "no_locator":
                    return self._answer(200, {"status": "ok"})
                return self._answer(200, {"ssiRecordLocator": f"SSI-LOC-{len(fake.received)}"})

            def _answer(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/examRegistration"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()

    @property
    def last(self) -> dict:
        return self.received[-1]

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def psi(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    fake = FakePSI()
    yield fake
    fake.stop()


@pytest.fixture
def base_url():
    saved = settings.CONFIG.base_url
    settings.CONFIG.base_url = "https://proctor.example.org"
    yield settings.CONFIG.base_url
    settings.CONFIG.base_url = saved


@pytest.fixture
def psi_config(providers_config, psi, base_url):
    providers_config["software_secure"] = {
        "secret_key_id": KEY_ID, "secret_key": SECRET, "crypto_key": CRYPTO_KEY,
        "exam_register_endpoint": psi.url, "organization": "TestU", "exam_sponsor": "TestU Exams",
        "software_download_url": "https://psi.example/download", "timeout_seconds": 1,
    }
    return providers_config["software_secure"]


@pytest.fixture
def psi_exam(make_exam):
    def factory(**kw):
        return make_exam(**{"backend": "software_secure", "review_policy": "Closed book",
                            "time_limit_mins": 90, **kw})
    return factory


def register(exam, learner) -> Attempt:
    return create_attempt(exam=exam, user=learner, by=LEARNER)


# --- the signed message ---------------------------------------------------------------------
FLATTEN_CASES = [
    ({"b": 1, "a": "x"}, "a:x\nb:1\n"),
    ({"t": True, "f": False, "n": None, "z": 0, "e": ""}, "e:\nf:false\nn:null\nt:true\nz:null\n"),
    ({"org": {"y": 2, "x": {"deep": None}}, "a": [1, "two", True, None]},
     "a.0:1\na.1:two\na.2:true\na.3:null\norg.x.deep:null\norg.y:2\n"),
    ({"l": [{"k": "v", "b": False}, [3, 4]], "empty": [], "none": {}},
     "l.0.b:false\nl.0.k:v\nl.1.0:3\nl.1.1:4\n"),
    # sorted per level, like Open edX: "a" (and its children) before "a-b", though "-" < "."
    ({"a-b": 1, "a": {"c": 2}}, "a.c:2\na-b:1\n"),
    ({"name": "Zoë", "n": 1.5}, "n:1.5\nname:Zoë\n"),
]


@pytest.mark.parametrize("body,expected", FLATTEN_CASES)
def test_flatten_matches_hand_written_lines(body, expected):
    assert signing.flatten(body) == expected
    assert psi_flatten(body) == expected.encode("utf-8")  # the fake PSI agrees


def test_signature_is_hmac_sha256_of_the_documented_message():
    body = {"examCode": "C0DE", "orgExtra": {"noOfStudents": 1}, "reviewedExam": False}
    date = "Tue, 05 May 2026 14:03:00 GMT"
    message = (b"POST\n\napplication/json\nTue, 05 May 2026 14:03:00 GMT\n"
               b"examCode:C0DE\norgExtra.noOfStudents:1\nreviewedExam:false\n")
    assert signing.message("POST", "application/json", date, body) == message
    expected = base64.b64encode(hmac.new(b"k", message, hashlib.sha256).digest()).decode()
    assert signing.authorization("id", "k", "POST", "application/json", date, body) == \
        f"SSI id:{expected}"


def test_fake_psi_rejects_a_tampered_body(psi, psi_config, psi_exam, learner):
    register(psi_exam(), learner)
    original = psi.last
    assert original["signature_ok"] is True
    headers = {k: original["headers"][k] for k in ("Content-Type", "Date", "Authorization")}
    replay = requests.post(psi.url, data=original["raw"], headers=headers, timeout=5)
    assert replay.status_code == 200  # the verifier accepts the genuine request again
    tampered = json.loads(original["raw"])
    tampered["duration"] = 600
    answer = requests.post(psi.url, data=json.dumps(tampered), headers=headers, timeout=5)
    assert answer.status_code == 401 and psi.last["signature_ok"] is False


# --- registration ----------------------------------------------------------------------------
def test_registration_stores_the_record_locator(psi, psi_config, psi_exam, make_learner):
    learner = make_learner(full_name="Ada Lovelace King")
    exam = psi_exam()
    attempt = register(exam, learner)
    sent = psi.last
    assert sent["signature_ok"] and sent["password"] == attempt.attempt_code
    assert Attempt.objects.get(pk=attempt.pk).external_id == f"SSI-LOC-{len(psi.received)}"
    assert sent["headers"]["Content-Type"] == "application/json"
    assert sent["headers"]["Authorization"].startswith(f"SSI {KEY_ID}:")
    assert RFC1123.match(sent["headers"]["Date"])
    body = sent["body"]
    assert {k: body[k] for k in ("examCode", "organization", "duration", "reviewedExam",
                                 "reviewerNotes", "examSponsor", "examName", "ssiProduct")} == {
        "examCode": attempt.attempt_code, "organization": "TestU", "duration": 90,
        "reviewedExam": True, "reviewerNotes": "Closed book", "examSponsor": "TestU Exams",
        "examName": exam.exam_name, "ssiProduct": "rp-now"}
    assert body["examUrl"] == ("https://proctor.example.org/api/v1/providers/software_secure/"
                               f"launch/{attempt.attempt_code}")
    extra = body["orgExtra"]
    assert {k: extra[k] for k in ("noOfStudents", "examID", "courseID", "firstName", "lastName")} \
        == {"noOfStudents": 1, "examID": exam.pk, "courseID": COURSE, "firstName": "Ada",
            "lastName": "Lovelace King"}
    assert "email" not in extra
    start, end = (parsedate_to_datetime(extra[k]) for k in ("examStartDate", "examEndDate"))
    assert RFC1123.match(extra["examStartDate"]) and RFC1123.match(extra["examEndDate"])
    assert end - start == timedelta(minutes=90)
    assert abs(start - timezone.now()) < timedelta(minutes=1)


def test_registration_over_the_api_answers_201_with_the_locator(psi, psi_config, psi_exam):
    lms = make_client("lms")[0]
    exam = psi_exam()
    user = {"lms_user_id": "psi-1", "username": "psi1", "email": "p@example.org",
            "full_name": "Zoë Ünïcode"}
    response = lms.post("/api/v1/attempts", {"exam_id": exam.pk, "user": user}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["external_id"] == "SSI-LOC-1"
    assert psi.last["signature_ok"]
    assert psi.last["body"]["orgExtra"]["firstName"] == "Zoë"  # UTF-8 signed and verified


@pytest.mark.parametrize("name,expected", [
    ("Économie: l'été / Ünïcode*?", "Economie_ l_ete _ Unicode__"),
    ('a[b]<c>#d|e!f"g\\h', "a_b__c__d_e_f_g_h"),
    ("Ｆｉｎａｌ ｅｘａｍ", "Final exam"),
    ("期末考试", "Proctored Exam"),
    ("", "Proctored Exam"),
])
def test_exam_name_is_folded_to_ascii(psi, psi_config, psi_exam, learner, name, expected):
    register(psi_exam(exam_name=name, review_policy="Calculatrice autorisée"), learner)
    assert psi.last["body"]["examName"] == expected
    assert psi.last["signature_ok"]


@pytest.mark.parametrize("full_name,first,last", [
    ("Plato", "Plato", ""),
    ("Jean Paul Sartre", "Jean", "Paul Sartre"),
    ("", "", ""),
])
def test_full_name_is_split_at_the_first_space(psi, psi_config, psi_exam, make_learner,
                                               full_name, first, last):
    register(psi_exam(), make_learner(full_name=full_name))
    extra = psi.last["body"]["orgExtra"]
    assert (extra["firstName"], extra["lastName"]) == (first, last)
    assert psi.last["signature_ok"]


@pytest.mark.parametrize("send_email", [True, False, "true", None])
def test_email_is_sent_only_when_configured(psi, psi_config, psi_exam, learner, send_email):
    if send_email is not None:
        psi_config["send_email"] = send_email
    register(psi_exam(), learner)
    extra = psi.last["body"]["orgExtra"]
    if send_email in (True, "true"):
        assert extra["email"] == learner.email
    else:
        assert "email" not in extra


@pytest.mark.parametrize("kind", ["is_practice_exam", "is_onboarding"])
def test_practice_and_onboarding_attempts_are_not_reviewed(psi, psi_config, psi_exam, learner,
                                                           kind):
    register(psi_exam(**{kind: True}), learner)
    assert psi.last["body"]["reviewedExam"] is False
    assert psi.last["signature_ok"]


@pytest.mark.parametrize("allowance,minutes", [
    ({"additional_minutes": 30}, 120),
    ({"time_multiplier": "1.50"}, 135),
])
def test_allowance_adds_time_and_reviewer_notes(psi, psi_config, psi_exam, learner,
                                                allowance, minutes):
    exam = psi_exam()
    Allowance.objects.create(exam=exam, user=learner,
                             review_policy_exception="May leave the camera view", **allowance)
    register(exam, learner)
    body = psi.last["body"]
    assert body["reviewerNotes"] == "Closed book; May leave the camera view"
    assert body["duration"] == minutes
    extra = body["orgExtra"]
    end = parsedate_to_datetime(extra["examEndDate"])
    assert end - parsedate_to_datetime(extra["examStartDate"]) == timedelta(minutes=minutes)


def test_untimed_exam_sends_null_duration(psi, psi_config, psi_exam, learner):
    attempt = register(psi_exam(time_limit_mins=None), learner)
    assert psi.last["body"]["duration"] is None
    assert psi.last["body"]["orgExtra"]["examEndDate"] is None
    assert psi.last["signature_ok"] and attempt.external_id


# --- failures: 502 and nothing stored ---------------------------------------------------------
def _refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1/examRegistration"


@pytest.mark.parametrize("mode,detail", [
    ("500", "PSI answered HTTP 500"),
    ("sleep", "did not answer within 1 second"),
    ("refused", "could not reach PSI"),
    ("no_locator", "without an ssiRecordLocator"),
    ("bad_secret", 'PSI answered HTTP 401: {"error": "bad signature"}'),
    ("bad_crypto_key", "crypto_key is not a usable 3DES key"),
])
def test_psi_failure_is_a_502_and_stores_nothing(psi, psi_config, psi_exam, learner, caplog,
                                                 mode, detail):
    psi.mode = mode
    if mode == "refused":
        psi_config["exam_register_endpoint"] = _refused_url()
    elif mode == "bad_secret":
        psi_config["secret_key"] = "not-the-shared-secret"
    elif mode == "bad_crypto_key":
        psi_config["crypto_key"] = "short"
    lms = make_client("lms")[0]
    user = {"lms_user_id": learner.lms_user_id, "username": learner.username,
            "email": learner.email, "full_name": learner.full_name}
    with caplog.at_level(logging.INFO):
        response = lms.post("/api/v1/attempts", {"exam_id": psi_exam().pk, "user": user},
                            format="json")
    assert response.status_code == 502, response.content
    assert response.json()["error"] == "provider_failed"
    assert detail in response.json()["detail"]
    assert not Attempt.objects.exists()
    codes = [r["body"]["examCode"] for r in psi.received]
    assert len(codes) == (0 if mode in ("refused", "bad_crypto_key") else 1)
    for code in codes:  # the attempt code is a secret: not in the answer, not in the logs
        assert code not in response.content.decode()
        assert all(code not in str(r.__dict__) for r in caplog.records)


def test_missing_settings_are_named(providers_config, psi, psi_exam, learner):
    providers_config["software_secure"] = {"organization": "TestU", "crypto_key": CRYPTO_KEY}
    with pytest.raises(ProviderFailed) as caught:
        register(psi_exam(), learner)
    assert "secret_key_id, secret_key, exam_register_endpoint" in caught.value.detail
    assert not psi.received and not Attempt.objects.exists()


def test_logs_carry_ids_not_codes_or_names(psi, psi_config, psi_exam, make_learner, caplog):
    learner = make_learner(full_name="Grace Hopper", email="grace@example.org")
    with caplog.at_level(logging.INFO):
        attempt = register(psi_exam(), learner)
    psi_records = [r for r in caplog.records if "PSI" in r.getMessage()]
    assert psi_records and psi_records[0].exam_id == attempt.exam.pk
    text = " ".join(str(r.__dict__) for r in caplog.records)
    for secret in (attempt.attempt_code, "Grace", "grace@example.org", SECRET, CRYPTO_KEY):
        assert secret not in text


# --- the provider as a plugin ----------------------------------------------------------------
def test_provider_is_built_in_and_describes_itself_with_secrets_masked(psi_config):
    assert "software_secure" in available()
    psi_config.update(video_review_key="dmlkZW8=", callback_basic_auth="u:p", callback_token="t",
                      video_review_old_keys=["b2xk"])
    provider = get_provider("software_secure")
    assert isinstance(provider, SoftwareSecureProvider) and provider.requires_software
    shown = provider.describe()["settings"]
    for key in ("secret_key", "crypto_key", "video_review_key", "video_review_old_keys",
                "callback_basic_auth", "callback_token"):
        assert shown[key] == "********"
    assert shown["secret_key_id"] == KEY_ID
    assert any("https://psi.example/download" in step for step in provider.instructions())


def test_callback_methods_delegate_to_the_reviews_module(monkeypatch):
    from proctorhub.providers.software_secure import reviews

    calls = []
    monkeypatch.setattr(reviews, "verify_caller", lambda p, r: calls.append(("verify", p, r)))
    monkeypatch.setattr(reviews, "normalize_review", lambda p, b: calls.append(("norm", p, b)) or b)
    provider = SoftwareSecureProvider({})
    provider.verify_caller("request")
    assert provider.normalize_review({"x": 1}) == {"x": 1}
    assert calls == [("verify", provider, "request"), ("norm", provider, {"x": 1})]


def test_launch_url_sent_to_psi_marks_the_attempt_ready(psi, psi_config, psi_exam, learner, anon):
    attempt = register(psi_exam(), learner)
    path = psi.last["body"]["examUrl"].removeprefix("https://proctor.example.org")
    response = anon.get(path)
    assert response.status_code == 200
    assert Attempt.objects.get(pk=attempt.pk).status == Status.READY_TO_START
