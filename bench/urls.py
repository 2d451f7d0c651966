"""The app's URLs plus the two usual alternatives the benchmark compares our stream with.

(b) a paginated JSON endpoint, 10,000 points a page, fetched page after page;
(c) the original write-up's stream: one json.dumps per point, one yield per point.
Both read the same store; neither is part of the app.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from django.http import HttpRequest, JsonResponse, StreamingHttpResponse
from django.urls import include, path

from points.ndjson import decode_lines
from points.stores import get_store

PAGE = 10_000


def paged(request: HttpRequest, name: str) -> JsonResponse:
    """Return page ?page=N of the dataset as one JSON document (OFFSET/LIMIT style)."""
    page = int(request.GET.get("page", "0"))
    skip, points = page * PAGE, []
    seen = 0
    for chunk in get_store().iter_all(name):
        if seen + chunk.count <= skip:  # skipped rows still have to be read, as with OFFSET
            seen += chunk.count
            continue
        for record in decode_lines(chunk.data):
            if seen >= skip:
                points.append(record)
            seen += 1
            if len(points) == PAGE:
                break
        if len(points) == PAGE:
            break
    return JsonResponse({"points": points, "next": page + 1 if len(points) == PAGE else None})


def per_point(request: HttpRequest, name: str) -> StreamingHttpResponse:
    """Stream the dataset with one json.dumps and one yield per point."""

    def lines() -> Iterator[str]:
        for chunk in get_store().iter_all(name):
            record: dict[str, Any]
            for record in decode_lines(chunk.data):
                yield json.dumps(record) + "\n"

    return StreamingHttpResponse(lines(), content_type="application/x-ndjson")


urlpatterns = [
    path("bench/paged/<str:name>", paged),
    path("bench/per-point/<str:name>", per_point),
    path("", include("pointsite.urls")),
]
