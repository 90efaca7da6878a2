from proctorhub.attempts.models import Attempt
from proctorhub.attempts.services import create_attempt
from tests.conftest import LEARNER


def test_created_attempt_gets_unguessable_code_and_provider_id(exam, learner):
    attempt = create_attempt(exam=exam, user=learner, by=LEARNER)
    assert len(attempt.attempt_code) == 40  # 160 bits as hex
    assert attempt.external_id.startswith("MOCK-")
    assert Attempt.objects.get(pk=attempt.pk).status == "created"
