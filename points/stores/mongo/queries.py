"""The query documents the MongoDB store sends for an area, and the exact test of what comes back.

An area becomes a plan of `find()` filters the store runs in turn (`within_queries`), never an
`$or` (MongoDB's OR stage keeps the record id of every document it returned, in memory, to
return each once). The server only narrows the candidates: every returned document then passes
the exact test of points.geometry (`keep`), the same the embedded store uses.

* planar data (a `2d` index): one query per part, each a `$geoWithin: {$polygon}` ring that
  covers the part's outer ring with at most MAX_QUERY_VERTICES vertices. The server tests each
  candidate of its (coarse) index covering against every vertex of the ring, so a 1,000-vertex
  ring over millions of candidates is slow enough to hit maxTimeMS; a few vertices that ask a
  little more cost less, and our test decides. Holes are never sent. A point inside several
  parts is returned by the query of the first of them (see Query.exclude).
* spherical data (a `2dsphere` index): one query, `$geometry: Polygon` (one part) or
  `MultiPolygon` (the parts' outer rings), tested server side with S2's indexed edges.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import shapely

from points.batches import Bounds, FloatArray, IntArray
from points.geometry import Area
from points.stores.base import GeometryKind, StoreError

#: the most vertices a planar query ring has (without the closing repeat)
MAX_QUERY_VERTICES = 64

# A covering ring with too many vertices is grown by this fraction of its part's half size, then by
# twice as much each round until it has few enough (see _grown_ring).
_FIRST_GROWTH = 2.0**-12

#: the widest 2d index range kept (max - min): the server refuses a range whose cells' squared
#: size overflows (GeoHashConverter: "invalid computed error", above ~6e161), and its $polygon
#: test multiplies coordinate differences, which must stay finite
MAX_2D_RANGE = 1e150


@dataclass(frozen=True, slots=True)
class Query:
    """One `find()` of an area's plan, and how its candidates are tested."""

    #: the find() filter, on the location field
    filter: dict[str, Any]
    #: the area's parts this query's candidates are tested against (None: all)
    parts: IntArray | None
    #: earlier parts: a candidate inside one of them was sent by an earlier query (None: none)
    exclude: IntArray | None


def _ring(ring: Any) -> list[list[float]]:
    # Only floats our parser produced reach a query: never anything from the request body as is.
    return [[float(x), float(y)] for x, y in ring.tolist()]


def _covering_ring(shell: FloatArray) -> FloatArray:
    """Return a closed ring of at most MAX_QUERY_VERTICES vertices whose inside holds every point
    of `shell`'s polygon, its boundary included, with room to spare (see _grown_ring).

    GEOS multiplies coordinates (over- and underflowing beyond about 1e±150), so the ring is
    built on the shell moved and scaled to a unit size, then mapped back; when that overflows
    (coordinates near the float range's ends, which no 2d index holds: MAX_2D_RANGE) the part's
    envelope, grown, is sent instead.
    """
    lo, hi = shell.min(axis=0), shell.max(axis=0)
    center = lo / 2 + hi / 2  # halves: hi - lo may overflow
    half = float((hi / 2 - lo / 2).max())
    extent = float(np.abs(shell).max())
    # Grow by a billionth of the coordinates' size: MongoDB's 2d ray test may count a point on a
    # slanted edge as outside, and the ring mapped back is only exact to a float step of them.
    hair = extent * 1e-9 / half
    unit = _grown_ring((shell / 2 - center / 2) / (half / 2), hair)
    top = np.finfo(np.float64).max
    with np.errstate(over="ignore", invalid="ignore"):
        ring: FloatArray = unit * half + center
        if np.isfinite(ring).all():
            return ring
        pad = extent * 1e-9
        x0, y0 = np.maximum(lo - pad, -top).tolist()
        x1, y1 = np.minimum(hi + pad, top).tolist()
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]])


def _grown_ring(shell: FloatArray, hair: float) -> FloatArray:
    """Return a closed ring of at most MAX_QUERY_VERTICES vertices holding the polygon of
    `shell` (of size about 1), every point of the polygon at least `hair` inside it.

    The ring is first grown by a hair (a mitred buffer: every point of the new ring is at least
    that far from the old one); that is all for a small ring. A larger one then goes through
    rounds: grow the ring by d, then simplify it with tolerance d / 2 (Douglas-Peucker keeps each
    removed vertex, hence each point of the removed stretch, within d / 2 of the edge replacing
    it; topology-preserving, so the result is a simple ring). The simplified ring never comes
    within d / 2 of the old one, and moving a boundary less than its distance to a point keeps
    that point inside: each round's ring holds the previous one by at least d / 2, and the gaps
    add up. d doubles each round until the ring has few enough vertices (and the gap is `hair`);
    each round works on the previous round's (smaller) ring, so the costly buffer of a
    10,000-vertex ring is done once, with a small d.
    """
    gap = min(hair, _FIRST_GROWTH)
    grown = shapely.buffer(shapely.Polygon(shell), gap, join_style="mitre", mitre_limit=10.0)
    polygon = shapely.Polygon(grown.exterior)
    d = _FIRST_GROWTH
    while len(polygon.exterior.coords) - 1 > MAX_QUERY_VERTICES or gap < hair:
        grown = shapely.buffer(polygon, d, join_style="mitre", mitre_limit=2.0)
        polygon = shapely.simplify(shapely.Polygon(grown.exterior), d / 2, preserve_topology=True)
        gap += d / 2
        d *= 2
    return np.asarray(polygon.exterior.coords)


def _earlier_neighbours(area: Area) -> list[IntArray | None]:
    """Return, for each part k, the parts j < k whose envelope meets part k's (touching
    included), or None when there are none: only those can hold a point of part k too."""
    shells = [p.shell for p in area.parts]
    lo = np.array([s.min(axis=0) for s in shells])
    hi = np.array([s.max(axis=0) for s in shells])
    boxes = shapely.box(lo[:, 0], lo[:, 1], hi[:, 0], hi[:, 1])
    later, earlier = shapely.STRtree(boxes).query(boxes, predicate="intersects")
    keep = earlier < later
    order = np.lexsort((earlier[keep], later[keep]))
    later, earlier = later[keep][order], earlier[keep][order].astype(np.int64)
    starts = np.searchsorted(later, np.arange(len(shells) + 1))
    return [earlier[a:b] if b > a else None for a, b in zip(starts[:-1].tolist(), starts[1:].tolist(), strict=True)]


def within_queries(area: Area, *, field: str = "pt") -> list[Query]:
    """Return the queries selecting the candidates for `area`, to run in turn (their results
    are disjoint once each has passed `keep`), on the location field `field`."""
    if area.kind == "spherical":
        # 2dsphere counts points on (and within ~1 cm of) the boundary as within: a superset.
        rings = [[_ring(part.shell)] for part in area.parts]
        geometry = (
            {"type": "Polygon", "coordinates": rings[0]}
            if len(rings) == 1
            else {"type": "MultiPolygon", "coordinates": rings}
        )
        return [Query({field: {"$geoWithin": {"$geometry": geometry}}}, None, None)]
    exclude = _earlier_neighbours(area)
    return [
        # $polygon takes the vertices without the closing repeat.
        Query(
            {field: {"$geoWithin": {"$polygon": _ring(_covering_ring(part.shell))[:-1]}}},
            np.array([k], dtype=np.int64),
            exclude[k],
        )
        for k, part in enumerate(area.parts)
    ]


def keep(docs: list[dict[str, Any]], area: Area, query: Query) -> list[dict[str, Any]]:
    """Return the documents of `query`'s candidates whose `pt` is inside `area` by our rule
    (against the query's parts, and in none of its earlier ones), in order; `docs` itself when
    all are."""
    if not docs:
        return docs
    coords = np.array([d["pt"] for d in docs], dtype=np.float64).reshape(-1, 2)
    xs, ys = coords[:, 0], coords[:, 1]
    mask = area.contains_xy(xs, ys, query.parts)
    if query.exclude is not None and mask.any():
        inside = np.flatnonzero(mask)
        mask[inside] = ~area.contains_xy(xs[inside], ys[inside], query.exclude)
    if mask.all():
        return docs
    return [d for d, kept in zip(docs, mask.tolist(), strict=True) if kept]


def index_spec(geometry: GeometryKind, bounds: Bounds | None) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """Return (keys, options) of the dataset's spatial index, or raise StoreError when no 2d
    index range can hold the points."""
    if geometry == "spherical":
        return [("pt", "2dsphere")], {"name": "pt_2dsphere"}
    lo, hi = _range_2d(bounds)
    return [("pt", "2d")], {"name": "pt_2d", "min": lo, "max": hi}


def _range_2d(bounds: Bounds | None) -> tuple[float, float]:
    """Return the [min, max) of a 2d index over `bounds` (one range for both axes), every point
    strictly inside: finite, max - min at most MAX_2D_RANGE."""
    if bounds is None:
        return -180.0, 180.0
    if not all(math.isfinite(b) for b in bounds):
        raise StoreError(f"the points' bounds {list(bounds)!r} are not finite numbers: no 2d index can hold them")
    lo, hi = min(bounds[0], bounds[1]), max(bounds[2], bounds[3])
    # Give the index the data's range with a margin, so it spends its precision where the points
    # are; the margin is at least 2^-30 of the coordinates' size (over 4 million float steps:
    # lo - margin < lo even at 1e10, where 1e-6 is below one step).
    span = hi - lo  # inf when the points are too far apart: refused below
    scale = max(abs(lo), abs(hi))
    margin = max(span * 1e-3, scale * 2.0**-30, 1e-6)
    if span + 2 * margin > MAX_2D_RANGE:
        # As much room as the widest range leaves (a little less, for rounding), or a few steps.
        margin = max((MAX_2D_RANGE - span) / 2 * 0.999, 4 * math.ulp(scale))
    low, high = lo - margin, hi + margin
    if not (math.isfinite(low) and math.isfinite(high) and low < lo and hi < high and high - low <= MAX_2D_RANGE):
        raise StoreError(
            f"the points' coordinates run from {lo:g} to {hi:g}: a MongoDB 2d index covers a range of at "
            f"most {MAX_2D_RANGE:g} between finite bounds, with room on both sides, and none can hold "
            "them; scale or shift the coordinates (or store them as lon/lat, spherical)"
        )
    return low, high
