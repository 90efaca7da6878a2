"""Operator actions on the outbox: list, retry, replay (``proctorhub outbox``, the admin)."""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from proctorhub.notifications.dispatch import _summarize
from proctorhub.notifications.models import OutboxDelivery, State, WebhookEndpoint
from proctorhub.notifications.routing import PUBLIC_KINDS


def select(*, ids: list[int] | None = None, event_ids: list[int] | None = None,
           kind: str | None = None, destination: str | None = None,
           states: list[str] | None = None, attempt_id: int | None = None) -> QuerySet:
    qs = OutboxDelivery.objects.select_related("event").order_by("id")
    if ids:
        qs = qs.filter(pk__in=ids)
    if event_ids:
        qs = qs.filter(event_id__in=event_ids)
    if kind:
        qs = qs.filter(event__kind=kind)
    if destination:
        qs = qs.filter(destination=destination)
    if states:
        qs = qs.filter(state__in=states)
    if attempt_id is not None:
        qs = qs.filter(attempt_id=attempt_id)
    return qs


def _reset(qs: QuerySet, from_states: list[str], **extra) -> int:
    with transaction.atomic():
        rows = list(qs.filter(state__in=from_states).values_list("pk", "event_id"))
        ids = [pk for pk, _ in rows]
        OutboxDelivery.objects.filter(pk__in=ids).update(
            state=State.PENDING, next_attempt_at=timezone.now(), tries=0, **extra)
        _summarize({event_id for _, event_id in rows})
        if ids:
            from proctorhub.notifications.outbox import _wake_workers

            transaction.on_commit(lambda: _wake_workers(ids, 0), robust=True)
    return len(ids)


def retry(qs: QuerySet) -> int:
    """Dead and pending rows become due now, with a fresh budget of tries."""
    return _reset(qs, [State.DEAD, State.PENDING])


def replay(qs: QuerySet) -> int:
    """Delivered rows are sent again, with the same idempotency key (webhook-id)."""
    return _reset(qs, [State.DELIVERED], delivered_at=None, last_error="")


def add_endpoint(name: str, url: str, kinds: list[str] | None = None) -> WebhookEndpoint:
    unknown = sorted(set(kinds or []) - set(PUBLIC_KINDS) - {"*"})
    if unknown:
        raise ValueError(f"unknown event kind(s) {', '.join(unknown)}; "
                         f"choose from {', '.join(PUBLIC_KINDS)}")
    return WebhookEndpoint.objects.create(name=name, url=url, event_kinds=list(kinds or []))
