"""The points app."""

from django.apps import AppConfig


class PointsConfig(AppConfig):
    name = "points"
    verbose_name = "Point datasets"
    default_auto_field = "django.db.models.BigAutoField"
