from django.core.management.base import BaseCommand

from proctorhub.runtime import demo


class Command(BaseCommand):
    help = "Load demo data (idempotent): a course, three exams, learners and attempts."

    def handle(self, *args, **options):
        result = demo.load_demo()
        if result["created"]:
            self.stdout.write(f"Demo loaded: {result['exams']} exams in {demo.COURSE}.")
        else:
            self.stdout.write(f"Demo data already present in {demo.COURSE}; nothing changed.")
        self.stdout.write(f"Staff login: {demo.STAFF_USERNAME} / {demo.STAFF_PASSWORD}")
        self.stdout.write(f"Admin login: {demo.ADMIN_USERNAME} / {demo.ADMIN_PASSWORD}")
