from django.core.management.base import BaseCommand

from strategies.models import Strategy
from strategies.services import strategies_seed


class Command(BaseCommand):
    help = "Create the built-in strategies (with signing keys) if missing, then sync their schedules. Safe to run again."

    def handle(self, *args, **options):
        created = strategies_seed()
        for strategy in Strategy.objects.order_by("name"):
            verb = "Created" if strategy in created else "Found"
            self.stdout.write(f"{verb} strategy {strategy.name} ({strategy.kind}, {strategy.timeframe}), public key {strategy.public_key}")
