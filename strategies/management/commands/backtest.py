from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from strategies.models import Backtest, Strategy
from strategies.services import backtest_create, backtest_execute
from strategies.views import METRIC_ROWS, metric_text


def _date(text):
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(f"Not a date: {text!r} (use YYYY-MM-DD).") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _decimal(text, name):
    try:
        return Decimal(text)
    except InvalidOperation:
        raise CommandError(f"--{name}: not a number: {text!r}") from None


class Command(BaseCommand):
    help = "Backtest a strategy on one market over past candles (walk-forward), with a progress bar."

    def add_arguments(self, parser):
        parser.add_argument("strategy", help="the strategy's name")
        parser.add_argument("--market", required=True, help="e.g. BTC/USDT")
        parser.add_argument("--start", required=True, help="YYYY-MM-DD (UTC)")
        parser.add_argument("--end", required=True, help="YYYY-MM-DD (UTC)")
        parser.add_argument("--fee", default="0.001", help="fee rate per order (default 0.001 = 0.1%%)")
        parser.add_argument("--allocation", default="1000", help="quote amount the bot trades with (default 1000)")
        parser.add_argument("--csv", help="write the simulated trades to this CSV file")

    def handle(self, *args, **o):
        strategy = Strategy.objects.filter(name=o["strategy"]).first()
        if strategy is None:
            raise CommandError(f"No strategy named {o['strategy']!r}.")
        try:
            backtest = backtest_create(
                user=None,
                strategy=strategy,
                market=o["market"],
                start=_date(o["start"]),
                end=_date(o["end"]),
                fee=_decimal(o["fee"], "fee"),
                allocation=_decimal(o["allocation"], "allocation"),
                enqueue=False,
            )
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from None
        with tqdm(total=100, unit="%", desc=f"{strategy.name} {o['market']}", file=self.stderr._out) as bar:

            def progress(done, total):
                bar.update(int(done * 100 / total) - bar.n)

            backtest = backtest_execute(backtest=backtest, progress=progress)
        if backtest.status != Backtest.Status.DONE:
            raise CommandError(backtest.error)
        for key, label, kind in METRIC_ROWS:
            self.stdout.write(f"{label:32} {metric_text(backtest.metrics.get(key), kind)}")
        if o["csv"]:
            from strategies.backtest import trades_csv

            with open(o["csv"], "w", newline="") as handle:
                handle.write(trades_csv(backtest.trades))
            self.stdout.write(f"Trades written to {o['csv']}")
        self.stdout.write(f"Backtest #{backtest.pk} saved.")
