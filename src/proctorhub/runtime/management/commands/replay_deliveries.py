"""``proctorhub replay-deliveries [--state orphaned|failed] [--since DATE] [--dry-run]``."""

from __future__ import annotations

from datetime import datetime, time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from proctorhub.reviews.replay import REPLAYABLE, replay_deliveries


def _since(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = parse_datetime(value)
    if parsed is None and (day := parse_date(value)) is not None:
        parsed = datetime.combine(day, time.min)
    if parsed is None:
        raise CommandError(f"--since {value!r} is not a date (YYYY-MM-DD) or ISO date-time")
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed)


class Command(BaseCommand):
    help = "Run stored orphaned or failed review deliveries through the pipeline again."

    def add_arguments(self, parser):
        parser.add_argument("--state", action="append", choices=list(REPLAYABLE),
                            help="orphaned or failed (repeatable; default both)")
        parser.add_argument("--since", help="only deliveries received at or after this date")
        parser.add_argument("--dry-run", action="store_true", help="list, change nothing")

    def handle(self, *args, state, since, dry_run, **options):
        results = replay_deliveries(states=tuple(state or REPLAYABLE), since=_since(since),
                                    dry_run=dry_run)
        for delivery_id, old, new in results:
            self.stdout.write(f"delivery {delivery_id}: {old} -> {new}")
        self.stdout.write(f"{len(results)} deliveries {'would be ' if dry_run else ''}replayed")
