"""``proctorhub outbox list|retry|replay|endpoints|add-endpoint``: see and re-send outbox rows.

Rows are deliveries: one event (``event``) going to one destination (a webhook endpoint, the
tracking log, support, the learner's email, an in-process handler).
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from proctorhub.notifications import maintenance
from proctorhub.notifications.models import State, WebhookEndpoint


def _selectors(parser, *, states: bool) -> None:
    parser.add_argument("ids", nargs="*", type=int, help="delivery ids (as shown by list)")
    parser.add_argument("--event", type=int, action="append", dest="event_ids",
                        help="all deliveries of this event id (repeatable)")
    parser.add_argument("--kind", help="event kind, e.g. attempt.status_changed")
    parser.add_argument("--destination", help="e.g. webhook:1, tracking, support, email")
    parser.add_argument("--attempt", type=int, dest="attempt_id")
    if states:
        parser.add_argument("--state", action="append", dest="states",
                            choices=[s.value for s in State], help="repeatable")


class Command(BaseCommand):
    help = "List outbox deliveries, retry dead/pending ones now, replay delivered ones."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="id, event, kind, destination, state, tries, error")
        _selectors(listing, states=True)
        listing.add_argument("--limit", type=int, default=50)
        listing.add_argument("--json", action="store_true", help="one JSON object a line")
        retry = sub.add_parser("retry", help="make dead (and pending) rows due now")
        _selectors(retry, states=False)
        retry.add_argument("--all", action="store_true", help="every dead row")
        replay = sub.add_parser("replay", help="send delivered rows again (same webhook-id)")
        _selectors(replay, states=False)
        sub.add_parser("endpoints", help="list webhook endpoints")
        add = sub.add_parser("add-endpoint", help="register an LMS webhook endpoint")
        add.add_argument("name")
        add.add_argument("url")
        add.add_argument("--kind", action="append", dest="kinds",
                         help="subscribe to this event kind (repeatable; default: all)")

    def handle(self, *args, action, **opts):
        if action == "endpoints":
            return self._endpoints()
        if action == "add-endpoint":
            return self._add_endpoint(opts["name"], opts["url"], opts["kinds"])
        filters = {k: opts.get(k) for k in ("ids", "event_ids", "kind", "destination",
                                             "attempt_id", "states")}
        if action == "list":
            return self._list(maintenance.select(**filters)[: opts["limit"]], opts["json"])
        selected = any(v for k, v in filters.items() if k != "states")
        if action == "retry":
            if not selected and not opts["all"]:
                raise CommandError("name rows to retry (ids, --event, --kind, --destination, "
                                   "--attempt) or pass --all for every dead row")
            qs = maintenance.select(**filters)
            n = maintenance.retry(qs if selected else qs.filter(state=State.DEAD))
            self.stdout.write(f"{n} row(s) due now")
        elif action == "replay":
            if not selected:
                raise CommandError("name rows to replay (ids, --event, --kind, --destination, "
                                   "--attempt)")
            n = maintenance.replay(maintenance.select(**filters))
            self.stdout.write(f"{n} delivered row(s) will be sent again with the same key")

    def _list(self, rows, as_json: bool) -> None:
        if not as_json:
            self.stdout.write(f"{'id':>7} {'event':>7} {'kind':<26} {'destination':<12} "
                              f"{'state':<9} {'tries':>5}  {'next attempt':<19}  last error")
        for row in rows:
            item = {"id": row.pk, "event": row.event_id, "kind": row.event.kind,
                    "destination": row.destination, "state": row.state, "tries": row.tries,
                    "next_attempt_at": row.next_attempt_at.isoformat(timespec="seconds"),
                    "idempotency_key": row.idempotency_key, "last_error": row.last_error}
            if as_json:
                self.stdout.write(json.dumps(item))
                continue
            error = " ".join(row.last_error.split())[:60]
            self.stdout.write(f"{row.pk:>7} {row.event_id:>7} {row.event.kind:<26} "
                              f"{row.destination:<12} {row.state:<9} {row.tries:>5}  "
                              f"{item['next_attempt_at'][:19]:<19}  {error}")

    def _endpoints(self) -> None:
        for ep in WebhookEndpoint.objects.all():
            kinds = ",".join(ep.event_kinds) or "*"
            state = "active" if ep.is_active else "disabled"
            self.stdout.write(f"{ep.pk:>4} {ep.name:<20} {state:<8} {kinds:<40} {ep.url}")

    def _add_endpoint(self, name: str, url: str, kinds: list[str] | None) -> None:
        if WebhookEndpoint.objects.filter(name=name).exists():
            raise CommandError(f"a webhook endpoint named {name!r} already exists")
        try:
            ep = maintenance.add_endpoint(name, url, kinds)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"endpoint {ep.pk} ({ep.destination}) -> {ep.url}")
        self.stdout.write("signing secret (give it to the receiver; shown in the admin too):")
        self.stdout.write(ep.secret)
