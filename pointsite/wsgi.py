"""WSGI entry point: what gunicorn serves (`make run`)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pointsite.settings")

application = get_wsgi_application()
