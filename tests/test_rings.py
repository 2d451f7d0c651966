"""Shape-independent point tests (points.rings, the part index of points.geometry) against the
shapely and spherely oracles: stars, random walks, many-part MultiPolygons, and points exactly
on vertices, on edges and on the boxes of the groups the test works in."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
import spherely

from bench import shapes
from points import rings
from points.geometry import parse_area
from points.rings import Ring
from points.rules import GeometryKind
from points.stores.embedded.zorder import morton


def zordered(xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the points in Z-order, as the embedded store's blocks hold them."""
    order = np.argsort(morton(xs, ys, (float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max()))))
    return xs[order], ys[order]


def on_the_ring(ring: np.ndarray, box: tuple[float, float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Return the ring's vertices in the box, and points on its edges there (midpoints, and
    points a third of the way, most of them not exactly on the edge in floating point)."""
    x0, y0, x1, y1 = box
    near = np.flatnonzero((ring[:-1, 0] >= x0) & (ring[:-1, 0] <= x1) & (ring[:-1, 1] >= y0) & (ring[:-1, 1] <= y1))
    a, b = ring[near], ring[near + 1]
    points = np.concatenate([a, (a + b) / 2, a + (b - a) / 3])
    return points[:, 0], points[:, 1]


@pytest.mark.parametrize("shape", ["star", "walk", "circle"])
@pytest.mark.parametrize("reverse", [False, True], ids=["ccw", "cw"])
def test_ring_test_matches_geos_on_hard_shapes(shape: str, reverse: bool) -> None:
    ring = np.array(shapes.planar(shape)["coordinates"][0])
    tested = Ring(ring[::-1] if reverse else ring)
    rng = np.random.default_rng(3)
    used = {"grouped": 0}
    for trial in range(150):
        w, h = rng.uniform(0.01, 90, 2)
        # Boxes near the ring (most of them crossed by it), now and then anywhere.
        x0, y0 = ring[rng.integers(len(ring))] - rng.uniform(0, 1, 2) * (w, h) if trial % 5 else rng.uniform(0, 900, 2)
        xs, ys = rng.uniform(x0, x0 + w, 3000), rng.uniform(y0, y0 + h, 3000)
        vx, vy = on_the_ring(ring, (x0, y0, x0 + w, y0 + h))
        xs, ys = np.concatenate([xs, vx]), np.concatenate([ys, vy])
        if trial % 2:
            xs, ys = zordered(xs, ys)
        got = tested.covers_xy(xs, ys)
        assert (got == shapely.intersects_xy(tested.polygon, xs, ys)).all(), trial
        a, b = ring[:-1], ring[1:]
        used["grouped"] += bool(
            (
                (np.maximum(a[:, 0], b[:, 0]) >= xs.min())
                & (np.minimum(a[:, 0], b[:, 0]) <= xs.max())
                & (np.maximum(a[:, 1], b[:, 1]) >= ys.min())
                & (np.minimum(a[:, 1], b[:, 1]) <= ys.max())
            ).any()
        )
    assert used["grouped"] > 100  # most boxes had edges near them: the grouped path ran


def test_points_on_axis_aligned_edges_and_on_group_boxes() -> None:
    """A grid of points and a staircase polygon along the grid lines: thousands of points lie
    exactly on edges and vertices, and every group box has points on its sides."""
    steps = [(0.0, 0.0)]
    x = y = 0.0
    for _ in range(60):
        x += 1.0
        steps.append((x, y))
        y += 1.0
        steps.append((x, y))
    ring = np.array([*steps, (0.0, y), (0.0, 0.0)])
    tested = Ring(ring)
    gx, gy = np.meshgrid(np.arange(-2.0, 63.0, 0.5), np.arange(-2.0, 63.0, 0.5))
    xs, ys = zordered(gx.ravel(), gy.ravel())
    got = tested.covers_xy(xs, ys)
    assert (got == shapely.intersects_xy(tested.polygon, xs, ys)).all()
    on_edges = shapely.intersects_xy(tested.polygon.exterior, xs, ys)
    assert on_edges.sum() > 400 and got[on_edges].all()


def test_spread_out_points_go_to_geos_whole() -> None:
    ring = np.array(shapes.planar("star")["coordinates"][0])
    tested = Ring(ring)
    rng = np.random.default_rng(5)
    xs, ys = rng.uniform(0, 1000, 20_000), rng.uniform(0, 1000, 20_000)  # no locality at all
    assert (tested.covers_xy(xs, ys) == shapely.intersects_xy(tested.polygon, xs, ys)).all()


def test_doubtful_signs_are_decided_by_geos(monkeypatch: pytest.MonkeyPatch) -> None:
    """With an error bound so large that every sign is in doubt, every point goes to GEOS and the
    answer is the same: the bound only ever decides who answers, never the answer."""
    ring = np.array(shapes.planar("star")["coordinates"][0])
    tested = Ring(ring)
    xs, ys = zordered(*np.random.default_rng(6).uniform(600, 700, (2, 5000)))
    expected = shapely.intersects_xy(tested.polygon, xs, ys)
    monkeypatch.setattr(rings, "ROUNDING", 1e300)
    assert (tested.covers_xy(xs, ys) == expected).all()


def test_multipolygon_of_many_parts_with_holes_matches_shapely() -> None:
    rng = np.random.default_rng(7)
    parts = []
    for cx, cy in rng.uniform(0, 100, (300, 2)):
        r = rng.uniform(0.5, 3)
        t = np.linspace(0, 2 * np.pi, 60, endpoint=False)
        shell = np.column_stack([cx + r * np.cos(t), cy + r * np.sin(t)])
        hole = np.column_stack([cx + r / 3 * np.cos(t), cy + r / 3 * np.sin(-t)])
        parts.append([[*shell.tolist(), shell[0].tolist()], [*hole.tolist(), hole[0].tolist()]])
    doc = {"type": "MultiPolygon", "coordinates": parts}
    area = parse_area(doc, kind=GeometryKind.PLANAR, max_vertices=50_000)
    xs, ys = rng.uniform(-5, 105, 100_000), rng.uniform(-5, 105, 100_000)
    # The oracle: in a shell (closed) and not inside or on its hole, for some part.
    oracle = np.zeros(len(xs), dtype=bool)
    for p in parts:
        inside = shapely.intersects_xy(shapely.Polygon(p[0]), xs, ys) & ~shapely.intersects_xy(
            shapely.Polygon(p[1]), xs, ys
        )
        oracle |= inside
    assert (area.contains_xy(xs, ys) == oracle).all()  # the part index, for points anywhere
    zx, zy = zordered(xs, ys)
    order_oracle = np.zeros(len(xs), dtype=bool)
    for p in parts:
        order_oracle |= shapely.intersects_xy(shapely.Polygon(p[0]), zx, zy) & ~shapely.intersects_xy(
            shapely.Polygon(p[1]), zx, zy
        )
    # The box classification and the per-box parts, as the embedded store uses them.
    blocks = np.arange(0, len(zx), 4096)
    lo_x, hi_x = np.minimum.reduceat(zx, blocks), np.maximum.reduceat(zx, blocks)
    lo_y, hi_y = np.minimum.reduceat(zy, blocks), np.maximum.reduceat(zy, blocks)
    classes = area.classify_boxes(lo_x, lo_y, hi_x, hi_y)
    got = np.zeros(len(zx), dtype=bool)
    for i, start in enumerate(blocks.tolist()):
        stop = start + 4096
        if classes.all_in[i]:
            got[start:stop] = True
        elif classes.maybe[i]:
            assert len(classes.parts(i)) < 100  # only the parts near the box (of 300)
            got[start:stop] = area.contains_xy(zx[start:stop], zy[start:stop], classes.parts(i))
    assert (got == order_oracle).all()


@pytest.mark.parametrize("shape", ["star", "walk", "squares"])
def test_spherical_shapes_match_s2(shape: str) -> None:
    doc = shapes.spherical(shape)
    area = parse_area(doc, kind=GeometryKind.SPHERICAL)
    rng = np.random.default_rng(8)
    lon = rng.uniform(-180, 180, 200_000)
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, 200_000)))
    lon, lat = zordered(lon, lat)
    polygons = [p[0] for p in doc["coordinates"]] if doc["type"] == "MultiPolygon" else [doc["coordinates"][0]]
    expected = np.zeros(len(lon), dtype=bool)
    for ring in polygons:
        near = np.arange(len(lon))
        if len(polygons) > 1:  # small squares away from the antimeridian: S2 for the points near each
            corners = np.array(ring)
            lo, hi = corners.min(axis=0) - 1, corners.max(axis=0) + 1
            near = np.flatnonzero((lon >= lo[0]) & (lon <= hi[0]) & (lat >= lo[1]) & (lat <= hi[1]))
        expected[near] |= spherely.covers(spherely.create_polygon(ring[:-1]), spherely.points(lon[near], lat[near]))
    got = np.concatenate([area.contains_xy(lon[s : s + 4096], lat[s : s + 4096]) for s in range(0, len(lon), 4096)])
    assert (got == expected).all()
    assert got.sum() > 1000


def test_spherical_part_envelopes_hold_their_polygons() -> None:
    """A part's lon/lat envelope (its cap's box, split at the antimeridian) holds all its points:
    a point outside every envelope of a part is never inside it."""
    rng = np.random.default_rng(9)
    lon = rng.uniform(-180, 180, 100_000)
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, 100_000)))
    for center in ((179.0, 10.0), (-179.5, -30.0), (0.0, 85.0), (40.0, -88.0), (100.0, 0.0)):
        t = np.linspace(0, 2 * np.pi, 40, endpoint=False)
        ring = np.column_stack([center[0] + 8 * np.cos(t), np.clip(center[1] + 6 * np.sin(t), -89.9, 89.9)])
        ring[:, 0] = (ring[:, 0] + 180) % 360 - 180
        doc = {"type": "Polygon", "coordinates": [[*ring.tolist(), ring[0].tolist()]]}
        area = parse_area(doc, kind=GeometryKind.SPHERICAL)
        test = area._tests[0]
        inside = test.contains_xy(lon, lat)
        assert inside.any()
        assert not (inside & ~test.near(lon, lat)).any(), center
