from allauth.account import app_settings
from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import EmailAddress
from allauth.core.exceptions import ImmediateHttpResponse
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import redirect, render
from django.utils import timezone

from oneclick.lib.useragent import user_agent_summary
from oneclick.services import (
    INVITATION_EXPIRED, InvitationRefused, invitation_usable, invitation_use, user_has_two_factor,
)

USER_AGENT_SHOWN = 200
# The invitation whose link this session opened (its id; the token itself is never kept).
INVITATION_SESSION_KEY = "oneclick_invitation"


def invitation_refused_page(request, refused):
    return render(request, "oneclick/invitation_refused.html", {"reason": str(refused)}, status=refused.status)


LOGGED_IN_MESSAGE = "account/messages/logged_in.txt"


class AccountAdapter(DefaultAccountAdapter):
    def add_message(self, request, level, message_template=None, message_context=None, extra_tags="",
                    message=None):
        # "Logged in" comes once the user is: after the second factor when one is on (the code page says it).
        user = getattr(request, "user", None)
        # (django_otp sets ``otp_device`` on the user once a device verified this session.)
        if (message_template == LOGGED_IN_MESSAGE and user is not None and user.is_authenticated
                and getattr(user, "otp_device", None) is None and user_has_two_factor(user=user)):
            return
        super().add_message(request, level, message_template, message_context, extra_tags, message)

    def send_mail(self, template_prefix, email, context):
        # Every account email can tell the user which IPs to whitelist.
        context = {**context, "egress_ips": settings.ONECLICK_EGRESS_IPS, "site_url": settings.ONECLICK_SITE_URL}
        return super().send_mail(template_prefix, email, context)

    def send_notification_mail(self, template_prefix, user, context=None, email=None):
        """A security notice (``ACCOUNT_EMAIL_NOTIFICATIONS``) to the primary address, or ``email``.

        As allauth's, with the browser summarised ("Firefox on Linux") beside its full header, and a request
        without a client address (one made inside the process) named "unknown" rather than refused. A removed
        address is told as well: whoever took over an account cannot silence its owner by removing it.
        """
        if not app_settings.EMAIL_NOTIFICATIONS:
            return
        request = self.request
        user_agent = request.META.get("HTTP_USER_AGENT", "") if request is not None else ""
        try:
            ip = self.get_client_ip(request) if request is not None else "unknown"
        except PermissionDenied:
            ip = "unknown"
        context = {
            "timestamp": timezone.now(), "ip": ip, "user_agent": user_agent[:USER_AGENT_SHOWN] or "unspecified",
            "device": user_agent_summary(user_agent), **(context or {}),
        }
        recipients = [email or EmailAddress.objects.get_primary_email(user)]
        if template_prefix == "account/email/email_deleted":
            recipients.append(context.get("deleted_email"))
        for address in dict.fromkeys(filter(None, recipients)):
            self.send_mail(template_prefix, address, context)

    # Who may sign up (ONECLICK_SIGNUP, read on every request).

    def invitation_start(self, request, invitation):
        """An invitation link was opened: sign-up in this session is for the invited address.

        The link came by email to that address, so the address counts as verified (allauth's
        "stashed verified email", meant for invitations).
        """
        request.session[INVITATION_SESSION_KEY] = invitation.pk
        self.stash_verified_email(request, invitation.email)

    def invitation_pending(self, request):
        """This session's invitation while it can still be used; a stale one is forgotten."""
        invitation_id = request.session.get(INVITATION_SESSION_KEY)
        if invitation_id is None:
            return None
        invitation = invitation_usable(invitation_id=invitation_id)
        if invitation is None:
            self._invitation_forget(request)
        return invitation

    def _invitation_forget(self, request):
        request.session.pop(INVITATION_SESSION_KEY, None)
        self.unstash_verified_email(request)

    def is_open_for_signup(self, request):
        mode = settings.ONECLICK_SIGNUP
        if mode == "open" or self.invitation_pending(request) is not None:
            return True
        if mode == "waitlist":
            raise ImmediateHttpResponse(redirect("waitlist"))
        return False  # allauth shows account/signup_closed.html: by invitation only

    def save_user(self, request, user, form, commit=True):
        invitation = self.invitation_pending(request)
        if invitation is None and settings.ONECLICK_SIGNUP == "open":
            return super().save_user(request, user, form, commit)
        try:
            if invitation is None:  # expired between the sign-up page's check and now
                raise InvitationRefused(INVITATION_EXPIRED)
            # The user and the invitation's use commit together, or neither does.
            with transaction.atomic():
                user = super().save_user(request, user, form, commit=True)
                invitation_use(invitation=invitation, user=user)
        except InvitationRefused as refused:
            self._invitation_forget(request)
            raise ImmediateHttpResponse(invitation_refused_page(request, refused)) from None
        request.session.pop(INVITATION_SESSION_KEY, None)
        return user
