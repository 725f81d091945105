from django.http import JsonResponse
from django.urls import path


def index(request):
    return JsonResponse({"message": "hello from django"})


urlpatterns = [path("", index)]
