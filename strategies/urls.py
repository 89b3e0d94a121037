from django.urls import path

from strategies import views

app_name = "strategies"
urlpatterns = [
    path("", views.signal_list, name="signal_list"),
]
