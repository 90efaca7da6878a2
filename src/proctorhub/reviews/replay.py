"""Run stored deliveries through the pipeline again (e.g. once their attempt exists)."""

from __future__ import annotations

from datetime import datetime

from proctorhub.providers.registry import UnknownProvider, get_provider
from proctorhub.reviews.intake import Route, replay
from proctorhub.reviews.models import Delivery

REPLAYABLE = (Delivery.Outcome.ORPHANED, Delivery.Outcome.FAILED)


def route_for(delivery: Delivery) -> Route:
    if delivery.provider == "software_secure":
        from proctorhub.providers.software_secure import reviews as psi

        return Route(ids_from_payload=psi.ids_from_payload, orphan_status=400)
    return Route(url_external_id=delivery.external_id)


def replay_deliveries(*, states: tuple[str, ...] = REPLAYABLE, since: datetime | None = None,
                      dry_run: bool = False) -> list[tuple[int, str, str]]:
    """Replay orphaned/failed deliveries, oldest first. Rejected ones (bad credentials, bad
    payloads) are never replayed. Returns ``(delivery id, old outcome, new outcome)``."""
    bad = [s for s in states if s not in REPLAYABLE]
    if bad:
        raise ValueError(f"only {', '.join(REPLAYABLE)} deliveries can be replayed, not {bad}")
    qs = Delivery.objects.filter(outcome__in=states).order_by("id")
    if since is not None:
        qs = qs.filter(received_at__gte=since)
    results = []
    for delivery in qs.iterator():
        old = delivery.outcome
        if dry_run:
            results.append((delivery.pk, old, "(dry run)"))
            continue
        try:
            provider = get_provider(delivery.provider)
        except UnknownProvider:
            results.append((delivery.pk, old, "provider no longer configured"))
            continue
        replay(delivery, provider, route_for(delivery))
        results.append((delivery.pk, old, delivery.outcome))
    return results
