"""Long polling for setups without a public URL: the same update handler as the webhook."""

import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from alerts import telegram
from alerts.errors import ChannelError
from alerts.updates import update_handle


class Command(BaseCommand):
    help = "Receive Telegram updates by long polling (removes any webhook first)."

    def add_arguments(self, parser):
        parser.add_argument("--timeout", type=int, default=25, help="Seconds each getUpdates call may wait.")
        parser.add_argument("--once", action="store_true", help="Handle one batch of updates, then exit.")
        parser.add_argument("--when-needed", action="store_true",
                            help="For a Procfile line: poll only when a bot token is set and no webhook secret is; "
                                 "otherwise say why and wait until stopped.")

    def handle(self, *args, timeout, once, when_needed, **options):
        if when_needed:
            reason = ("TELEGRAM_BOT_TOKEN is not set, Telegram is not configured" if not settings.TELEGRAM_BOT_TOKEN
                      else "TELEGRAM_WEBHOOK_SECRET is set, updates come by the webhook"
                      if settings.TELEGRAM_WEBHOOK_SECRET else "")
            if reason:
                # A process manager stops every process when one exits: this one waits instead.
                self.stdout.write(f"Not polling Telegram: {reason}.")
                self.stdout.flush()
                while not once:
                    time.sleep(3600)
                return
        if not settings.TELEGRAM_BOT_TOKEN:
            raise CommandError("TELEGRAM_BOT_TOKEN is not set: Telegram is not configured.")
        try:
            telegram.delete_webhook()
        except ChannelError as error:
            raise CommandError(f"Could not remove the webhook: {error.reason}") from None
        offset = None
        handled = 0
        failures = 0
        while True:
            try:
                updates = telegram.get_updates(offset=offset, timeout=timeout)
                failures = 0
            except ChannelError as error:
                failures += 1
                self.stderr.write(f"getUpdates failed: {error.reason}")
                if once:
                    raise CommandError(error.reason) from None
                time.sleep(min(60, 2 ** failures))
                continue
            for update in updates:
                # The next getUpdates (with this offset) confirms the batch to Telegram.
                offset = update["update_id"] + 1
                update_handle(update)
                handled += 1
            if once:
                if offset is not None:
                    telegram.get_updates(offset=offset, timeout=0)  # confirm the batch to Telegram
                self.stdout.write(f"{handled} update(s) handled")
                return
