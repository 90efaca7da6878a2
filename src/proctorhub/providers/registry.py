"""Find providers by name: built-ins plus the entry-point group ``proctorhub.providers``."""

from __future__ import annotations

import logging
from functools import cache
from importlib.metadata import entry_points

from django.conf import settings

from proctorhub.providers.base import Provider
from proctorhub.providers.mock import MockProvider
from proctorhub.providers.null import NullProvider
from proctorhub.providers.software_secure import SoftwareSecureProvider

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "proctorhub.providers"


class UnknownProvider(LookupError):
    pass


@cache
def provider_classes() -> dict[str, type[Provider]]:
    classes: dict[str, type[Provider]] = {"null": NullProvider,
                                          "software_secure": SoftwareSecureProvider}
    if not settings.CONFIG.is_production:
        classes["mock"] = MockProvider
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = ep.load()
        except Exception:  # noqa: BLE001 - a broken plugin must not take the service down
            log.exception("could not load provider plugin", extra={"entry_point": ep.name})
            continue
        classes[ep.name] = cls
    return classes


def available() -> list[str]:
    return sorted(provider_classes())


def get_provider(name: str) -> Provider:
    cls = provider_classes().get(name)
    if cls is None:
        raise UnknownProvider(f"unknown provider {name!r}: available are {', '.join(available())}")
    return cls(settings.CONFIG.providers.get(name, {}))
