"""``proctorhub create-api-client NAME --scope lms``: prints the token once, alone on the last line."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError

from proctorhub.accounts.services import InvalidScope, create_api_client


class Command(BaseCommand):
    help = "Create a server-to-server API client; its token is printed once and never stored."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--scope", action="append", required=True,
                            help="lms, admin or provider:<name>; repeat for several")

    def handle(self, *args, name, scope, **options):
        try:
            client, token = create_api_client(name, scope)
        except InvalidScope as exc:
            raise CommandError(str(exc)) from None
        except IntegrityError:
            raise CommandError(f"an API client named {name!r} already exists") from None
        self.stdout.write(f"Created API client {client.name} (id {client.pk}) with scopes "
                          f"{', '.join(client.scopes)}. Keep this token; it is not shown again:")
        self.stdout.write(token)
