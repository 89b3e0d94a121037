from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from oneclick.demo import demo_seed


class Command(BaseCommand):
    help = "Create the embedded demo's data (demo user, ...) if missing. Safe to run again."

    def handle(self, *args, **options):
        password = settings.ONECLICK_DEMO_PASSWORD
        if not password:
            raise CommandError("ONECLICK_DEMO_PASSWORD is not set (make run writes it into .env).")
        result = demo_seed(password=password)
        verb = "Created" if result.created else "Found"
        self.stdout.write(f"{verb} demo user {result.user.email}")
