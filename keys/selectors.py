from keys.models import ExchangeKey

EVENTS_ON_PAGE = 50


def keys_for_owner(*, owner):
    return ExchangeKey.objects.filter(owner=owner).exclude(status=ExchangeKey.Status.REVOKED)


def key_events(*, key):
    return key.events.select_related("actor")[:EVENTS_ON_PAGE]
