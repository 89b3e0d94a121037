from django.contrib import admin
from django.urls import include, path

from oneclick import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("healthz", views.healthz, name="healthz"),
    path("accounts/", include("allauth.urls")),
    path("account/security/", views.security, name="security"),
    path("account/2fa/setup/", views.two_factor_setup, name="two_factor_setup"),
    path("account/2fa/verify/", views.two_factor_verify, name="two_factor_verify"),
    path("account/2fa/backup-codes/", views.backup_codes_new, name="backup_codes_new"),
    path("account/2fa/disable/", views.two_factor_off, name="two_factor_off"),
    path("keys/", include("keys.urls")),
    path("bots/", include("portfolios.urls")),
    path("signals/", include("strategies.urls")),
    path("strategies/", include("strategies.urls_pages")),
    path("alerts/", include("alerts.urls")),
    path("admin/", admin.site.urls),
]
