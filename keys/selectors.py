from keys.models import ExchangeKey, KeyEvent

EVENTS_ON_PAGE = 50


def keys_for_owner(*, owner):
    return ExchangeKey.objects.filter(owner=owner).exclude(status=ExchangeKey.Status.REVOKED)


def key_events(*, key):
    return key.events.select_related("actor")[:EVENTS_ON_PAGE]


def key_check_failed(*, key):
    """The failed check with the exchange that no successful one followed, or None."""
    failed = key.events.filter(kind=KeyEvent.Kind.PROBE_FAILED).order_by("-created", "-id").first()
    if failed is None or (key.probed_at is not None and key.probed_at >= failed.created):
        return None
    return failed
