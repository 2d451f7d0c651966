"""Property-based tests (hypothesis): the polygon parser and the NDJSON writer/reader."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from points.batches import Chunk
from points.geometry import Area, PolygonError, parse_area
from points.ndjson import encode_points, iter_records
from points.rules import RESERVED_PROPERTIES, GeometryKind
from points.streams import frame_stream

coordinate = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False, allow_infinity=False)


@st.composite
def star_polygons(draw: st.DrawFn, spherical: bool = False) -> list[list[float]]:
    """A simple polygon: vertices at increasing angles around a centre (never self-crossing)."""
    n = draw(st.integers(3, 40))
    if spherical:
        cx, cy = draw(st.floats(-150, 150)), draw(st.floats(-60, 60))
        scale = draw(st.floats(0.01, 20))
    else:
        cx, cy, scale = draw(coordinate), draw(coordinate), draw(st.floats(1e-3, 1e4))
    angles = sorted(set(draw(st.lists(st.floats(0, 2 * math.pi, exclude_max=True), min_size=n, max_size=n))))
    if (
        len(angles) < 3
        or max(b - a for a, b in zip(angles, [*angles[1:], angles[0] + 2 * math.pi], strict=True)) >= math.pi
    ):
        angles = [2 * math.pi * i / n for i in range(n)]
    radii = draw(st.lists(st.floats(0.3, 1.0), min_size=len(angles), max_size=len(angles)))
    ring = [[cx + scale * r * math.cos(a), cy + scale * r * math.sin(a)] for a, r in zip(angles, radii, strict=True)]
    ring.append(list(ring[0]))
    return ring


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(star_polygons(), min_size=1, max_size=4))
def test_any_valid_planar_area_round_trips(rings: list[list[list[float]]]) -> None:
    geojson = {"type": "MultiPolygon", "coordinates": [[r] for r in rings]}
    try:
        area = parse_area(geojson, kind=GeometryKind.PLANAR)
    except PolygonError as exc:
        # Only a degenerate star (vertices rounding onto each other) may be refused.
        assert "not a valid polygon" in str(exc) or "no area" in str(exc)
        return
    again = parse_area(area.to_geojson(), kind=GeometryKind.PLANAR)
    assert len(again.parts) == len(rings)
    for a, b in zip(area.parts, again.parts, strict=True):
        assert np.array_equal(a.shell, b.shell)
    # Every vertex is on the boundary, and boundaries are inside.
    shell = area.parts[0].shell
    assert area.contains_xy(shell[:, 0], shell[:, 1]).all()


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(star_polygons(spherical=True))
def test_any_small_spherical_polygon_round_trips(ring: list[list[float]]) -> None:
    try:
        area = parse_area({"type": "Polygon", "coordinates": [ring]}, kind=GeometryKind.SPHERICAL)
    except PolygonError as exc:
        assert "not a valid polygon" in str(exc) or "no area" in str(exc)
        return
    assert isinstance(parse_area(area.to_geojson(), kind=GeometryKind.SPHERICAL), Area)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=40,
)


@settings(max_examples=400)
@given(
    st.one_of(
        json_values,
        st.fixed_dictionaries(
            {"type": st.sampled_from(["Polygon", "MultiPolygon", "Feature"]), "coordinates": json_values}
        ),
        st.fixed_dictionaries({"type": st.just("Feature"), "geometry": json_values}),
    )
)
def test_any_json_gives_an_area_or_a_polygon_error(value: Any) -> None:
    for kind in ("planar", "spherical"):
        try:
            parse_area(value, kind=kind)  # type: ignore[arg-type]
        except PolygonError as exc:
            assert str(exc)


@settings(max_examples=400)
@given(st.binary(max_size=300))
def test_any_bytes_give_an_area_or_a_polygon_error(body: bytes) -> None:
    try:
        area = parse_area(body, kind=GeometryKind.PLANAR)
    except PolygonError as exc:
        assert str(exc)
    else:
        assert area.parts


scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=15)
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.integers(-(2**62), 2**62) | st.text(max_size=8),
            coordinate,
            coordinate,
            st.dictionaries(st.text(max_size=8).filter(lambda k: k not in RESERVED_PROPERTIES), scalars, max_size=3),
        ),
        min_size=0,
        max_size=60,
    ),
    st.lists(st.integers(1, 400), min_size=1, max_size=30),
    st.integers(64, 4096),
)
def test_any_byte_split_of_a_stream_reads_back_the_same(rows: list[Any], cuts: list[int], chunk_bytes: int) -> None:
    ids = [r[0] for r in rows]
    xs = np.array([r[1] for r in rows], dtype=np.float64)
    ys = np.array([r[2] for r in rows], dtype=np.float64)
    props = [r[3] for r in rows]
    text, _ = encode_points(ids, xs, ys, props if any(props) else None)
    body = b"".join(frame_stream((c for c in [Chunk(len(rows), text)]), chunk_bytes=chunk_bytes))
    # Cut the body anywhere, including inside multi-byte UTF-8 characters.
    pieces, start = [], 0
    for size in cuts:
        pieces.append(body[start : start + size])
        start += size
    pieces.append(body[start:])
    records = list(iter_records(pieces))
    assert records[-1] == {"end": True, "count": len(rows)}
    expected = [{"id": i, "pt": [x, y], **(p if any(props) else {})} for i, x, y, p in rows]
    assert records[:-1] == expected
