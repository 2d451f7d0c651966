"""The query documents the MongoDB store sends for an area, and the exact test of what comes back."""

from __future__ import annotations

from typing import Any

import numpy as np
import shapely

from points.batches import Bounds
from points.geometry import Area
from points.stores.base import GeometryKind


def _ring(ring: Any) -> list[list[float]]:
    # Only floats our parser produced reach a query: never anything from the request body as is.
    return [[float(x), float(y)] for x, y in ring.tolist()]


def _enlarged(shell: Any) -> Any:
    """Return the outer ring grown by a hair, as an (n, 2) array: MongoDB's 2d ray test may count a
    point on a slanted edge as outside, so the query asks a little more and our test decides."""
    extent = float(np.abs(shell).max()) or 1.0
    grown = shapely.buffer(shapely.Polygon(shell), extent * 1e-9, join_style="mitre", mitre_limit=10.0)
    return np.asarray(grown.exterior.coords)


def within_filter(area: Area) -> dict[str, Any]:
    """Return the query document selecting the candidates for `area`: the points within any outer
    ring, by MongoDB's index. The exact rule (boundaries, holes; points.geometry) is applied to the
    returned documents by the same test the embedded store uses (`keep_inside`)."""
    parts: list[dict[str, Any]] = []
    for part in area.parts:
        if area.kind == "planar":
            # $polygon takes the vertices without the closing repeat.
            parts.append({"pt": {"$geoWithin": {"$polygon": _ring(_enlarged(part.shell))[:-1]}}})
        else:
            # 2dsphere counts points on (and within ~1 cm of) the boundary as within: a superset.
            parts.append({"pt": {"$geoWithin": {"$geometry": {"type": "Polygon", "coordinates": [_ring(part.shell)]}}}})
    return parts[0] if len(parts) == 1 else {"$or": parts}


def keep_inside(docs: list[dict[str, Any]], area: Area) -> list[dict[str, Any]]:
    """Return the documents whose `pt` is inside `area` by our rule, in order."""
    if not docs:
        return docs
    coords = np.array([d["pt"] for d in docs], dtype=np.float64).reshape(-1, 2)
    mask = area.contains_xy(coords[:, 0], coords[:, 1])
    if mask.all():
        return docs
    return [d for d, keep in zip(docs, mask.tolist(), strict=True) if keep]


def index_spec(geometry: GeometryKind, bounds: Bounds | None) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """Return (keys, options) of the dataset's spatial index."""
    if geometry == "spherical":
        return [("pt", "2dsphere")], {"name": "pt_2dsphere"}
    # A 2d index covers one square range on both axes; give it the data's, with a margin, so it
    # spends its precision where the points are.
    lo, hi = (-180.0, 180.0) if bounds is None else (min(bounds[0], bounds[1]), max(bounds[2], bounds[3]))
    margin = (hi - lo) * 1e-3 + 1e-6
    return [("pt", "2d")], {"name": "pt_2d", "min": lo - margin, "max": hi + margin}
