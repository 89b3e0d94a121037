"""Signals, under /signals/ (the portal's navigation links to ``strategies:signal_list``)."""

from django.urls import path

from strategies import views

app_name = "strategies"
urlpatterns = [
    path("", views.signal_list, name="signal_list"),
    path("<int:pk>/", views.signal_detail, name="signal_detail"),
]
