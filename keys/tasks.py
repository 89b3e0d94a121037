"""django-q2 entry points for keys: ids in, services do the work."""

from keys.models import ExchangeKey
from keys.services import key_reprobe, keys_reprobe_all


def key_reprobe_task(key_id):
    key = ExchangeKey.objects.filter(pk=key_id).first()
    if key is not None:
        key_reprobe(key=key)


def keys_reprobe_daily():
    return keys_reprobe_all()
