"""ASGI entry point; the point streams are async iterators there, so nothing is buffered."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pointsite.settings")

application = get_asgi_application()

from points.stores import get_store  # noqa: E402

get_store()  # a wrong POINTS_STORE_URL stops the server at start
