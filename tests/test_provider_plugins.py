"""Third-party providers load from the entry-point group ``proctorhub.providers``."""

from __future__ import annotations

import importlib
import sys

import pytest

from proctorhub.providers import registry
from proctorhub.providers.registry import UnknownProvider, get_provider

PLUGIN = '''
from proctorhub.providers.base import Provider

class AcmeProvider(Provider):
    name = "acme"
    verbose_name = "Acme Proctoring"
    secret_keys = ("api_key",)

    def register_attempt(self, attempt):
        return "ACME-" + attempt.attempt_code[:8]
'''


@pytest.fixture
def acme_plugin(tmp_path, monkeypatch):
    (tmp_path / "acme_proctoring.py").write_text(PLUGIN)
    dist = tmp_path / "acme_proctoring-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-proctoring\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[proctorhub.providers]\nacme = acme_proctoring:AcmeProvider\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    registry.provider_classes.cache_clear()
    yield
    registry.provider_classes.cache_clear()
    sys.modules.pop("acme_proctoring", None)


def test_entry_point_provider_is_found_and_used(acme_plugin, providers_config):
    providers_config["acme"] = {"api_key": "s3cret", "region": "eu"}
    provider = get_provider("acme")
    assert type(provider).__name__ == "AcmeProvider"
    described = provider.describe()
    assert described["settings"] == {"api_key": "********", "region": "eu"}
    assert "acme" in registry.available()


def test_unknown_provider_names_the_available_ones():
    registry.provider_classes.cache_clear()
    with pytest.raises(UnknownProvider, match="available are mock, null"):
        get_provider("nope")
