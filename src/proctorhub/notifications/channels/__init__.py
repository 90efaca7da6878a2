"""Outbox channels: one module per kind of destination, each exposing ``send(delivery, event)``.

A sender returns normally when the destination has the event, raises
:class:`~proctorhub.notifications.dispatch.GiveUp` when retrying cannot help,
:class:`~proctorhub.notifications.dispatch.Skipped` when there is nothing to send, and anything
else to be retried with backoff.
"""

from __future__ import annotations

from collections.abc import Callable

from proctorhub.notifications.models import OutboxDelivery, OutboxEvent

Sender = Callable[[OutboxDelivery, OutboxEvent], None]
Preparer = Callable[[OutboxDelivery, OutboxEvent], Callable[[], None]]


def _handler(delivery: OutboxDelivery, event: OutboxEvent) -> None:
    from proctorhub.notifications.dispatch import _HANDLERS, GiveUp

    handler = _HANDLERS.get(event.kind)
    if handler is None:
        raise GiveUp(f"no in-process handler is registered for {event.kind!r}")
    handler(event)


def prepare(rows: list[OutboxDelivery]) -> None:
    """Read once for a claimed batch what its senders would otherwise read row by row."""
    from proctorhub.notifications.channels import webhooks

    webhooks.attach_endpoints(rows)


def preparer_for(destination: str) -> Preparer | None:
    """The channels whose network call can run apart from their database reads (on the send
    pool, several at once): ``prepare_send(delivery, event)`` returns that call."""
    from proctorhub.notifications.channels import webhooks

    if destination.startswith("webhook:"):
        return webhooks.prepare_send
    return None


def sender_for(destination: str) -> Sender:
    from proctorhub.notifications.channels import email, tracking, webhooks, zendesk

    if destination.startswith("webhook:"):
        return webhooks.send
    senders: dict[str, Sender] = {
        "handler": _handler,
        "tracking": tracking.send,
        "support": zendesk.send,
        "email": email.send,
    }
    try:
        return senders[destination]
    except KeyError:
        raise LookupError(f"unknown outbox destination {destination!r}") from None
