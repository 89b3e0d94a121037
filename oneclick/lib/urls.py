"""Where a ``next`` parameter may send a user: this site only."""

from django.utils.http import url_has_allowed_host_and_scheme


def safe_next(request, candidate, fallback):
    """``candidate`` when it stays on this site (same host, and HTTPS when the request is), else ``fallback``.

    Django's own check refuses ``https://evil.example``, ``//evil.example``,
    ``https:evil.example``, ``/\\\\evil.example`` and the like.
    """
    # Only a path or a full URL: ``redirect()`` would take any other word ("1e40") for a view's name and fail.
    if candidate and candidate.startswith(("/", "http://", "https://")) and url_has_allowed_host_and_scheme(
            candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return candidate
    return fallback
