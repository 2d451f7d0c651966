"""Polygon parsing and validation, and the inside rule (points.geometry)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
import shapely
import spherely

from points.batches import BoolArray, FloatArray
from points.geometry import Area, BoxClasses, PolygonError, parse_area
from points.rules import GeometryKind

SQUARE: list[list[float]] = [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]


def poly(*rings: Sequence[Sequence[float]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": list(rings)}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "the request body is empty"),
        (b"   ", "the request body is empty"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "expected a GeoJSON object"),
        (b'"Polygon"', "expected a GeoJSON object"),
        (b'{"type": "Point", "coordinates": [1, 2]}', "got type 'Point'"),
        (b'{"type": "Feature", "geometry": null}', "the Feature's geometry must be"),
        (b'{"coordinates": []}', 'has no "type"'),
        (b'{"type": "Polygon", "coordinates": []}', "non-empty list of rings"),
        (
            b'{"type": "Polygon", "coordinates": [5]}',
            "coordinates[0] must be a list of [x, y] positions, got the number 5",
        ),
        (b'{"type": "Polygon", "coordinates": [[[0,0],[1,0],[0,0]]]}', "has 3 position(s); a ring needs at least 4"),
        (b'{"type": "Polygon", "coordinates": [[[0,0],[1,0],[1,1],[0,1]]]}', "is not closed"),
        (b'{"type": "Polygon", "coordinates": [[[0,0],[1,1],[1,0],[0,1],[0,0]]]}', "self-intersection at [0.5, 0.5]"),
        (
            b'{"type": "Polygon", "coordinates": [[[0,0],["1",0],[1,1],[0,0]]]}',
            "coordinates[0][1][0] must be a number, got the string '1'",
        ),
        (b'{"type": "Polygon", "coordinates": [[[0,0],[true,0],[1,1],[0,0]]]}', "must be a number, got true"),
        (b'{"type": "Polygon", "coordinates": [[[0,0],[null,0],[1,1],[0,0]]]}', "must be a number, got null"),
        (b'{"type": "Polygon", "coordinates": [[[0,0],[1,0,5],[1,1],[0,0]]]}', "exactly 2 numbers, got 3 numbers"),
        (b'{"type": "Polygon", "coordinates": [[[0,0],[1e999,0],[1,1],[0,0]]]}', "not valid JSON"),
        (b'{"type": "Polygon", "coordinates": [[[0,0],[NaN,0],[1,1],[0,0]]]}', "not valid JSON"),
        (
            b'{"type": "Polygon", "coordinates": [[[0,0],[{"$gt": 1},0],[1,1],[0,0]]]}',
            "must be a number, got an object",
        ),
        (b'{"type": "Polygon", "coordinates": [[[0,0],[2,0],[4,0],[0,0]]]}', "has no area"),
        (
            b'{"type": "Polygon", "coordinates": [[[0,0],[9,0],[9,9],[0,9],[0,0]], [[20,20],[21,20],[21,21],[20,20]]]}',
            "hole lies outside shell",
        ),
        (b'{"type": "MultiPolygon", "coordinates": []}', "non-empty list of polygons"),
        (b'{"$where": "sleep(1000)"}', 'has no "type"'),
        (b"[" * 10_000 + b"]" * 10_000, "not valid JSON"),
    ],
)
def test_bad_bodies_are_refused_with_a_specific_message(body: bytes, message: str) -> None:
    with pytest.raises(PolygonError) as caught:
        parse_area(body, kind=GeometryKind.PLANAR)
    assert message in str(caught.value)


def test_too_many_vertices_is_refused() -> None:
    ring = [[float(np.cos(t)), float(np.sin(t))] for t in np.linspace(0, 6.28, 200)]
    ring.append(ring[0])
    with pytest.raises(PolygonError, match="more than 100 vertices"):
        parse_area(poly(ring), kind=GeometryKind.PLANAR, max_vertices=100)
    assert parse_area(poly(ring), kind=GeometryKind.PLANAR, max_vertices=201).vertex_count == 201


@pytest.mark.parametrize("position", [[181, 0], [-180.5, 0], [0, 90.1], [0, -91]])
def test_spherical_coordinates_out_of_range(position: list[float]) -> None:
    with pytest.raises(PolygonError, match="out of range"):
        parse_area(poly([[0, 0], [1, 1], position, [0, 0]]), kind=GeometryKind.SPHERICAL)
    # The same numbers are fine on a plane.
    parse_area(poly([[0, 0], [1, 1], position, [0, 0]]), kind=GeometryKind.PLANAR)


def test_spherical_polygon_larger_than_a_hemisphere_is_refused() -> None:
    ring = [[-170, 0], [-50, 0], [70, 0], [-170, 0]]  # three points around the equator
    with pytest.raises(PolygonError, match="must fit in a hemisphere"):
        parse_area(poly(ring), kind=GeometryKind.SPHERICAL)
    # Split into parts, it is accepted.
    parse_area(
        {"type": "MultiPolygon", "coordinates": [[[[0, 0], [60, 0], [30, 40], [0, 0]]]]}, kind=GeometryKind.SPHERICAL
    )


def test_feature_wrapping_and_multipolygon_are_accepted() -> None:
    area = parse_area({"type": "Feature", "properties": {}, "geometry": poly(SQUARE)}, kind=GeometryKind.PLANAR)
    assert len(area.parts) == 1
    multi = parse_area(
        {"type": "MultiPolygon", "coordinates": [[SQUARE], [[[20, 20], [30, 20], [30, 30], [20, 20]]]]},
        kind=GeometryKind.PLANAR,
    )
    assert len(multi.parts) == 2
    assert multi.to_geojson()["coordinates"][0][0] == SQUARE


def test_boundary_rule_outer_ring_in_hole_ring_out() -> None:
    hole = [[2, 2], [8, 2], [8, 8], [2, 8], [2, 2]]
    area = parse_area(poly(SQUARE, hole), kind=GeometryKind.PLANAR)
    xs = np.array([0.0, 10.0, 5.0, 1.0, 2.0, 5.0, 2.0, 11.0])
    ys = np.array([0.0, 5.0, 0.0, 1.0, 2.0, 5.0, 5.0, 5.0])
    assert area.contains_xy(xs, ys).tolist() == [True, True, True, True, False, False, False, False]


# ---------------------------------------------------------------------------------------------
# Box classification (Area.classify_boxes): the contract is BoxClasses'. "all_in" and "neither"
# must be right for every point of a box; "maybe" is always safe, so the tests below also ask
# that it is given only where it is needed: a classifier that said "maybe" to every box would
# send every block's points to the point test, and fail here.


def grid_boxes(x0: float, y0: float, x1: float, y1: float, sizes: list[float]) -> FloatArray:
    """Return (n, 4) boxes (min_x, min_y, max_x, max_y) of each size, overlapping, tiling the
    region; the odd offset keeps their sides off the polygons' edges and vertices."""
    boxes = []
    for size in sizes:
        gx, gy = np.meshgrid(
            np.arange(x0 + 0.0123, x1 - size, size * 0.77), np.arange(y0 + 0.021, y1 - size, size * 0.61)
        )
        lo = np.column_stack([gx.ravel(), gy.ravel()])
        boxes.append(np.hstack([lo, lo + size]))
    return np.vstack(boxes)


def assert_classes(
    area: Area, boxes: FloatArray, inside: BoolArray, outside: BoolArray, crossing: BoolArray
) -> BoxClasses:
    """Assert the classes of the boxes whose answer is known: `inside` ones all_in, `outside`
    ones neither, `crossing` ones (points in and out) maybe; and that each kind is well represented."""
    classes = area.classify_boxes(boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3])
    neither = ~classes.all_in & ~classes.maybe
    assert not (classes.all_in & classes.maybe).any()  # one class a box
    assert inside.sum() > 200 and outside.sum() > 200 and crossing.sum() > 200  # the test tests something
    assert classes.all_in[inside].all(), boxes[inside & ~classes.all_in][:5]
    assert neither[outside].all(), boxes[outside & ~neither][:5]
    assert classes.maybe[crossing].all(), boxes[crossing & ~classes.maybe][:5]
    return classes


# A concave part with a hole; a square; a square with a hole sharing the square's side x = 30.
PLANAR_PARTS = [
    [[[0, 0], [10, 0], [10, 10], [5, 4], [0, 10], [0, 0]], [[2, 1], [4, 1], [3, 2], [2, 1]]],
    [[[20, 0], [30, 0], [30, 10], [20, 10], [20, 0]]],
    [[[30, 0], [40, 0], [40, 10], [30, 10], [30, 0]], [[33, 3], [37, 3], [37, 7], [33, 7], [33, 3]]],
]


def test_planar_boxes_get_their_exact_class() -> None:
    """Planar outlines are the boxes themselves, so every box's class is exact, by shapely: in
    one part (holes left out) all_in, touching none neither, across an edge of the area maybe.
    A box across the side two parts share is inside but in neither part alone: all_in, or
    "maybe" (the conservative answer BoxClasses allows), never "neither"."""
    area = parse_area({"type": "MultiPolygon", "coordinates": PLANAR_PARTS}, kind=GeometryKind.PLANAR)
    parts = [shapely.Polygon(p[0], p[1:]) for p in PLANAR_PARTS]
    union = shapely.union_all(parts)
    boxes = grid_boxes(-3, -3, 43, 13, [0.3, 1.1, 2.7])
    outlines = shapely.box(boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3])
    inside = np.any([shapely.covers(p, outlines) for p in parts], axis=0)
    outside = np.all([shapely.disjoint(p, outlines) for p in parts], axis=0)
    crossing = shapely.intersects(union, outlines) & ~shapely.covers(union, outlines)
    shared = ~inside & ~outside & ~crossing  # inside the area, across x = 30
    assert shared.sum() > 20 and (boxes[shared, 0] < 30).all() and (boxes[shared, 2] > 30).all()
    classes = assert_classes(area, boxes, inside, outside, crossing)
    assert (classes.all_in | classes.maybe)[shared].all()
    # A box that is a single point (a block of one point) is classified as the point is.
    xs, ys = np.array([5.0, 3.0, 25.0, 35.0, 30.0, 50.0]), np.array([2.0, 1.5, 5.0, 5.0, 5.0, 50.0])
    points = area.classify_boxes(xs, ys, xs, ys)
    assert points.all_in.tolist() == area.contains_xy(xs, ys).tolist() == [True, False, True, False, True, False]
    assert not points.maybe.any()


def lonlat_box(x0: float, y0: float, x1: float, y1: float, steps: int = 32) -> spherely.Geography:
    """Return the lon/lat box as an S2 polygon, its sides along parallels traced in `steps`
    short geodesic steps (each strays from its parallel by under a thousandth of a degree here)."""
    t = np.linspace(0.0, 1.0, steps, endpoint=False)
    lon = np.concatenate([x0 + (x1 - x0) * t, np.full(steps, x1), x1 - (x1 - x0) * t, np.full(steps, x0)])
    lat = np.concatenate([np.full(steps, y0), y0 + (y1 - y0) * t, np.full(steps, y1), y1 - (y1 - y0) * t])
    return spherely.create_polygon(np.column_stack([lon, lat]).tolist())


# Across the antimeridian; a square with a hole; a cap around the north pole (above latitude 75).
SPHERICAL_PARTS = [
    [[[150, -20], [-150, -25], [-140, 30], [170, 40], [150, -20]]],
    [[[0, 40], [40, 40], [40, 70], [0, 70], [0, 40]], [[15, 50], [25, 50], [25, 60], [15, 60], [15, 50]]],
    [[*([lon, 75] for lon in range(-180, 180, 45)), [-180, 75]]],
]


def test_spherical_boxes_get_their_class_when_clear_of_the_edges() -> None:
    """Spherical outlines are grown a little (their sides along parallels are no geodesics), so a
    box within a hair of an edge may be "maybe"; but a box half a degree inside a part (more
    than the growth for boxes up to 10 degrees) is all_in, one half a degree clear of every part
    is neither, and one with points in and out is maybe. The oracle is S2 (spherely)."""
    area = parse_area({"type": "MultiPolygon", "coordinates": SPHERICAL_PARTS}, kind=GeometryKind.SPHERICAL)
    parts = [spherely.create_polygon(p[0][:-1], holes=[h[:-1] for h in p[1:]]) for p in SPHERICAL_PARTS]
    boxes = np.vstack(
        [
            grid_boxes(140, -30, 180, 45, [2.3, 5.3]),
            grid_boxes(-180, -30, -135, 45, [2.3, 5.3]),
            grid_boxes(-5, 35, 45, 75, [2.3, 5.3]),
            grid_boxes(-180, 70, 180, 90, [4.1, 9.7]),
            grid_boxes(-180, -90, 180, 90, [9.7]),
            [[lon, 85.0, lon + 10, 90.0] for lon in range(-180, 180, 10)],  # up to the pole
        ]
    )
    m = 0.5
    grown = np.array(
        [lonlat_box(max(x0 - m, -180), max(y0 - m, -90), min(x1 + m, 180), min(y1 + m, 90)) for x0, y0, x1, y1 in boxes]
    )
    inside = np.any([spherely.covers(p, grown) for p in parts], axis=0)
    outside = np.all([spherely.disjoint(p, grown) for p in parts], axis=0)
    rng = np.random.default_rng(4)
    lon = rng.uniform(boxes[:, 0, None], boxes[:, 2, None], (len(boxes), 64))
    lat = rng.uniform(boxes[:, 1, None], boxes[:, 3, None], (len(boxes), 64))
    points = spherely.points(lon.ravel(), lat.ravel())
    covered = np.any([spherely.covers(p, points) for p in parts], axis=0).reshape(lon.shape)
    crossing = covered.any(axis=1) & ~covered.all(axis=1)
    assert inside[-36:].sum() == 36  # every box up to the pole is in the cap
    classes = assert_classes(area, boxes, inside, outside, crossing)
    # Near the edges "maybe" is allowed, but most boxes whose points all fell inside are all_in.
    assert classes.all_in[covered.all(axis=1)].mean() > 0.9


def test_classify_boxes_agrees_with_the_point_test() -> None:
    rng = np.random.default_rng(0)
    area = parse_area(
        poly([[0, 0], [10, 0], [10, 10], [5, 4], [0, 10], [0, 0]], [[2, 1], [4, 1], [3, 2], [2, 1]]),
        kind=GeometryKind.PLANAR,
    )
    lo = rng.uniform(-2, 12, (500, 2))
    hi = lo + rng.uniform(0, 3, (500, 2))
    classes = area.classify_boxes(lo[:, 0], lo[:, 1], hi[:, 0], hi[:, 1])
    seen = np.zeros((500, 2), dtype=bool)  # whether some of the box's sampled points are (in, out)
    for i in range(500):
        inside = area.contains_xy(rng.uniform(lo[i, 0], hi[i, 0], 200), rng.uniform(lo[i, 1], hi[i, 1], 200))
        seen[i] = inside.any(), not inside.all()
    assert not (classes.all_in & seen[:, 1]).any()  # an all_in box has no point outside
    assert not (~classes.all_in & ~classes.maybe & seen[:, 0]).any()  # a "neither" box none inside
    # And "maybe" is not said for (nearly) everything: most boxes seen wholly in or out are told so.
    assert classes.all_in[~seen[:, 1]].mean() > 0.9 and (~classes.maybe)[~seen[:, 0]].mean() > 0.9


def test_spherical_classify_boxes_is_conservative() -> None:
    rng = np.random.default_rng(1)
    ring = [[150, -20], [-150, -25], [-140, 30], [170, 40], [150, -20]]
    area = parse_area(poly(ring), kind=GeometryKind.SPHERICAL)
    lo = np.column_stack([rng.uniform(-180, 170, 800), rng.uniform(-90, 80, 800)])
    hi = np.minimum(lo + rng.uniform(0, 12, (800, 2)), [180, 90])
    classes = area.classify_boxes(lo[:, 0], lo[:, 1], hi[:, 0], hi[:, 1])
    seen = np.zeros((800, 2), dtype=bool)  # whether some of the box's sampled points are (in, out)
    for i in range(800):
        inside = area.contains_xy(rng.uniform(lo[i, 0], hi[i, 0], 100), rng.uniform(lo[i, 1], hi[i, 1], 100))
        seen[i] = inside.any(), not inside.all()
    assert not (classes.all_in & seen[:, 1]).any()  # an all_in box has no point outside
    assert not (~classes.all_in & ~classes.maybe & seen[:, 0]).any()  # a "neither" box none inside
    assert (~seen[:, 1]).sum() > 10 and (seen[:, 0] & seen[:, 1]).sum() > 10
    assert classes.all_in[~seen[:, 1]].mean() > 0.9 and (~classes.maybe)[~seen[:, 0]].mean() > 0.9


def test_gnomonic_test_matches_s2_on_random_polygons() -> None:
    rng = np.random.default_rng(11)
    lon = rng.uniform(-180, 180, 100_000)
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, 100_000)))
    points = spherely.points(lon, lat)
    for _ in range(15):
        # Vertices at sorted angles around a centre: rings that do not cross themselves, so
        # parse_area must accept every one.
        cx, cy, r = rng.uniform(-180, 180), rng.uniform(-70, 70), rng.uniform(2, 50)
        angles = np.sort(rng.uniform(0, 2 * np.pi, 9))
        ring = np.column_stack([cx + r * np.cos(angles), np.clip(cy + r * 0.6 * np.sin(angles), -89, 89)])
        ring[:, 0] = (ring[:, 0] + 180) % 360 - 180
        ring = np.vstack([ring, ring[:1]])
        area = parse_area(poly(ring.tolist()), kind=GeometryKind.SPHERICAL)
        expected = spherely.covers(spherely.create_polygon(ring[:-1].tolist()), points)
        assert expected.any()
        assert (area.contains_xy(lon, lat) == expected).all()


def test_planar_test_matches_shapely_covers() -> None:
    rng = np.random.default_rng(2)
    shell = shapely.Polygon([(0, 0), (10, 0), (10, 10), (5, 4), (0, 10)])
    area = parse_area(poly([list(c) for c in shell.exterior.coords]), kind=GeometryKind.PLANAR)
    xs, ys = rng.uniform(-1, 11, 5000), rng.uniform(-1, 11, 5000)
    expected = [shell.covers(shapely.Point(x, y)) for x, y in zip(xs, ys, strict=True)]
    assert area.contains_xy(xs, ys).tolist() == expected


def test_spherical_boxes_are_classified_safely_on_their_sides_along_parallels() -> None:
    """A box's side along a parallel is not a great circle: small polygons hugging it from outside
    must still see the box as touched (the case a box outline traced by geodesic steps misses)."""
    for lat0, lat1, outside in ((45.0, 46.0, -1), (-46.0, -45.0, 1), (10.0, 10.5, -1), (70.0, 71.0, -1)):
        edge = lat0 if outside < 0 else lat1  # the side nearer the equator
        lo, hi = np.array([0.0, lat0]), np.array([90.0, lat1])
        for lon in np.arange(0.5, 89.0, 1.5):
            ring = [
                [lon, edge + outside * 0.2],
                [lon + 1, edge + outside * 0.2],
                [lon + 1, edge - outside * 0.05],
                [lon, edge - outside * 0.05],
                [lon, edge + outside * 0.2],
            ]
            area = parse_area(poly(ring), kind=GeometryKind.SPHERICAL)
            classes = area.classify_boxes(lo[:1], lo[1:], hi[:1], hi[1:])
            xs = np.linspace(lon + 0.1, lon + 0.9, 9)
            assert area.contains_xy(xs, np.full(9, edge)).all()  # points on the box's side are inside
            # The box holds points in the polygon and (most of it) points outside: only "maybe" is right.
            assert classes.maybe[0] and not classes.all_in[0], (lat0, lon)
