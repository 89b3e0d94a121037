from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings


class AccountAdapter(DefaultAccountAdapter):
    def send_mail(self, template_prefix, email, context):
        # Every account email can tell the user which IPs to whitelist.
        context = {**context, "egress_ips": settings.ONECLICK_EGRESS_IPS, "site_url": settings.ONECLICK_SITE_URL}
        return super().send_mail(template_prefix, email, context)
