from django import template
from django.conf import settings

from oneclick.lib.useragent import user_agent_summary

register = template.Library()


@register.filter
def device_summary(user_agent):
    """``"Firefox on Linux"`` for a User-Agent header."""
    return user_agent_summary(user_agent)


@register.simple_tag
def session_idle_minutes():
    """After how many idle minutes a session is signed out (``SESSION_IDLE_MINUTES``)."""
    return settings.SESSION_IDLE_MINUTES
