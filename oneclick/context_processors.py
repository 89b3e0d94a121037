from django.conf import settings
from django.urls import reverse

from alerts.selectors import unacknowledged_serious_count

NAVIGATION = [
    ("Dashboard", "dashboard"),
    ("Keys", "keys:list"),
    ("Bots", "portfolios:bot_list"),
    ("Signals", "strategies:signal_list"),
    ("Alerts", "alerts:list"),
    ("Security", "security"),
]


def portal(request):
    """The navigation of the portal shell, with the current page marked; for visitors, how they may sign up."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"signup_mode": settings.ONECLICK_SIGNUP}
    badges = {"alerts:list": unacknowledged_serious_count(user=user) or None}
    items = []
    for label, name in NAVIGATION:
        url = reverse(name)
        active = request.path == url if url == "/" else request.path.startswith(url)
        items.append({"label": label, "url": url, "active": active, "badge": badges.get(name)})
    pending = getattr(request, "second_factor_pending", False)
    return {"portal_nav": items, "second_factor_pending": pending}
