"""System checks: a wrong POINTS_STORE_URL is reported by manage.py (check, migrate, runserver)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register
from django.core.exceptions import ImproperlyConfigured

from points.stores import open_store
from points.stores.base import StoreError


@register()
def check_store_url(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Return an error when the point store named by POINTS_STORE_URL cannot be opened."""
    try:
        open_store(settings.POINTS_STORE_URL).close()
    except (ImproperlyConfigured, StoreError) as exc:
        return [Error(str(exc), hint="Set POINTS_STORE_URL to sqlite:///path or mongodb://host/db.", id="points.E001")]
    return []
