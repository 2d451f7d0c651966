"""System checks: a wrong POINTS_STORE_URL is reported by manage.py (check, migrate, runserver) as
an error; a point store whose files are damaged as a warning of one line, so every command still
runs (`check_points` says what is damaged, `migrate` works) and the server still starts."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register
from django.core.checks import Warning as CheckWarning
from django.core.exceptions import ImproperlyConfigured

from points.stores import open_store
from points.stores.base import StoreDamaged, StoreError


@register()
def check_store_url(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Return an error when the point store named by POINTS_STORE_URL cannot be opened, a warning
    when its shared files (the embedded store's index) are damaged."""
    try:
        store = open_store(settings.POINTS_STORE_URL)
    except StoreDamaged as exc:
        return [CheckWarning(str(exc), id="points.W001")]
    except (ImproperlyConfigured, StoreError) as exc:
        return [Error(str(exc), hint="Set POINTS_STORE_URL to sqlite:///path or mongodb://host/db.", id="points.E001")]
    try:
        problems = store.verify_store(quick=True)
    finally:
        store.close()
    return [CheckWarning(problems[0], id="points.W001")] if problems else []
