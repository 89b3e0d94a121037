from django.core.management.base import BaseCommand

from strategies.services import schedules_sync


class Command(BaseCommand):
    help = "One schedule per active strategy, aligned to its candle closes; remove the others."

    def handle(self, *args, **options):
        kept = schedules_sync()
        self.stdout.write(f"{len(kept)} strategy schedules in place: {', '.join(kept) or 'none'}")
