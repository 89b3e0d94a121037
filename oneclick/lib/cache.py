from django.conf import settings
from django.core.cache import caches


def shared_cache():
    """A cache every process of the deployment sees: Redis when configured, else the database."""
    return caches["default"] if settings.REDIS_URL else caches["tasks"]
