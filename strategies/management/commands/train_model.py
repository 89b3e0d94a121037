from django.core.management.base import BaseCommand, CommandError

from strategies.models import Strategy
from strategies.services import model_train


class Command(BaseCommand):
    help = "Train a learned strategy's model on the candles up to the last close (a new version unless unchanged)."

    def add_arguments(self, parser):
        parser.add_argument("name")

    def handle(self, *args, name, **options):
        strategy = Strategy.objects.filter(name=name).first()
        if strategy is None:
            raise CommandError(f"No strategy named {name!r}.")
        artifact = model_train(strategy=strategy)
        self.stdout.write(
            f"Model {artifact.version}: trained on {artifact.train_start:%Y-%m-%d %H:%M} .. "
            f"{artifact.train_end:%Y-%m-%d %H:%M} UTC, {artifact.metrics.get('examples')} examples, {artifact.size} bytes"
        )
