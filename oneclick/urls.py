from django.contrib import admin
from django.urls import include, path

from oneclick import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/invitation/<str:token>/", views.invitation_accept, name="invitation_accept"),
    path("accounts/waitlist/", views.waitlist, name="waitlist"),
    # allauth's page, with a fresh code for changes when 2FA is on (before allauth's own, which it replaces).
    path("accounts/email/", views.email, name="account_email"),
    path("accounts/", include("allauth.urls")),
    path("account/sessions/<int:pk>/end/", views.session_end, name="session_end"),
    path("account/security/", views.security, name="security"),
    path("account/2fa/setup/", views.two_factor_setup, name="two_factor_setup"),
    path("account/2fa/verify/", views.two_factor_verify, name="two_factor_verify"),
    path("account/2fa/backup-codes/", views.backup_codes_new, name="backup_codes_new"),
    path("account/2fa/disable/", views.two_factor_off, name="two_factor_off"),
    path("account/export/", views.account_export_view, name="account_export"),
    path("account/delete/", views.account_delete_view, name="account_delete"),
    path("keys/", include("keys.urls")),
    path("bots/", include("portfolios.urls")),
    path("signals/", include("strategies.urls")),
    path("strategies/", include("strategies.urls_pages")),
    path("alerts/", include("alerts.urls")),
    path("admin/", admin.site.urls),
]
