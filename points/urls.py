"""API URLs (exact paths: outside clients rely on them)."""

from django.urls import path

from points import views

urlpatterns = [
    path("datasets", views.dataset_list, name="dataset-list"),
    path("datasets/<str:name>/points", views.points_all, name="points-all"),
    path("datasets/<str:name>/points/within", views.points_within, name="points-within"),
    path("datasets/<str:name>/points/count", views.points_count, name="points-count"),
    path("datasets/<str:name>/overview", views.overview, name="overview"),
    path("openapi.json", views.openapi, name="openapi"),
]
