from django.contrib.auth.decorators import login_required
from django.shortcuts import render


@login_required
def key_list(request):
    return render(request, "keys/key_list.html")
