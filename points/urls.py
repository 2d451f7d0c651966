"""API URLs (exact paths: outside clients rely on them).

Every API view is CSRF-exempt: the API is read-only (its POSTs select points and change
nothing), so there is nothing to forge, and a method a path does not take gets its JSON 405
rather than a CSRF refusal. A view that changes anything does not belong under /api/ as it is.
"""

from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from points import views

urlpatterns = [
    path("datasets", csrf_exempt(views.dataset_list), name="dataset-list"),
    path("datasets/<str:name>", csrf_exempt(views.dataset_detail), name="dataset-detail"),
    path("datasets/<str:name>/points", csrf_exempt(views.points_all), name="points-all"),
    path("datasets/<str:name>/points/within", csrf_exempt(views.points_within), name="points-within"),
    path("datasets/<str:name>/points/count", csrf_exempt(views.points_count), name="points-count"),
    path("datasets/<str:name>/overview", csrf_exempt(views.overview), name="overview"),
    path("openapi.json", csrf_exempt(views.openapi), name="openapi"),
]
