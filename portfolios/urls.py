from django.urls import path

from portfolios import views

app_name = "portfolios"
urlpatterns = [
    path("", views.bot_list, name="bot_list"),
    path("new/", views.bot_create, name="bot_create"),
    path("report/", views.account_report, name="account_report"),
    path("stop-everything/", views.kill_switch, name="kill_switch"),
    path("stop-everything/resume/", views.kill_switch_resume, name="kill_switch_resume"),
    path("orders/<int:pk>/", views.order_detail, name="order_detail"),
    path("<int:pk>/", views.bot_detail, name="bot_detail"),
    path("<int:pk>/edit/", views.bot_edit, name="bot_edit"),
    path("<int:pk>/pause/", views.bot_pause, name="bot_pause"),
    path("<int:pk>/resume/", views.bot_resume, name="bot_resume"),
    path("<int:pk>/stop/", views.bot_stop, name="bot_stop"),
    path("<int:pk>/report/", views.bot_report, name="bot_report"),
]
