"""Support: one Zendesk ticket per suspicious provider review (zenpy); else an email.

``[zendesk]`` needs ``subdomain`` (or ``api_url``), ``email`` and ``token``. ``api_url`` points the
client at another base URL, e.g. a test double on loopback. Without Zendesk, the ticket text goes
by email to ``[email] support_address``. The ticket's ``external_id`` is the delivery's
idempotency key: before creating, we look it up, so a re-send never opens a second ticket.
"""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import requests
from django.conf import settings
from zenpy import Zenpy
from zenpy.lib.api_objects import Comment, Ticket
from zenpy.lib.exception import APIException

from proctorhub.notifications.channels.email import attempt_context, deliver, render
from proctorhub.notifications.dispatch import GiveUp, Skipped
from proctorhub.notifications.models import OutboxDelivery, OutboxEvent
from proctorhub.notifications.routing import zendesk_configured

TEMPLATE = "support_suspicious_review"


class _BaseURLSession(requests.Session):
    """Send zenpy's requests to ``api_url`` instead of https://<subdomain>.zendesk.com.

    zenpy recognises responses of its own API by their request URL, so the response keeps the
    URL zenpy asked for. (zenpy's own switch, the ZENPY_FORCE_NETLOC/SCHEME environment
    variables, would change every client in the process.)
    """

    def __init__(self, api_url: str):
        super().__init__()
        self._base = urlsplit(api_url.rstrip("/"))

    def request(self, method, url, *args, **kwargs):
        parts = urlsplit(url)
        target = urlunsplit((self._base.scheme, self._base.netloc, self._base.path + parts.path,
                             parts.query, parts.fragment))
        response = super().request(method, target, *args, **kwargs)
        response.request.url = url
        return response


def client() -> Zenpy:
    zd = settings.CONFIG.zendesk
    session = _BaseURLSession(zd["api_url"]) if zd.get("api_url") else None
    return Zenpy(subdomain=zd.get("subdomain") or "api", domain=zd.get("domain") or "zendesk.com",
                 email=zd["email"], token=zd["token"], session=session,
                 timeout=float(zd.get("timeout_seconds", 10)), ratelimit_budget=30,
                 disable_cache=True)


def create_ticket(subject: str, body: str, external_id: str) -> int:
    """Create the ticket unless one with ``external_id`` exists; return its id."""
    zd = settings.CONFIG.zendesk
    api = client()
    try:
        for existing in api.tickets(external_id=external_id):
            return existing.id
        audit = api.tickets.create(Ticket(subject=subject, comment=Comment(body=body),
                                          external_id=external_id,
                                          tags=list(zd.get("tags") or [])))
    except APIException as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        if status is not None and 400 <= status < 500 and status not in (408, 409, 429):
            raise GiveUp(f"Zendesk refused the ticket: {status} {str(exc)[:300]}") from None
        raise RuntimeError(f"Zendesk answered {status}: {str(exc)[:300]}") from None
    return audit.ticket.id


def send(delivery: OutboxDelivery, event: OutboxEvent) -> None:
    context = attempt_context(event.attempt_id)
    if context is None:
        raise Skipped(f"attempt {event.attempt_id} no longer exists")
    context["review_status"] = event.payload.get("review_status", "suspicious")
    if zendesk_configured():
        subject, text, _ = render(TEMPLATE, context)
        create_ticket(subject, text, delivery.idempotency_key)
        return
    address = settings.CONFIG.email.get("support_address")
    if not address:
        raise GiveUp("neither [zendesk] nor [email] support_address is configured")
    deliver([address], TEMPLATE, context, delivery.idempotency_key)
