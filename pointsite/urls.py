"""Top-level URLs: the page, the API and the admin."""

from django.contrib import admin
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path
from django.views import defaults

from points import views
from points.stores.errors import INTERNAL


def favicon(request: HttpRequest) -> HttpResponse:
    """Answer browsers' automatic favicon request without a 404 (the pages declare none)."""
    return HttpResponse(status=204)


urlpatterns = [
    path("", views.index, name="index"),
    path("favicon.ico", favicon),
    path("api/", include("points.urls")),
    path("admin/", admin.site.urls),
]


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Answer unknown API paths in JSON, other paths with Django's page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"error": "no such API path; see /api/openapi.json"}, status=404)
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    """Answer API failures in JSON without internals, other paths with Django's page."""
    if request.path.startswith("/api/"):
        return JsonResponse({"error": INTERNAL}, status=500)  # what the stream's error line says too
    return defaults.server_error(request)
