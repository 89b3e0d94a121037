"""The portal's URLs plus a page the security sweep does not know (see test_idor)."""

from django.http import HttpResponse
from django.urls import path

from oneclick.urls import urlpatterns as portal

urlpatterns = [*portal, path("bots/<int:pk>/clone/", lambda request, pk: HttpResponse(), name="portfolios_clone")]
