from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from alerts import telegram
from alerts.errors import ChannelError


class Command(BaseCommand):
    help = "Point Telegram's webhook at this site (with TELEGRAM_WEBHOOK_SECRET), or remove it."

    def add_arguments(self, parser):
        parser.add_argument("--delete", action="store_true")

    def handle(self, *args, delete, **options):
        if not settings.TELEGRAM_BOT_TOKEN:
            raise CommandError("TELEGRAM_BOT_TOKEN is not set: Telegram is not configured.")
        try:
            if delete:
                telegram.delete_webhook()
                self.stdout.write("Webhook removed.")
                return
            if not settings.TELEGRAM_WEBHOOK_SECRET:
                raise CommandError("Set TELEGRAM_WEBHOOK_SECRET first: the webhook view refuses updates without it.")
            url = f"{settings.ONECLICK_SITE_URL}{reverse('alerts:telegram_webhook')}"
            telegram.set_webhook(url, settings.TELEGRAM_WEBHOOK_SECRET)
        except ChannelError as error:
            raise CommandError(error.reason) from None
        self.stdout.write(f"Webhook set to {url}")
