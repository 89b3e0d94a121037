from django.urls import path

from alerts import views

app_name = "alerts"
urlpatterns = [
    path("", views.alert_list, name="list"),
    path("<int:pk>/", views.alert_detail, name="detail"),
    path("<int:pk>/acknowledge/", views.alert_acknowledge_view, name="acknowledge"),
    path("acknowledge-all/", views.alerts_acknowledge_all_view, name="acknowledge_all"),
    path("settings/", views.alert_settings, name="settings"),
    path("settings/test/", views.alert_test_view, name="test"),
    path("settings/telegram/link/", views.telegram_link_view, name="telegram_link"),
    path("settings/telegram/unlink/", views.telegram_unlink_view, name="telegram_unlink"),
    path("settings/<str:channel>/on/", views.channel_on_view, name="channel_on"),
    path("telegram/webhook/", views.telegram_webhook, name="telegram_webhook"),
]
