"""The points app."""

from django.apps import AppConfig


class PointsConfig(AppConfig):
    name = "points"
    verbose_name = "Point datasets"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from points import checks  # noqa: F401 - registers the system checks
