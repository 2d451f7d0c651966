"""ASGI entry point, what `make run` serves (bin/serve: uvicorn with pointsite.asgi_limits.Protocol).

The point streams are async iterators here, so nothing is buffered; pointsite.asgi_limits.Limits
bounds every exchange in time (request body, each send of the response, the whole response).
"""

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "pointsite.settings")
django.setup(set_prefix=False)

from django.conf import settings  # noqa: E402

from points.stores import boot_store  # noqa: E402
from pointsite.asgi_limits import Limits  # noqa: E402
from pointsite.asgi_sync import SyncStackHandler  # noqa: E402

boot_store()  # a wrong POINTS_STORE_URL stops the server at start (a damaged index does not)

application = Limits(
    # THREADS (make run's, 8 by default): threads per process for the requests' synchronous part.
    SyncStackHandler(threads=int(os.environ.get("THREADS") or 8)),
    idle=settings.POINTS_STREAM_IDLE_SECONDS,
    max_seconds=settings.POINTS_MAX_STREAM_SECONDS,
    # Django reads a body whole (to a temporary file) before any view sees it: refuse more than
    # the largest upload at the door. Polygon bodies are checked against their own limit by the view.
    max_body=max(settings.POINTS_MAX_UPLOAD_BYTES, settings.POINTS_MAX_BODY_BYTES) + 1_048_576,
)
