"""Parse and validate query polygons, and test points against them (no Django, no pymongo).

The rule every store follows (and the contract tests check):

* An area is a Polygon or a MultiPolygon. A point is inside when it lies inside or on the outer
  ring of one of the polygons and not inside or on any of that polygon's holes. Boundaries are
  closed: a point on an outer ring is in, a point on a hole's ring is out. Overlapping polygons of
  a MultiPolygon count a point once. Both stores decide with this module's test; the MongoDB
  store only uses `$geoWithin` to narrow the candidates.
* planar data: straight (flat) edges.
* spherical data (lon/lat degrees): each edge is the shortest great-circle arc between its
  vertices, as MongoDB's 2dsphere index computes. So an edge from lon 170 to lon -170 crosses
  the antimeridian (20 degrees long, not 340). A ring always bounds the smaller of the two regions
  it splits the sphere into; every polygon must fit in a hemisphere (all its vertices within 89
  degrees of their mean direction), and a larger one is refused: send it as a MultiPolygon of
  smaller parts.

Spherical tests use the gnomonic projection centred on each polygon: it maps great circles to
straight lines, so the exact geodesic test becomes a planar one done by shapely at planar speed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import orjson
import shapely

from points.batches import BoolArray, FloatArray

Kind = Literal["planar", "spherical"]

# A spherical polygon's vertices must lie within this angle of their mean direction.
MAX_SPHERICAL_RADIUS_DEGREES = 89.0
_MIN_COS = math.cos(math.radians(MAX_SPHERICAL_RADIUS_DEGREES))


class PolygonError(ValueError):
    """The submitted area is not one we can query with; the message says why and where."""


@dataclass(frozen=True, slots=True)
class Part:
    """One polygon: its outer ring and its holes, each a closed (n, 2) array of positions."""

    shell: FloatArray
    holes: tuple[FloatArray, ...] = ()


@dataclass(frozen=True)
class Area:
    """A validated query area: one or more polygons of one geometry kind."""

    kind: Kind
    parts: tuple[Part, ...]
    # The parts' point tests; parse_area hands over those it built while validating.
    _tests: list[_PartTest] = field(default_factory=list, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self._tests:
            self._tests.extend(
                _PlanarPartTest(part) if self.kind == "planar" else _SphericalPartTest(part) for part in self.parts
            )

    @property
    def vertex_count(self) -> int:
        """Return the number of positions over all rings."""
        return sum(len(p.shell) + sum(len(h) for h in p.holes) for p in self.parts)

    def contains_xy(self, xs: FloatArray, ys: FloatArray) -> BoolArray:
        """Return a mask of the points (xs[i], ys[i]) inside the area."""
        mask = np.zeros(len(xs), dtype=bool)
        for test in self._tests:
            todo = ~mask
            if todo.all():
                mask |= test.contains_xy(xs, ys)
            elif todo.any():
                mask[todo] = test.contains_xy(xs[todo], ys[todo])
        return mask

    def classify_boxes(
        self, min_x: FloatArray, min_y: FloatArray, max_x: FloatArray, max_y: FloatArray
    ) -> tuple[BoolArray, BoolArray]:
        """Return (all_in, maybe) masks of the boxes: every point of a box in `all_in` is inside;
        a box in neither holds no point that is inside; the rest must be tested point by point."""
        all_in = np.zeros(len(min_x), dtype=bool)
        maybe = np.zeros(len(min_x), dtype=bool)
        for test in self._tests:
            part_in, part_maybe = test.classify_boxes(min_x, min_y, max_x, max_y)
            all_in |= part_in
            maybe |= part_maybe
        return all_in, maybe & ~all_in

    def to_geojson(self) -> dict[str, Any]:
        """Return the area as a GeoJSON MultiPolygon."""
        return {
            "type": "MultiPolygon",
            "coordinates": [[p.shell.tolist(), *[h.tolist() for h in p.holes]] for p in self.parts],
        }


class _PartTest:
    def contains_xy(self, xs: FloatArray, ys: FloatArray) -> BoolArray:
        raise NotImplementedError

    def classify_boxes(
        self, min_x: FloatArray, min_y: FloatArray, max_x: FloatArray, max_y: FloatArray
    ) -> tuple[BoolArray, BoolArray]:
        raise NotImplementedError


def _planar_mask(shell: shapely.Polygon, holes: list[shapely.Polygon], xs: FloatArray, ys: FloatArray) -> BoolArray:
    mask: BoolArray = shapely.intersects_xy(shell, xs, ys)
    for hole in holes:
        if mask.any():
            mask &= ~shapely.intersects_xy(hole, xs, ys)
    return mask


def _planar_classify(
    shell: shapely.Polygon, holes: list[shapely.Polygon], boxes: npt.NDArray[np.object_]
) -> tuple[BoolArray, BoolArray]:
    all_in: BoolArray = shapely.covers(shell, boxes)
    maybe: BoolArray = shapely.intersects(shell, boxes)
    for hole in holes:
        all_in &= ~shapely.intersects(hole, boxes)
        maybe &= ~shapely.covers(hole, boxes)
    return all_in, maybe


class _PlanarPartTest(_PartTest):
    def __init__(self, part: Part) -> None:
        self.shell = shapely.Polygon(part.shell)
        self.holes = [shapely.Polygon(h) for h in part.holes]
        for geom in (self.shell, *self.holes):
            shapely.prepare(geom)

    def contains_xy(self, xs: FloatArray, ys: FloatArray) -> BoolArray:
        return _planar_mask(self.shell, self.holes, xs, ys)

    def classify_boxes(
        self, min_x: FloatArray, min_y: FloatArray, max_x: FloatArray, max_y: FloatArray
    ) -> tuple[BoolArray, BoolArray]:
        return _planar_classify(self.shell, self.holes, shapely.box(min_x, min_y, max_x, max_y))


def lonlat_to_xyz(lon: FloatArray, lat: FloatArray) -> FloatArray:
    """Return unit vectors (n, 3) for longitudes and latitudes in degrees."""
    lam = np.radians(lon)
    phi = np.radians(lat)
    cos_phi = np.cos(phi)
    return np.stack([cos_phi * np.cos(lam), cos_phi * np.sin(lam), np.sin(phi)], axis=-1)


class _Gnomonic:
    """The gnomonic projection centred on a unit vector: great circles become straight lines."""

    def __init__(self, center: FloatArray) -> None:
        self.center = center
        helper = np.array([0.0, 0.0, 1.0]) if abs(center[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
        self.e1 = np.cross(helper, center)
        self.e1 /= np.linalg.norm(self.e1)
        self.e2 = np.cross(center, self.e1)

    def project(self, xyz: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Return (px, py, cos_angle): plane coordinates and the cosine of the angle to the centre."""
        d = xyz @ self.center
        safe = np.where(d > 0, d, 1.0)
        return (xyz @ self.e1) / safe, (xyz @ self.e2) / safe, d


def _step_bow(step_lon: FloatArray, lat_a: FloatArray, lat_b: FloatArray) -> FloatArray:
    """Return (degrees) how far the great-circle arc between two points of one latitude, `step_lon`
    degrees apart, strays from that latitude, at most, for latitudes between lat_a and lat_b."""
    c = np.cos(np.radians(np.minimum(step_lon, 179.0)) / 2)

    def bow(lat: FloatArray) -> FloatArray:
        phi = np.radians(np.abs(lat))
        # The arc's highest point, at mid-step, is at atan(tan(phi) / cos(step / 2)).
        return np.degrees(np.arctan(np.tan(np.minimum(phi, np.radians(89.999))) / c) - phi)

    lo = np.minimum(np.abs(lat_a), np.abs(lat_b))
    hi = np.maximum(np.abs(lat_a), np.abs(lat_b))
    lo = np.where(np.sign(lat_a) != np.sign(lat_b), 0.0, lo)  # a box across the equator
    # The bow peaks where tan(phi) = sqrt(cos(step / 2)); check that latitude when it is in range.
    peak = np.degrees(np.arctan(np.sqrt(c)))
    at_peak = np.where((lo <= peak) & (peak <= hi), bow(peak), 0.0)
    return np.maximum(np.maximum(bow(lo), bow(hi)), at_peak)


class _SphericalPartTest(_PartTest):
    def __init__(self, part: Part) -> None:
        shell_xyz = lonlat_to_xyz(part.shell[:-1, 0], part.shell[:-1, 1])
        center = shell_xyz.sum(axis=0)
        norm = float(np.linalg.norm(center))
        if norm < 1e-9:
            raise PolygonError(
                "a spherical polygon must fit in a hemisphere (its vertices are spread all around the globe); "
                "split it into a MultiPolygon of smaller parts"
            )
        self.center = center / norm
        if float((shell_xyz @ self.center).min()) < _MIN_COS:
            raise PolygonError(
                "a spherical polygon must fit in a hemisphere (every vertex within "
                f"{MAX_SPHERICAL_RADIUS_DEGREES:g} degrees of the polygon's centre); "
                "split a larger area into a MultiPolygon of smaller parts"
            )
        self.proj = _Gnomonic(self.center)
        self.shell = self._planar(part.shell)
        self.holes = [self._planar(h) for h in part.holes]
        for geom in (self.shell, *self.holes):
            shapely.prepare(geom)

    def _planar(self, ring: FloatArray) -> shapely.Polygon:
        px, py, d = self.proj.project(lonlat_to_xyz(ring[:, 0], ring[:, 1]))
        if float(d.min()) < _MIN_COS:
            raise PolygonError(
                f"a hole lies more than {MAX_SPHERICAL_RADIUS_DEGREES:g} degrees from its polygon's centre"
            )
        return shapely.Polygon(np.column_stack([px, py]))

    def contains_xy(self, xs: FloatArray, ys: FloatArray) -> BoolArray:
        px, py, d = self.proj.project(lonlat_to_xyz(xs, ys))
        # Points 90 degrees or more from the centre cannot be inside a polygon within 89 of it.
        near = d > 0
        mask = np.zeros(len(xs), dtype=bool)
        if near.all():
            return _planar_mask(self.shell, self.holes, px, py)
        if near.any():
            mask[near] = _planar_mask(self.shell, self.holes, px[near], py[near])
        return mask

    def classify_boxes(
        self, min_x: FloatArray, min_y: FloatArray, max_x: FloatArray, max_y: FloatArray
    ) -> tuple[BoolArray, BoolArray]:
        n = len(min_x)
        all_in = np.zeros(n, dtype=bool)
        maybe = np.ones(n, dtype=bool)
        # Boxes wider than 90 degrees or crossing a pole stay "maybe": their points are tested.
        small = ((max_x - min_x) <= 90) & ((max_y - min_y) <= 90)
        if not small.any():
            return all_in, maybe
        idx = np.flatnonzero(small)
        # Grow each lon/lat box a little, so the densified outline projected below surely holds
        # the box's curved parallels, then trace its outline with 8 steps per side.
        pad_x = (max_x[idx] - min_x[idx]) * 0.01 + 1e-7
        x0, x1 = min_x[idx] - pad_x, max_x[idx] + pad_x
        # A side along a parallel is traced by 8 great-circle steps, and each step bows toward the
        # nearer pole: on the side nearer the equator it cuts into the box. Pad each latitude side
        # by the most a step can bow there (plus a little), so the traced outline holds the box.
        bow = np.radians(_step_bow((x1 - x0) / 8, min_y[idx], max_y[idx]))
        pad_y = (max_y[idx] - min_y[idx]) * 0.01 + np.degrees(bow) * 1.01 + 1e-7
        y0 = np.maximum(min_y[idx] - pad_y, -90.0)
        y1 = np.minimum(max_y[idx] + pad_y, 90.0)
        t = np.linspace(0.0, 1.0, 9)[:-1]
        lon = np.concatenate(
            [
                x0[:, None] + (x1 - x0)[:, None] * t,
                np.repeat(x1[:, None], 8, 1),
                x1[:, None] - (x1 - x0)[:, None] * t,
                np.repeat(x0[:, None], 8, 1),
            ],
            axis=1,
        )
        lat = np.concatenate(
            [
                np.repeat(y0[:, None], 8, 1),
                y0[:, None] + (y1 - y0)[:, None] * t,
                np.repeat(y1[:, None], 8, 1),
                y1[:, None] - (y1 - y0)[:, None] * t,
            ],
            axis=1,
        )
        px, py, d = self.proj.project(lonlat_to_xyz(lon.ravel(), lat.ravel()))
        d = d.reshape(lon.shape)
        # Far from the centre the projection stretches too much to trust the outline.
        trusted = d.min(axis=1) > 0.2
        far = d.max(axis=1) <= 0.0
        coords = np.stack([px.reshape(lon.shape), py.reshape(lon.shape)], axis=-1)
        coords = np.concatenate([coords, coords[:, :1]], axis=1)
        sub_in = np.zeros(len(idx), dtype=bool)
        sub_maybe = ~far
        if trusted.any():
            boxes = shapely.polygons(coords[trusted])
            t_in, t_maybe = _planar_classify(self.shell, self.holes, boxes)
            sub_in[trusted] = t_in
            sub_maybe[trusted] = t_maybe
        all_in[idx] = sub_in
        maybe[idx] = sub_maybe
        return all_in, maybe


# ---------------------------------------------------------------------------------------------
# Parsing


def _number(value: Any, where: str) -> float:
    # bool is an int subclass in Python; JSON true/false are not coordinates.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PolygonError(f"{where} must be a number, got {_describe(value)}")
    number = float(value)
    if not math.isfinite(number):
        raise PolygonError(f"{where} must be a finite number, got {value!r}")
    return number


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:40] + "…"
        return f"the string {shown!r}"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return f"a list of {len(value)}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    return type(value).__name__


def _ring(value: Any, where: str, kind: Kind, budget: list[int], max_vertices: int) -> FloatArray:
    if not isinstance(value, list):
        raise PolygonError(f"{where} must be a list of [x, y] positions, got {_describe(value)}")
    if value and not isinstance(value[0], list):
        raise PolygonError(
            f"{where} must be a list of [x, y] positions, got {_describe(value[0])} as its first item "
            "(is a level of brackets missing?)"
        )
    if value and value[0] and isinstance(value[0][0], list):
        raise PolygonError(
            f"{where}[0] must be a position [x, y] of 2 numbers, got a list of lists "
            "(is there a level of brackets too many?)"
        )
    budget[0] += len(value)
    if budget[0] > max_vertices:
        raise PolygonError(f"the area has more than {max_vertices:,} vertices, the most a query may have")
    if len(value) < 4:
        raise PolygonError(
            f"{where} has {len(value)} position(s); a ring needs at least 4 (3 corners and the first repeated at the end)"
        )
    coords = np.empty((len(value), 2), dtype=np.float64)
    for i, position in enumerate(value):
        if not isinstance(position, list) or len(position) != 2:
            got = f"{len(position)} numbers" if isinstance(position, list) else _describe(position)
            raise PolygonError(f"{where}[{i}] must be a position [x, y] of exactly 2 numbers, got {got}")
        coords[i, 0] = _number(position[0], f"{where}[{i}][0]")
        coords[i, 1] = _number(position[1], f"{where}[{i}][1]")
    if not np.array_equal(coords[0], coords[-1]):
        raise PolygonError(
            f"{where} is not closed: its last position {_fmt(coords[-1])} must repeat its first {_fmt(coords[0])}"
        )
    if kind == "spherical":
        lon, lat = coords[:, 0], coords[:, 1]
        bad = np.flatnonzero((np.abs(lon) > 180) | (np.abs(lat) > 90))
        if len(bad):
            i = int(bad[0])
            raise PolygonError(
                f"{where}[{i}] = {_fmt(coords[i])} is out of range: spherical data needs "
                "longitude in [-180, 180] and latitude in [-90, 90]"
            )
    return coords


def _fmt(position: FloatArray) -> str:
    return f"[{position[0]:g}, {position[1]:g}]"


def _check_valid(where: str, planar: shapely.Polygon) -> None:
    reason = shapely.is_valid_reason(planar)
    if reason == "Valid Geometry":
        return
    # GEOS says e.g. "Self-intersection[0.5 0.5]": keep its words, make the location readable.
    text, _, rest = reason.partition("[")
    location = rest.rstrip("]").split()
    at = ""
    if len(location) >= 2:
        at = f" at [{location[0]}, {location[1]}]"
    raise PolygonError(f"{where} is not a valid polygon: {text.lower()}{at}")


def _part(value: Any, where: str, kind: Kind, budget: list[int], max_vertices: int) -> tuple[Part, _PartTest]:
    if not isinstance(value, list) or not value:
        raise PolygonError(f"{where} must be a non-empty list of rings, got {_describe(value)}")
    rings = [_ring(r, f"{where}[{i}]", kind, budget, max_vertices) for i, r in enumerate(value)]
    part = Part(shell=rings[0], holes=tuple(rings[1:]))
    if kind == "planar":
        polygon = shapely.Polygon(part.shell, list(part.holes))
        spread = part.shell - part.shell[0]
        scale = float(np.abs(spread).max()) or 1.0
        if np.linalg.matrix_rank(spread / scale) < 2:
            raise PolygonError(f"{where} has no area: its outer ring's vertices are all on one line")
        _check_valid(where, polygon)
        test: _PartTest = _PlanarPartTest(part)
    else:
        test = spherical = _SphericalPartTest(part)
        # In the gnomonic plane edges are straight, so planar validity is validity on the sphere.
        polygon = shapely.Polygon(spherical.shell.exterior.coords, [h.exterior.coords for h in spherical.holes])
        reason = shapely.is_valid_reason(polygon)
        if reason != "Valid Geometry":
            text = reason.partition("[")[0].lower()
            raise PolygonError(f"{where} is not a valid polygon on the sphere: {text}")
    if shapely.area(shapely.Polygon(polygon.exterior)) == 0:
        raise PolygonError(f"{where} has no area: its outer ring's vertices are all on one line")
    return part, test


def parse_area(body: bytes | str | dict[str, Any], *, kind: Kind, max_vertices: int = 10_000) -> Area:
    """Return the Area a request body describes, or raise PolygonError saying what is wrong.

    The body is a GeoJSON Polygon or MultiPolygon, bare or as the geometry of a Feature.
    """
    if isinstance(body, (bytes, str)):
        if not body.strip():
            raise PolygonError("the request body is empty; send a GeoJSON Polygon or MultiPolygon")
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise PolygonError(f"the request body is not valid JSON: {exc}") from None
        except RecursionError:
            raise PolygonError("the request body is nested too deeply") from None
    else:
        doc = body
    if not isinstance(doc, dict):
        raise PolygonError(f"expected a GeoJSON object (Polygon, MultiPolygon or Feature), got {_describe(doc)}")
    kind_name = doc.get("type")
    if kind_name == "Feature":
        doc = doc.get("geometry")
        if not isinstance(doc, dict):
            raise PolygonError("the Feature's geometry must be a Polygon or MultiPolygon object")
        kind_name = doc.get("type")
    coordinates = doc.get("coordinates")
    budget = [0]
    built: list[tuple[Part, _PartTest]]
    if kind_name == "Polygon":
        built = [_part(coordinates, "coordinates", kind, budget, max_vertices)]
    elif kind_name == "MultiPolygon":
        if not isinstance(coordinates, list) or not coordinates:
            raise PolygonError(
                f"coordinates of a MultiPolygon must be a non-empty list of polygons, got {_describe(coordinates)}"
            )
        built = [_part(p, f"coordinates[{i}]", kind, budget, max_vertices) for i, p in enumerate(coordinates)]
    elif kind_name is None:
        raise PolygonError('the object has no "type": expected a GeoJSON Polygon or MultiPolygon (or a Feature of one)')
    else:
        shown = kind_name if isinstance(kind_name, str) and len(kind_name) <= 40 else _describe(kind_name)
        raise PolygonError(f"expected a GeoJSON Polygon or MultiPolygon (or a Feature of one), got type {shown!r}")
    return Area(kind=kind, parts=tuple(p for p, _ in built), _tests=[t for _, t in built])
