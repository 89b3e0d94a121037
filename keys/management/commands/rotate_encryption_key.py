from django.core.management.base import BaseCommand, CommandError

from keys.rotation import UndecryptableValue, rotate_all


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored secret under ONECLICK_ENCRYPTION_KEY. Put the old key in "
        "ONECLICK_ENCRYPTION_KEY_PREVIOUS first. Safe to interrupt and run again."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=200)

    def handle(self, *args, batch_size, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")

        def progress(label, done, total, rewritten):
            self.stdout.write(f"{label}: {done}/{total} rows checked, {rewritten} re-encrypted")

        try:
            totals = rotate_all(batch_size=batch_size, progress=progress)
        except UndecryptableValue as error:
            raise CommandError(f"{error}. Is the old key listed in ONECLICK_ENCRYPTION_KEY_PREVIOUS?") from None
        checked = sum(t["checked"] for t in totals.values())
        rewritten = sum(t["rewritten"] for t in totals.values())
        self.stdout.write(self.style.SUCCESS(f"Done: {checked} rows checked, {rewritten} re-encrypted."))
