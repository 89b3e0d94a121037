"""The embedded demo's data, created idempotently by `manage.py seed_demo`."""

from dataclasses import dataclass

from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.db import transaction

DEMO_EMAIL = "demo@example.com"


@dataclass
class DemoSeed:
    user: object
    created: bool


@transaction.atomic
def demo_seed(*, password):
    """The demo user (email verified, 2FA off); created only when missing."""
    User = get_user_model()
    user = User.objects.filter(email__iexact=DEMO_EMAIL).first()
    created = user is None
    if created:
        user = User.objects.create_user(username="demo", email=DEMO_EMAIL, password=password)
    EmailAddress.objects.update_or_create(
        user=user, email=DEMO_EMAIL, defaults={"verified": True, "primary": True}
    )
    return DemoSeed(user=user, created=created)
