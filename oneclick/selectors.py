from django_otp.plugins.otp_static.models import StaticToken

from oneclick.models import LoginEvent
from oneclick.services import user_has_two_factor

RECENT_SIGN_INS = 10


def security_context(*, user):
    return {
        "two_factor_on": user_has_two_factor(user=user),
        "backup_codes_left": StaticToken.objects.filter(device__user=user).count(),
        "recent_events": list(LoginEvent.objects.filter(user=user)[:RECENT_SIGN_INS]),
    }


def dashboard_context(*, user):
    return {"two_factor_on": user_has_two_factor(user=user)}
