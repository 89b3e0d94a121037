from django.core.management.base import BaseCommand, CommandError

from strategies.models import Strategy
from strategies.services import strategy_run


class Command(BaseCommand):
    help = (
        "Run a strategy now for the last closed candle (or every active one with --all). Obeys one run per "
        "candle close; --test computes the decisions only: nothing is signed, stored or sent to bots."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", nargs="?", help="the strategy's name")
        parser.add_argument("--all", action="store_true", help="every active strategy")
        parser.add_argument("--test", action="store_true", help="dry run: no signal, no order")

    def handle(self, *args, name=None, all=False, test=False, **options):
        if all:
            strategies = list(Strategy.objects.filter(active=True).order_by("name"))
        elif name:
            strategies = list(Strategy.objects.filter(name=name))
            if not strategies:
                raise CommandError(f"No strategy named {name!r}.")
        else:
            raise CommandError("Name a strategy, or pass --all.")
        failed = 0
        for strategy in strategies:
            outcome = strategy_run(strategy=strategy, test=test, trigger="test" if test else "manual")
            close = f"{outcome.candle_close:%Y-%m-%d %H:%M} UTC"
            if outcome.status == "skipped":
                self.stdout.write(f"{strategy.name}: already ran for the candle closing {close}; nothing done.")
            elif outcome.status == "failed":
                failed += 1
                self.stderr.write(f"{strategy.name}: failed for the candle closing {close}: {outcome.error}")
            else:
                label = "test run (nothing signed)" if test else f"{len(outcome.signals)} signed signals"
                self.stdout.write(f"{strategy.name} @ {close}, model {outcome.model_version}: {label}")
                for d in outcome.decisions:
                    self.stdout.write(f"  {d.market:10} {d.action:4} {d.fraction:>7}  {d.reason}")
        if failed and len(strategies) == 1:
            raise CommandError("The run failed.")
