from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from oneclick.demo import DemoError, demo_seed


class Command(BaseCommand):
    help = (
        "Create the embedded demo's data if missing (demo user, strategies, paper key, bot) and run the "
        "strategies once. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--user-only", action="store_true", help="only the demo user")

    def handle(self, *args, user_only=False, **options):
        password = settings.ONECLICK_DEMO_PASSWORD
        if not password:
            raise CommandError("ONECLICK_DEMO_PASSWORD is not set (make run writes it into .env).")
        try:
            result = demo_seed(password=password, with_trading=not user_only)
        except DemoError as error:
            raise CommandError(str(error)) from None
        verb = "Created" if result.created else "Found"
        self.stdout.write(f"{verb} demo user {result.user.email}")
        for note in result.notes:
            self.stdout.write(f"  {note}")
