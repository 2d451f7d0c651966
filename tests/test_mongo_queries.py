"""The exact documents the MongoDB store sends, and the filter it applies to what comes back (no server needed).

Where a server would run the query, it is played by shapely: a planar query's candidates are the
points strictly inside the ring it sends, minus those within a hair of that ring's edges (MongoDB's
2d ray test may count a point on a slanted edge as outside).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import shapely

from bench import shapes
from points.geometry import Area, Part, parse_area
from points.rules import GeometryKind
from points.stores.base import PointBatch, StoreError
from points.stores.mongo import collection_name
from points.stores.mongo.queries import (
    MAX_2D_RANGE,
    MAX_QUERY_VERTICES,
    Query,
    index_spec,
    keep,
    within_queries,
)
from points.stores.mongo.store import _documents

SHELL = [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]
HOLE = [[2, 2], [4, 2], [4, 4], [2, 2]]
HAIR = 1e-8  # a billionth of the square's coordinates


def polygon_of(query: Query) -> list[list[float]]:
    assert set(query.filter) == {"pt"} and set(query.filter["pt"]) == {"$geoWithin"}
    assert set(query.filter["pt"]["$geoWithin"]) == {"$polygon"}
    ring: list[list[float]] = query.filter["pt"]["$geoWithin"]["$polygon"]
    return ring


def planar(coordinates: list[Any]) -> Area:
    kind = "Polygon" if not isinstance(coordinates[0][0][0], list) else "MultiPolygon"
    return parse_area({"type": kind, "coordinates": coordinates}, kind=GeometryKind.PLANAR)


def unit(coords: np.ndarray, like: np.ndarray) -> np.ndarray:
    """Return coords moved and scaled as `like` goes to a unit size around 0 (GEOS cannot
    compute with coordinates near 1e200 or 1e-200; its checks are done there)."""
    lo, hi = like.min(axis=0), like.max(axis=0)
    center, half = lo / 2 + hi / 2, float((hi / 2 - lo / 2).max())
    return (coords / 2 - center / 2) / (half / 2)


def assert_covers(ring: list[list[float]], shell: np.ndarray) -> shapely.Polygon:
    """Check the ring sent for a part: few vertices, floats, no closing repeat, a simple ring
    holding every point of the part, its boundary included, strictly inside."""
    assert 3 <= len(ring) <= MAX_QUERY_VERTICES
    assert all(type(v) is float for position in ring for v in position)
    assert ring[0] != ring[-1]  # $polygon takes the vertices without the closing repeat
    sent = np.array(ring + ring[:1])
    assert np.isfinite(sent).all()
    asked = shapely.Polygon(unit(sent, shell))
    part = shapely.Polygon(unit(shell, shell))
    assert asked.is_valid
    assert asked.contains(part.exterior)
    assert shapely.distance(asked.exterior, part.exterior) > 1e-10
    return asked


# ---------------------------------------------------------------------------------------------
# The documents, shape by shape


def test_planar_polygon_is_one_query_a_hair_more_than_the_ring() -> None:
    [query] = within_queries(planar([SHELL]))
    h = pytest.approx(-HAIR, rel=1e-6)
    g = pytest.approx(10 + HAIR, rel=1e-12)
    assert query.filter == {"pt": {"$geoWithin": {"$polygon": [[h, h], [h, g], [g, g], [g, h]]}}}
    assert query.parts is not None and query.parts.tolist() == [0] and query.exclude is None
    asked = assert_covers(polygon_of(query), np.array(SHELL, dtype=float))
    # What is asked is the ring to within a billionth of its size.
    assert (
        shapely.hausdorff_distance(asked, shapely.Polygon(unit(np.array(SHELL, dtype=float), np.array(SHELL)))) < 1e-8
    )


def test_holes_are_not_sent_they_are_applied_to_the_documents() -> None:
    area = planar([SHELL, HOLE])
    [query] = within_queries(area)
    assert query.filter == within_queries(planar([SHELL]))[0].filter  # the hole is not in the query
    docs = [{"id": i, "pt": pt} for i, pt in enumerate([[1, 1], [3, 2.5], [2, 2], [10, 5], [10.0000001, 5], [0, 0]])]
    # Inside, in the hole, on the hole's ring, on the outer ring, just outside, on a corner.
    assert [d["id"] for d in keep(docs, area, query)] == [0, 3, 5]


def test_planar_multipolygon_is_one_query_per_part_each_point_once() -> None:
    other = [[5, 5], [15, 5], [15, 15], [5, 5]]
    area = planar([[SHELL, HOLE], [other]])
    first, second = within_queries(area)
    assert first.filter == within_queries(planar([SHELL]))[0].filter
    # The triangle, its corners moved out by under 1e-7 (the acute ones the most).
    lo, hi = pytest.approx(5, abs=1e-7), pytest.approx(15, abs=1e-7)
    assert second.filter == {"pt": {"$geoWithin": {"$polygon": [[lo, lo], [hi, hi], [hi, lo]]}}}
    assert_covers(polygon_of(second), np.array(other, dtype=float))
    assert first.parts.tolist() == [0] and first.exclude is None  # type: ignore[union-attr]
    assert second.parts.tolist() == [1] and second.exclude.tolist() == [0]  # type: ignore[union-attr]
    assert "$or" not in str([first.filter, second.filter])
    # (8, 6) is in both parts: the first query keeps it, the second sends it again and drops it.
    # (3, 3) is in the first part's hole: nothing keeps it.
    docs = [{"id": i, "pt": pt} for i, pt in enumerate([[8, 6], [12, 6], [1, 1], [3, 3]])]
    assert [d["id"] for d in keep(docs, area, first)] == [0, 2]
    assert [d["id"] for d in keep(docs, area, second)] == [1]


def test_spherical_polygon_is_one_geometry_query() -> None:
    area = parse_area({"type": "Polygon", "coordinates": [SHELL, HOLE]}, kind=GeometryKind.SPHERICAL)
    [query] = within_queries(area)
    assert query.filter == {
        "pt": {
            "$geoWithin": {
                "$geometry": {
                    "type": "Polygon",
                    "coordinates": [[[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0], [0.0, 0.0]]],
                }
            }
        }
    }
    assert query.parts is None and query.exclude is None


def test_spherical_multipolygon_is_one_multipolygon_query() -> None:
    other = [[20, 20], [30, 20], [30, 30], [20, 20]]
    area = parse_area({"type": "MultiPolygon", "coordinates": [[SHELL, HOLE], [other]]}, kind=GeometryKind.SPHERICAL)
    [query] = within_queries(area, field="loc")
    assert query.filter == {
        "loc": {
            "$geoWithin": {
                "$geometry": {
                    "type": "MultiPolygon",
                    "coordinates": [
                        [[[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0], [0.0, 0.0]]],
                        [[[20.0, 20.0], [30.0, 20.0], [30.0, 30.0], [20.0, 20.0]]],
                    ],
                }
            }
        }
    }
    assert query.parts is None and query.exclude is None
    # The whole area is the test: holes apply, a point in two parts is one document anyway.
    docs = [{"id": i, "pt": pt} for i, pt in enumerate([[1.0, 1.0], [3.0, 2.5], [25.0, 21.0], [40.0, 40.0]])]
    assert [d["id"] for d in keep(docs, area, query)] == [0, 2]


def test_a_1000_vertex_ring_is_sent_as_64() -> None:
    body = shapes.planar("circle")
    [query] = within_queries(parse_area(body, kind=GeometryKind.PLANAR), field="loc")
    assert set(query.filter) == {"loc"}
    ring = query.filter["loc"]["$geoWithin"]["$polygon"]
    shell = np.array(body["coordinates"][0])
    assert len(shell) == 1001 and len(ring) == MAX_QUERY_VERTICES
    asked = assert_covers(ring, shell)
    # ...and asks for little more than the circle: the server's candidates are what it sends.
    assert asked.area / shapely.Polygon(unit(shell, shell)).area < 1.02


def test_points_on_slanted_edges_are_kept() -> None:
    # MongoDB's 2d test may drop a point on a slanted edge; ours keeps it (boundaries are closed).
    triangle = [[30, 30], [40, 30], [35, 40], [30, 30]]
    area = planar([triangle])
    [query] = within_queries(area)
    docs = [{"id": 0, "pt": [31.0, 32.0]}, {"id": 1, "pt": [32.0, 34.0]}, {"id": 2, "pt": [29.0, 32.0]}]
    assert [d["id"] for d in keep(docs, area, query)] == [0, 1]
    assert shapely.Polygon(polygon_of(query)).contains(shapely.Point(31, 32))


def test_only_numbers_reach_the_query() -> None:
    for kind in GeometryKind:
        area = parse_area(
            b'{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]],"$where":"x","crs":{"$gt":1}}', kind=kind
        )
        [query] = within_queries(area)
        assert set(query.filter) == {"pt"} and set(query.filter["pt"]) == {"$geoWithin"}
        sent = query.filter["pt"]["$geoWithin"]
        positions = sent["$polygon"] if kind == "planar" else sent["$geometry"]["coordinates"][0]
        assert set(sent) == ({"$polygon"} if kind == "planar" else {"$geometry"})
        assert all(type(v) is float for position in positions for v in position)


def test_keep_returns_the_documents_as_they_are_when_all_pass() -> None:
    area = planar([SHELL])
    [query] = within_queries(area)
    docs = [{"id": i, "pt": [float(i % 10), float(i // 10 % 10)]} for i in range(1000)]
    assert keep(docs, area, query) is docs
    assert keep([], area, query) == []


# ---------------------------------------------------------------------------------------------
# The covering rings: every point of a part, boundary included, inside what is sent


def star(n: int, seed: int, inner: float = 0.05) -> np.ndarray:
    radii = np.random.default_rng(seed).uniform(inner, 1.0, n)
    t = np.linspace(0, 2 * math.pi, n, endpoint=False)
    ring = np.column_stack([radii * np.cos(t), radii * np.sin(t)])
    return np.vstack([ring, ring[:1]])


def spiral(turns: float, n: int, width: float = 0.3) -> np.ndarray:
    """A band winding `turns` times around the centre (its arms close together)."""
    theta = np.linspace(0, turns * 2 * math.pi, n)
    r = 1 + theta
    inner = np.column_stack([r * np.cos(theta), r * np.sin(theta)])
    outer = np.column_stack([(r + 2 * math.pi * width) * np.cos(theta), (r + 2 * math.pi * width) * np.sin(theta)])
    return np.vstack([inner, outer[::-1], inner[:1]])


def walk(n: int, seed: int, step: float = 0.03) -> np.ndarray:
    """A polygon whose radius is a random walk around its centre (as bench/shapes.py's)."""
    steps = np.cumsum(np.random.default_rng(seed).normal(0, step, n))
    steps -= np.linspace(0, steps[-1], n)
    radii = np.exp(steps - steps.mean())
    t = np.linspace(0, 2 * math.pi, n, endpoint=False)
    ring = np.column_stack([radii * np.cos(t), radii * np.sin(t)])
    return np.vstack([ring, ring[:1]])


RINGS = {
    "bench star": lambda: np.array(shapes.planar("star")["coordinates"][0]),
    "bench walk": lambda: np.array(shapes.planar("walk")["coordinates"][0]),
    "random star 300": lambda: star(300, 1),
    "random star 5000": lambda: star(5000, 2, inner=0.01),
    "star of 40 spikes": lambda: star(80, 3, inner=0.001),  # under 64 vertices, but sharp
    "spiral 3 turns": lambda: spiral(3, 2000),
    "spiral 6 turns, thin": lambda: spiral(6, 4000, width=0.05),
    "walk 2000": lambda: walk(2000, 4),
    "walk 9000, rough": lambda: walk(9000, 5, step=0.08),
    "sliver": lambda: np.array([[0.0, 0.0], [1000.0, 0.0], [1000.0, 1e-3], [0.0, 0.0]]),
}


# Scaled to a thousandth and moved to 1e10, these two shapes' vertices merge in floating point
# (no longer the same polygon): they are left out of that placement.
MERGED = {("random star 5000", 1e-3, 1e10), ("walk 9000, rough", 1e-3, 1e10)}
PLACEMENTS = [(1.0, 0.0), (1e-3, 1e10), (1e200, 0.0), (1e-200, 0.0), (7.0, -1e6)]


@pytest.mark.parametrize(
    ("name", "scale", "offset"),
    [(name, *placed) for placed in PLACEMENTS for name in RINGS if (name, *placed) not in MERGED],
    ids=str,
)
def test_the_sent_ring_covers_the_part_with_few_vertices(name: str, scale: float, offset: float) -> None:
    shell = RINGS[name]() * scale + offset
    assert len(np.unique(shell, axis=0)) == len(shell) - 1  # no two vertices merged: the same shape
    assert shapely.Polygon(unit(shell, shell)).is_valid
    # Built as parse_area builds it (whose GEOS validity check overflows near 1e200).
    [query] = within_queries(Area(GeometryKind.PLANAR, (Part(shell),)))
    assert_covers(polygon_of(query), shell)


def test_a_ring_at_the_end_of_the_float_range_asks_for_its_box() -> None:
    top = float(np.finfo(np.float64).max)
    shell = [[0.0, 0.0], [top, 0.0], [top, top / 2], [0.0, 0.0]]
    [query] = within_queries(Area(GeometryKind.PLANAR, (Part(np.array(shell)),)))
    # Grown by a billionth of the coordinates' size, but not past the largest float.
    x0 = y0 = -top * 1e-9
    y1 = top / 2 + top * 1e-9
    assert polygon_of(query) == [[x0, y0], [top, y0], [top, y1], [x0, y1]]


# ---------------------------------------------------------------------------------------------
# Several parts: each point once


def server(query: Query, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Return the candidates a 2d index would send for the query: the points strictly inside
    its ring, less those within a hair of its edges (which MongoDB may count as outside)."""
    ring = shapely.Polygon(polygon_of(query))
    inside = shapely.contains_xy(ring, xs, ys)
    near_edge = shapely.distance(ring.exterior, shapely.points(xs, ys)) < 1e-9
    return np.flatnonzero(inside & ~near_edge)


def oracle(parts: list[list[list[list[float]]]], xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Return which points are inside by the rule, by shapely: on or in a part's outer ring and
    not on or in one of its holes."""
    inside = np.zeros(len(xs), dtype=bool)
    for rings in parts:
        covered = shapely.intersects_xy(shapely.Polygon(rings[0]), xs, ys)
        for hole in rings[1:]:
            covered &= ~shapely.intersects_xy(shapely.Polygon(hole), xs, ys)
        inside |= covered
    return inside


def test_each_point_of_a_multipolygon_is_kept_by_exactly_one_query() -> None:
    def square(x0: float, y0: float, side: float) -> list[list[float]]:
        return [[x0, y0], [x0 + side, y0], [x0 + side, y0 + side], [x0, y0 + side], [x0, y0]]

    spiky = (star(200, 6, inner=0.2) * 12 + [20, 20]).tolist()
    parts = [
        [square(0, 0, 10)],
        [square(10, 0, 10)],  # touches the first along x = 10
        [square(5, 5, 10)],  # overlaps both
        [square(0, 0, 10)],  # the first again
        [square(2, 2, 1)],  # inside the first
        [square(30, 30, 10)],  # away from the others
        [square(0, 20, 10), square(2, 22, 6)],  # with a hole...
        [square(4, 24, 2)],  # ...and a part inside the hole
        [spiky],  # a 200-vertex star over several of them
        [square(20, 10, 2)],  # touches the second at its corner (20, 10) only
    ]
    area = planar(parts)
    rng = np.random.default_rng(7)
    grid = np.mgrid[-2:43:0.5, -2:43:0.5].reshape(2, -1).T  # vertices, edges and corners exactly
    cloud = np.vstack([grid, rng.uniform(-2, 43, (40_000, 2))])
    xs, ys = cloud[:, 0], cloud[:, 1]
    docs = [{"id": i, "pt": [float(x), float(y)]} for i, (x, y) in enumerate(cloud.tolist())]

    queries = within_queries(area)
    assert len(queries) == len(parts)
    assert [q.parts.tolist() for q in queries] == [[k] for k in range(len(parts))]  # type: ignore[union-attr]
    assert queries[5].exclude is None  # nothing earlier near the far square
    assert queries[3].exclude.tolist() == [0, 1, 2]  # type: ignore[union-attr]
    assert 1 in queries[9].exclude.tolist()  # type: ignore[union-attr]
    times = np.zeros(len(cloud), dtype=np.int64)
    for query in queries:
        candidates = server(query, xs, ys)
        for doc in keep([docs[i] for i in candidates.tolist()], area, query):
            times[doc["id"]] += 1
    inside = oracle(parts, xs, ys)
    assert inside.sum() > 10_000 and (~inside).sum() > 10_000
    assert (times[inside] == 1).all()
    assert (times[~inside] == 0).all()


# ---------------------------------------------------------------------------------------------
# The 2d index's range


def test_index_specs() -> None:
    assert index_spec(GeometryKind.SPHERICAL, (-10, -10, 10, 10)) == ([("pt", "2dsphere")], {"name": "pt_2dsphere"})
    keys, options = index_spec(GeometryKind.PLANAR, (0.0, -5.0, 1000.0, 20.0))
    assert keys == [("pt", "2d")]
    assert options == {"name": "pt_2d", "min": pytest.approx(-6.005), "max": pytest.approx(1001.005)}
    assert index_spec(GeometryKind.PLANAR, None)[1] == {"name": "pt_2d", "min": -180.0, "max": 180.0}


@pytest.mark.parametrize(
    "bounds",
    [
        (0.0, 0.0, 0.0, 0.0),
        (5.0, 5.0, 5.0, 5.0),
        (1e10, 1e10, 1e10, 1e10),  # 1e-6 is below one float step here
        (-1e10, -1e10, -1e10, -1e10),
        (1e-300, 1e-300, 1e-300, 1e-300),
        (1e160, 1e160, 1e160, 1e160),
        (-1e149, 0.0, 1e149, 1.0),
        (0.0, 0.0, 1e150 * 0.999, 1.0),
        (1e10, 1e10, 1e10 + 1e-6, 1e10),
    ],
    ids=str,
)
def test_the_2d_range_holds_every_point_strictly(bounds: tuple[float, float, float, float]) -> None:
    _, options = index_spec(GeometryKind.PLANAR, bounds)
    low, high = options["min"], options["max"]
    assert type(low) is float and type(high) is float
    assert math.isfinite(low) and math.isfinite(high)
    assert low < min(bounds) and max(bounds) < high  # max is exclusive on the server
    assert 0 < high - low <= MAX_2D_RANGE
    # The server refuses a range whose cells' squared size overflows (GeoHashConverter).
    cell = (high - low) / 2**26
    assert math.isfinite(cell * cell * 2)


@pytest.mark.parametrize(
    "bounds",
    [
        (1e308, 1e308, 1e308, 1e308),  # one float step there is wider than any 2d index
        (-1e308, -1e308, 1e308, 1e308),  # hi - lo overflows
        (1.7976931348623157e308, 0.0, 1.7976931348623157e308, 0.0),
        (0.0, 0.0, 1e151, 1.0),
        (0.0, math.nan, 1.0, 1.0),
        (0.0, 0.0, math.inf, 1.0),
    ],
    ids=str,
)
def test_no_2d_range_for_coordinates_too_large(bounds: tuple[float, float, float, float]) -> None:
    with pytest.raises(StoreError, match=r"2d index"):
        index_spec(GeometryKind.PLANAR, bounds)


# ---------------------------------------------------------------------------------------------
# Documents in, documents out


def test_documents_are_the_stream_lines() -> None:
    batch = PointBatch(np.array([1, 2]), np.array([0.5, 1.5]), np.array([2.5, 3.5]), [{"a": 1}, {}])
    assert _documents(batch) == [{"id": 1, "pt": [0.5, 2.5], "a": 1}, {"id": 2, "pt": [1.5, 3.5]}]
    assert collection_name("grid") == "points.grid"


def test_arrow_batches_from_documents_as_the_server_sends_them() -> None:
    import bson

    from points import arrow
    from points.schema import PointSchema, records_batch

    batch = PointBatch(
        ["a", "b", "c"],
        np.array([0.5, 1.5, -2.0]),
        np.array([2.5, 3.5, 4.0]),
        [{"n": 2**40, "t": "x", "j": [1, "y"]}, {"n": -1, "j": {"k": None}}, {"n": 7, "t": None}],
    )
    schema = PointSchema()
    schema.observe(batch)
    point_schema = schema.final()
    arrow_schema = point_schema.arrow(dataset="d", geometry="planar")
    # What find_raw_batches returns: BSON documents back to back, without _id (projected out).
    raw = b"".join(bson.encode(doc) for doc in _documents(batch))
    docs = bson.decode_all(raw)
    assert type(docs[0]["n"]) is bson.int64.Int64  # big integers come back as Int64
    message = arrow.batch_message(records_batch(arrow_schema, point_schema, docs))
    [got] = arrow.read_batches(message, arrow_schema)
    assert got.to_pydict() == {
        "id": ["a", "b", "c"],
        "x": [0.5, 1.5, -2.0],
        "y": [2.5, 3.5, 4.0],
        "n": [2**40, -1, 7],
        "t": ["x", None, None],
        "j": ['[1,"y"]', '{"k":null}', None],
    }
