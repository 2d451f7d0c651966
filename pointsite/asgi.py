"""ASGI entry point; the point streams are async iterators there, so nothing is buffered."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pointsite.settings")

application = get_asgi_application()
