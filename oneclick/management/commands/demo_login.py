from django.conf import settings
from django.core.management.base import BaseCommand

from oneclick.demo import DEMO_EMAIL


class Command(BaseCommand):
    help = "Print where the embedded demo runs and how to log in."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000")

    def handle(self, *args, url, **options):
        self.stdout.write(
            "\n"
            f"  OneClick is starting at {url}\n"
            f"  Demo login: {DEMO_EMAIL} / {settings.ONECLICK_DEMO_PASSWORD}\n"
            "  Staff admin: create a staff user with `.venv/bin/python manage.py createsuperuser`.\n"
            "  Ctrl-C stops everything.\n"
        )
