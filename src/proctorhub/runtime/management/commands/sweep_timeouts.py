from django.core.management.base import BaseCommand

from proctorhub.attempts.services import sweep_timed_out


class Command(BaseCommand):
    help = "Submit started attempts whose time ran out; expire unstarted attempts past due."

    def handle(self, *args, **options):
        self.stdout.write(str(sweep_timed_out()))
