from django.contrib.auth.decorators import login_required
from django.shortcuts import render


@login_required
def bot_list(request):
    return render(request, "portfolios/bot_list.html")
