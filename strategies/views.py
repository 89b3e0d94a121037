from django.contrib.auth.decorators import login_required
from django.shortcuts import render


@login_required
def signal_list(request):
    return render(request, "strategies/signal_list.html")
