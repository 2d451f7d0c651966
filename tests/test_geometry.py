"""Polygon parsing and validation, and the inside rule (points.geometry)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
import spherely

from points.geometry import PolygonError, parse_area

SQUARE = [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]


def poly(*rings: list[list[float]]) -> dict:
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
        parse_area(body, kind="planar")
    assert message in str(caught.value)


def test_too_many_vertices_is_refused() -> None:
    ring = [[float(np.cos(t)), float(np.sin(t))] for t in np.linspace(0, 6.28, 200)]
    ring.append(ring[0])
    with pytest.raises(PolygonError, match="more than 100 vertices"):
        parse_area(poly(ring), kind="planar", max_vertices=100)
    assert parse_area(poly(ring), kind="planar", max_vertices=201).vertex_count == 201


@pytest.mark.parametrize("position", [[181, 0], [-180.5, 0], [0, 90.1], [0, -91]])
def test_spherical_coordinates_out_of_range(position: list[float]) -> None:
    with pytest.raises(PolygonError, match="out of range"):
        parse_area(poly([[0, 0], [1, 1], position, [0, 0]]), kind="spherical")
    # The same numbers are fine on a plane.
    parse_area(poly([[0, 0], [1, 1], position, [0, 0]]), kind="planar")


def test_spherical_polygon_larger_than_a_hemisphere_is_refused() -> None:
    ring = [[-170, 0], [-50, 0], [70, 0], [-170, 0]]  # three points around the equator
    with pytest.raises(PolygonError, match="must fit in a hemisphere"):
        parse_area(poly(ring), kind="spherical")
    # Split into parts, it is accepted.
    parse_area({"type": "MultiPolygon", "coordinates": [[[[0, 0], [60, 0], [30, 40], [0, 0]]]]}, kind="spherical")


def test_feature_wrapping_and_multipolygon_are_accepted() -> None:
    area = parse_area({"type": "Feature", "properties": {}, "geometry": poly(SQUARE)}, kind="planar")
    assert len(area.parts) == 1
    multi = parse_area(
        {"type": "MultiPolygon", "coordinates": [[SQUARE], [[[20, 20], [30, 20], [30, 30], [20, 20]]]]}, kind="planar"
    )
    assert len(multi.parts) == 2
    assert multi.to_geojson()["coordinates"][0][0] == SQUARE


def test_boundary_rule_outer_ring_in_hole_ring_out() -> None:
    hole = [[2, 2], [8, 2], [8, 8], [2, 8], [2, 2]]
    area = parse_area(poly(SQUARE, hole), kind="planar")
    xs = np.array([0.0, 10.0, 5.0, 1.0, 2.0, 5.0, 2.0, 11.0])
    ys = np.array([0.0, 5.0, 0.0, 1.0, 2.0, 5.0, 5.0, 5.0])
    assert area.contains_xy(xs, ys).tolist() == [True, True, True, True, False, False, False, False]


def test_classify_boxes_agrees_with_the_point_test() -> None:
    rng = np.random.default_rng(0)
    area = parse_area(
        poly([[0, 0], [10, 0], [10, 10], [5, 4], [0, 10], [0, 0]], [[2, 1], [4, 1], [3, 2], [2, 1]]), kind="planar"
    )
    lo = rng.uniform(-2, 12, (500, 2))
    hi = lo + rng.uniform(0, 3, (500, 2))
    classes = area.classify_boxes(lo[:, 0], lo[:, 1], hi[:, 0], hi[:, 1])
    all_in, maybe = classes.all_in, classes.maybe
    for i in range(500):
        xs = rng.uniform(lo[i, 0], hi[i, 0], 200)
        ys = rng.uniform(lo[i, 1], hi[i, 1], 200)
        inside = area.contains_xy(xs, ys)
        if all_in[i]:
            assert inside.all()
        elif not maybe[i]:
            assert not inside.any()


def test_spherical_classify_boxes_is_conservative() -> None:
    rng = np.random.default_rng(1)
    ring = [[150, -20], [-150, -25], [-140, 30], [170, 40], [150, -20]]
    area = parse_area(poly(ring), kind="spherical")
    lo = np.column_stack([rng.uniform(-180, 170, 800), rng.uniform(-90, 80, 800)])
    hi = np.minimum(lo + rng.uniform(0, 12, (800, 2)), [180, 90])
    classes = area.classify_boxes(lo[:, 0], lo[:, 1], hi[:, 0], hi[:, 1])
    all_in, maybe = classes.all_in, classes.maybe
    assert all_in.any() and maybe.any()
    for i in range(800):
        xs = rng.uniform(lo[i, 0], hi[i, 0], 100)
        ys = rng.uniform(lo[i, 1], hi[i, 1], 100)
        inside = area.contains_xy(xs, ys)
        if all_in[i]:
            assert inside.all()
        elif not maybe[i]:
            assert not inside.any()


def test_gnomonic_test_matches_s2_on_random_polygons() -> None:
    rng = np.random.default_rng(11)
    lon = rng.uniform(-180, 180, 100_000)
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, 100_000)))
    points = spherely.points(lon, lat)
    for _ in range(15):
        cx, cy, r = rng.uniform(-180, 180), rng.uniform(-70, 70), rng.uniform(2, 50)
        angles = np.sort(rng.uniform(0, 2 * np.pi, 9))
        ring = np.column_stack([cx + r * np.cos(angles), np.clip(cy + r * 0.6 * np.sin(angles), -89, 89)])
        ring[:, 0] = (ring[:, 0] + 180) % 360 - 180
        ring = np.vstack([ring, ring[:1]])
        try:
            area = parse_area(poly(ring.tolist()), kind="spherical")
        except PolygonError:
            continue  # a random ring may cross itself
        expected = spherely.covers(spherely.create_polygon(ring[:-1].tolist()), points)
        assert (area.contains_xy(lon, lat) == expected).all()


def test_planar_test_matches_shapely_covers() -> None:
    rng = np.random.default_rng(2)
    shell = shapely.Polygon([(0, 0), (10, 0), (10, 10), (5, 4), (0, 10)])
    area = parse_area(poly([list(c) for c in shell.exterior.coords]), kind="planar")
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
            area = parse_area(poly(ring), kind="spherical")
            classes = area.classify_boxes(lo[:1], lo[1:], hi[:1], hi[1:])
            all_in, maybe = classes.all_in, classes.maybe
            xs = np.linspace(lon + 0.1, lon + 0.9, 9)
            assert area.contains_xy(xs, np.full(9, edge)).all()  # points on the box's side are inside
            assert maybe[0] or all_in[0], (lat0, lon)
