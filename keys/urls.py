from django.urls import path

from keys import views

app_name = "keys"
urlpatterns = [
    path("", views.key_list, name="list"),
    path("link/", views.key_link_view, name="link"),
    path("guide/<slug:exchange>/", views.key_guide, name="guide"),
    path("<int:pk>/", views.key_detail, name="detail"),
    path("<int:pk>/disable/", views.key_disable_view, name="disable"),
    path("<int:pk>/enable/", views.key_enable_view, name="enable"),
    path("<int:pk>/check/", views.key_reprobe_view, name="reprobe"),
    path("<int:pk>/delete/", views.key_delete_view, name="delete"),
]
