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

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
import shapely

from points.batches import BoolArray, Bounds, FloatArray, IntArray
from points.rings import Ring
from points.rules import LON_LAT_RANGE, GeometryKind, outside_lon_lat

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


@dataclass(frozen=True, slots=True)
class BoxClasses:
    """How an area meets a list of boxes (the blocks of a store): every point of a box in
    `all_in` is inside; a box in neither holds no point that is inside; the points of a box in
    `maybe` must be tested, and only against the parts `parts(i)` names."""

    all_in: BoolArray
    maybe: BoolArray
    # The candidate parts of box i are _parts[_starts[i]:_starts[i + 1]].
    _starts: IntArray
    _parts: IntArray

    def parts(self, box: int) -> IntArray:
        """Return the indices of the parts box `box` must be tested against."""
        return self._parts[self._starts[box] : self._starts[box + 1]]


@dataclass(frozen=True)
class Area:
    """A validated query area: one or more polygons of one geometry kind.

    Its parts' envelopes are indexed (an STRtree), so a box or a point meets only the parts near
    it, and each part tests points against a local ring of the edges near them (points.rings):
    the cost of a query follows the points it decides, not the shape of the area.
    """

    kind: GeometryKind
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

    @functools.cached_property
    def _envelopes(self) -> tuple[shapely.STRtree, IntArray]:
        # (min_x, min_y, max_x, max_y) boxes holding each part, in the data's coordinates; a
        # spherical part across the antimeridian has two.
        boxes = [(box, i) for i, test in enumerate(self._tests) for box in test.envelopes()]
        corners = np.array([b for b, _ in boxes], dtype=np.float64)
        owners = np.array([i for _, i in boxes], dtype=np.int64)
        return shapely.STRtree(shapely.box(corners[:, 0], corners[:, 1], corners[:, 2], corners[:, 3])), owners

    def _candidates(self, geometries: npt.NDArray[np.object_]) -> tuple[IntArray, IntArray]:
        """Return (geometry, part) index pairs whose envelopes meet, unique, ordered by geometry."""
        tree, owners = self._envelopes
        found, envelope = tree.query(geometries)
        parts = len(self._tests)
        keys = np.unique(found.astype(np.int64) * parts + owners[envelope])
        return keys // parts, keys % parts

    def contains_xy(
        self, xs: FloatArray, ys: FloatArray, parts: IntArray | None = None, starts: IntArray | None = None
    ) -> BoolArray:
        """Return a mask of the points (xs[i], ys[i]) inside the area; with `parts`, test only
        against those parts (the others are known to hold none of the points). `starts` says
        where runs of points close together start (the blocks of a store; see points.rings)."""
        mask = np.zeros(len(xs), dtype=bool)
        if parts is None and len(self._tests) > _FEW_PARTS:
            found, owner = self._candidates(shapely.points(xs, ys))
            order = np.argsort(owner, kind="stable")
            found, owner = found[order], owner[order]
            cuts = np.flatnonzero(np.diff(owner)) + 1
            for points, part in zip(np.split(found, cuts), owner[np.r_[0, cuts]] if len(owner) else [], strict=True):
                todo = points[~mask[points]]
                if len(todo):
                    mask[todo] = self._tests[int(part)].contains_xy(xs[todo], ys[todo])
            return mask
        for i in range(len(self._tests)) if parts is None else parts.tolist():
            test = self._tests[i]
            near: BoolArray = test.near(xs, ys) & ~mask
            if near.all():
                mask |= test.contains_xy(xs, ys, starts)
            elif near.any():
                chosen = np.flatnonzero(near)
                mask[chosen] = test.contains_xy(xs[chosen], ys[chosen], _starts_within(chosen, starts))
        return mask

    def contains_blocks(self, xs: FloatArray, ys: FloatArray, starts: IntArray, parts: list[IntArray]) -> BoolArray:
        """Return a mask of the points of consecutive blocks (block i starts at starts[i] and is
        tested against the parts parts[i] names) inside the area, in as few passes as can be."""
        if all(np.array_equal(p, parts[0]) for p in parts[1:]):
            return self.contains_xy(xs, ys, parts[0], starts)
        # Blocks near different parts (many parts): the small ones all in one pass over (point,
        # part) pairs, the others block by block.
        ends = np.append(starts[1:], len(xs))
        block = np.repeat(np.arange(len(starts)), [len(p) for p in parts])
        part = np.concatenate(parts) if len(block) else np.zeros(0, dtype=np.int64)
        simple = self._simple[part]
        mask = self._simple_pairs(xs, ys, starts[block[simple]], ends[block[simple]], part[simple])
        for b in np.unique(block[~simple]).tolist():
            start, end = int(starts[b]), int(ends[b])
            others = parts[b][~self._simple[parts[b]]]
            todo = np.flatnonzero(~mask[start:end]) + start
            if len(todo):
                mask[todo] |= self.contains_xy(xs[todo], ys[todo], others)
        return mask

    @functools.cached_property
    def _simple(self) -> BoolArray:
        """Return which parts are small polygons without holes (tested by pairs, see _simple_pairs)."""
        return np.array([not t.holes and t.shell.edges < _SIMPLE_EDGES for t in self._tests], dtype=bool)

    @functools.cached_property
    def _envelope_table(self) -> tuple[FloatArray, IntArray, IntArray, IntArray]:
        """Return every part's envelopes as (boxes, their parts, each part's first one, how many)."""
        boxes = [(i, box) for i, t in enumerate(self._tests) for box in t.envelopes()]
        part = np.array([i for i, _ in boxes], dtype=np.int64)
        count = np.bincount(part, minlength=len(self._tests))
        return np.array([b for _, b in boxes], dtype=np.float64), part, np.cumsum(count) - count, count

    @functools.cached_property
    def _shells(self) -> npt.NDArray[np.object_]:
        return np.array([t.shell.polygon for t in self._tests], dtype=object)

    def _simple_pairs(
        self, xs: FloatArray, ys: FloatArray, starts: IntArray, ends: IntArray, part: IntArray
    ) -> BoolArray:
        """Return a mask of the points inside simple parts, for (run of points, part) pairs: the
        runs' points in each part's envelopes are tested against it in one GEOS call."""
        mask = np.zeros(len(xs), dtype=bool)
        if not len(part):
            return mask
        env_box, env_part, env_first, env_count = self._envelope_table
        # Each (run, part) pair with each envelope of the part.
        counts = env_count[part]
        pair = np.repeat(np.arange(len(part)), counts)
        envelope = env_first[part][pair] + np.arange(len(pair)) - np.repeat(np.cumsum(counts) - counts, counts)
        # The runs' groups of 32 points whose boxes meet the envelope, then their points in it.
        group_first = np.arange(0, len(xs), 32)
        group_x0, group_x1 = np.minimum.reduceat(xs, group_first), np.maximum.reduceat(xs, group_first)
        group_y0, group_y1 = np.minimum.reduceat(ys, group_first), np.maximum.reduceat(ys, group_first)
        g0 = starts[pair] // 32  # runs start on a group (blocks hold whole groups but the last)
        span = int((-(-ends[pair] // 32) - g0).max())
        groups = np.minimum(g0[:, None] + np.arange(span), (-(-ends[pair] // 32) - 1)[:, None])
        x0, y0, x1, y1 = (env_box[envelope, k, None] for k in range(4))
        meets = (
            (group_x1[groups] >= x0) & (group_x0[groups] <= x1) & (group_y1[groups] >= y0) & (group_y0[groups] <= y1)
        )
        row, col = np.nonzero(meets)
        index = np.minimum(groups[row, col, None] * 32 + np.arange(32), len(xs) - 1)
        index = np.where((index >= starts[pair[row], None]) & (index < ends[pair[row], None]), index, -1)
        env = envelope[row]
        px, py = xs[index], ys[index]
        inside = (index >= 0) & (px >= env_box[env, 0, None]) & (px <= env_box[env, 2, None])
        inside &= (py >= env_box[env, 1, None]) & (py <= env_box[env, 3, None])
        hit_row, hit_col = np.nonzero(inside)
        points = index[hit_row, hit_col]
        owners = env_part[env[hit_row]]
        if len(points) and counts.max() > 1:
            keys = np.unique(points * len(self._tests) + owners)  # a point met twice by one part
            points, owners = keys // len(self._tests), keys % len(self._tests)
        if not len(points):
            return mask
        if self.kind == "planar":
            qx, qy = xs[points], ys[points]
            inside = np.ones(len(points), dtype=bool)
        else:
            qx, qy, inside = _project_pairs(self._tests, owners, xs[points], ys[points])
        found: BoolArray = shapely.intersects_xy(self._shells[owners], qx, qy) & inside
        mask[points[found]] = True
        return mask

    def classify_boxes(self, min_x: FloatArray, min_y: FloatArray, max_x: FloatArray, max_y: FloatArray) -> BoxClasses:
        """Return how the area meets each box (see BoxClasses); only the parts whose envelope
        meets a box are asked about it."""
        n = len(min_x)
        box, part = self._candidates(shapely.box(min_x, min_y, max_x, max_y))
        if self.kind == "planar":
            outlines = shapely.box(min_x[box], min_y[box], max_x[box], max_y[box])
            pair_in, pair_maybe = _classify_pairs(self._tests, part, outlines, np.ones(len(box), dtype=bool))
        else:
            pair_in, pair_maybe = _classify_spherical_pairs(
                self._tests, part, min_x[box], min_y[box], max_x[box], max_y[box]
            )
        all_in = np.zeros(n, dtype=bool)
        all_in[box[pair_in]] = True
        keep = pair_maybe & ~all_in[box]
        maybe = np.zeros(n, dtype=bool)
        maybe[box[keep]] = True
        starts = np.searchsorted(box[keep], np.arange(n + 1))
        return BoxClasses(all_in, maybe, starts, part[keep])

    def to_geojson(self) -> dict[str, Any]:
        """Return the area as a GeoJSON MultiPolygon."""
        return {
            "type": "MultiPolygon",
            "coordinates": [[p.shell.tolist(), *[h.tolist() for h in p.holes]] for p in self.parts],
        }


# Areas of at most this many parts test points against each part in turn, without the index.
_FEW_PARTS = 16


# Parts without holes and with fewer edges than this are "simple" (see Area._simple_pairs).
_SIMPLE_EDGES = 32


def _project_pairs(
    tests: list[_PartTest], owners: IntArray, lon: FloatArray, lat: FloatArray
) -> tuple[FloatArray, FloatArray, BoolArray]:
    """Return each point projected into its part's gnomonic plane, and whether it is within 90
    degrees of the part's centre (the others cannot be inside it)."""
    xyz = lonlat_to_xyz(lon, lat)
    projections = [t.proj for t in tests]  # type: ignore[attr-defined]
    center = np.array([p.center for p in projections])[owners]
    e1 = np.array([p.e1 for p in projections])[owners]
    e2 = np.array([p.e2 for p in projections])[owners]
    d = np.einsum("ij,ij->i", xyz, center)
    safe = np.where(d > 0, d, 1.0)
    return np.einsum("ij,ij->i", xyz, e1) / safe, np.einsum("ij,ij->i", xyz, e2) / safe, d > 0


def _starts_within(chosen: IntArray, starts: IntArray | None) -> IntArray | None:
    """Return where the runs beginning at `starts` begin among the points `chosen` (ascending)."""
    if starts is None:
        return None
    at: IntArray = np.unique(np.searchsorted(chosen, starts))
    return at[at < len(chosen)]


class _PartTest:
    """One polygon's tests, in the plane its rings live in (the data's, or a gnomonic one)."""

    shell: Ring
    holes: list[Ring]

    def envelopes(self) -> list[Bounds]:
        """Return boxes (in the data's coordinates) that hold every point of the polygon."""
        raise NotImplementedError

    def contains_xy(self, xs: FloatArray, ys: FloatArray, starts: IntArray | None = None) -> BoolArray:
        raise NotImplementedError

    @functools.cached_property
    def _envelope_array(self) -> FloatArray:
        return np.array(self.envelopes(), dtype=np.float64)

    def near(self, xs: FloatArray, ys: FloatArray) -> BoolArray:
        """Return a mask of the points in the polygon's envelopes (the others are outside it)."""
        boxes = self._envelope_array
        mask = (xs >= boxes[0, 0]) & (xs <= boxes[0, 2]) & (ys >= boxes[0, 1]) & (ys <= boxes[0, 3])
        for x0, y0, x1, y1 in boxes[1:].tolist():
            mask |= (xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)
        return mask

    def _covers_plane(self, px: FloatArray, py: FloatArray, starts: IntArray | None) -> BoolArray:
        """Return the points (in the rings' plane) inside the shell or on it, and in no hole nor on one."""
        mask = self.shell.covers_xy(px, py, starts)
        for hole in self.holes:
            inside = np.flatnonzero(mask)
            if not len(inside):
                break
            mask[inside] = ~hole.covers_xy(px[inside], py[inside], _starts_within(inside, starts))
        return mask


def _classify_pairs(
    tests: list[_PartTest], part: IntArray, outlines: npt.NDArray[np.object_], trusted: BoolArray
) -> tuple[BoolArray, BoolArray]:
    """Return (all_in, maybe) for pairs of a part and an outline polygon (in the part's plane)
    that holds a box; untrusted outlines are "maybe" (their points are tested)."""
    all_in = np.zeros(len(part), dtype=bool)
    maybe = np.ones(len(part), dtype=bool)
    if not trusted.any():
        return all_in, maybe
    shells = np.array([t.shell.polygon for t in tests], dtype=object)
    sel = np.flatnonzero(trusted)
    p, boxes = part[sel], outlines[sel]
    sel_in: BoolArray = shapely.covers(shells[p], boxes)
    sel_maybe: BoolArray = shapely.intersects(shells[p], boxes)
    for i in np.unique(p[[bool(tests[j].holes) for j in p]]).tolist() if len(p) else []:
        rows = np.flatnonzero(p == i)
        for hole in tests[i].holes:
            sel_in[rows] &= ~shapely.intersects(hole.polygon, boxes[rows])
            sel_maybe[rows] &= ~shapely.covers(hole.polygon, boxes[rows])
    all_in[sel] = sel_in
    maybe[sel] = sel_maybe
    return all_in, maybe


class _PlanarPartTest(_PartTest):
    def __init__(self, part: Part) -> None:
        self.shell = Ring(part.shell)
        self.holes = [Ring(h) for h in part.holes]

    def envelopes(self) -> list[Bounds]:
        lo, hi = self.shell.coords.min(axis=0), self.shell.coords.max(axis=0)
        return [(float(lo[0]), float(lo[1]), float(hi[0]), float(hi[1]))]

    def contains_xy(self, xs: FloatArray, ys: FloatArray, starts: IntArray | None = None) -> BoolArray:
        return self._covers_plane(xs, ys, starts)


def lonlat_to_xyz(lon: FloatArray, lat: FloatArray) -> FloatArray:
    """Return unit vectors (..., 3) for longitudes and latitudes in degrees."""
    lam = np.radians(lon)
    phi = np.radians(lat)
    cos_phi = np.cos(phi)
    return np.stack([cos_phi * np.cos(lam), cos_phi * np.sin(lam), np.sin(phi)], axis=-1)


def _cross(a: FloatArray, b: FloatArray) -> FloatArray:
    """Return the cross product of two 3-vectors (numpy.cross costs ~50 us a call in its axis handling)."""
    return np.array([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]])


class _Gnomonic:
    """The gnomonic projection centred on a unit vector: great circles become straight lines."""

    def __init__(self, center: FloatArray) -> None:
        self.center = center
        helper = np.array([0.0, 0.0, 1.0]) if abs(center[2]) < 0.9 else np.array([1.0, 0.0, 0.0])
        self.e1 = _cross(helper, center)
        self.e1 /= float(np.sqrt(self.e1 @ self.e1))
        self.e2 = _cross(center, self.e1)

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


def _box_outlines(min_x: FloatArray, min_y: FloatArray, max_x: FloatArray, max_y: FloatArray) -> FloatArray:
    """Return (n, 32, 3) unit vectors tracing an outline around each lon/lat box (8 geodesic
    steps a side), grown so the outline surely holds the box's curved parallels."""
    pad_x = (max_x - min_x) * 0.01 + 1e-7
    x0, x1 = min_x - pad_x, max_x + pad_x
    # A side along a parallel is traced by 8 great-circle steps, and each step bows toward the
    # nearer pole: on the side nearer the equator it cuts into the box. Pad each latitude side
    # by the most a step can bow there (plus a little), so the traced outline holds the box.
    bow = _step_bow((x1 - x0) / 8, min_y, max_y)
    pad_y = (max_y - min_y) * 0.01 + bow * 1.01 + 1e-7
    y0 = np.maximum(min_y - pad_y, -90.0)
    y1 = np.minimum(max_y + pad_y, 90.0)
    t = np.linspace(0.0, 1.0, 9)[:-1]
    w, h = (x1 - x0)[:, None], (y1 - y0)[:, None]
    lon = np.concatenate(
        [x0[:, None] + w * t, np.repeat(x1[:, None], 8, 1), x1[:, None] - w * t, np.repeat(x0[:, None], 8, 1)], axis=1
    )
    lat = np.concatenate(
        [np.repeat(y0[:, None], 8, 1), y0[:, None] + h * t, np.repeat(y1[:, None], 8, 1), y1[:, None] - h * t], axis=1
    )
    return lonlat_to_xyz(lon, lat)


def _classify_spherical_pairs(
    tests: list[_PartTest], part: IntArray, min_x: FloatArray, min_y: FloatArray, max_x: FloatArray, max_y: FloatArray
) -> tuple[BoolArray, BoolArray]:
    """Return (all_in, maybe) for pairs of a spherical part and a lon/lat box: each box's outline
    is projected into its part's gnomonic plane and classified there."""
    k = len(part)
    outlines = np.empty(k, dtype=object)
    trusted = np.zeros(k, dtype=bool)
    far = np.zeros(k, dtype=bool)
    # Boxes wider than 90 degrees or crossing a pole stay "maybe": their points are tested.
    small = np.flatnonzero(((max_x - min_x) <= 90) & ((max_y - min_y) <= 90))
    if len(small):
        xyz = _box_outlines(min_x[small], min_y[small], max_x[small], max_y[small])
        projections = [t.proj for t in tests]  # type: ignore[attr-defined]
        sub = part[small]
        center = np.array([projections[i].center for i in sub.tolist()]).reshape(-1, 3)
        e1 = np.array([projections[i].e1 for i in sub.tolist()]).reshape(-1, 3)
        e2 = np.array([projections[i].e2 for i in sub.tolist()]).reshape(-1, 3)
        d = np.einsum("kij,kj->ki", xyz, center)
        safe = np.where(d > 0, d, 1.0)
        coords = np.stack([np.einsum("kij,kj->ki", xyz, e1) / safe, np.einsum("kij,kj->ki", xyz, e2) / safe], axis=-1)
        # Far from the centre the projection stretches too much to trust the outline.
        ok = d.min(axis=1) > 0.2
        trusted[small] = ok
        far[small] = d.max(axis=1) <= 0.0
        if ok.any():
            closed = np.concatenate([coords[ok], coords[ok][:, :1]], axis=1)
            outlines[small[ok]] = shapely.polygons(closed)
    all_in, maybe = _classify_pairs(tests, part, outlines, trusted)
    maybe &= ~far
    return all_in, maybe


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
        nearest = float((shell_xyz @ self.center).min())
        if nearest < _MIN_COS:
            raise PolygonError(
                "a spherical polygon must fit in a hemisphere (every vertex within "
                f"{MAX_SPHERICAL_RADIUS_DEGREES:g} degrees of the polygon's centre); "
                "split a larger area into a MultiPolygon of smaller parts"
            )
        # The polygon lies in the cap around its centre that holds its vertices (a cap under a
        # hemisphere is convex: it holds the arcs between them too).
        self.radius = math.degrees(math.acos(min(1.0, nearest)))
        self.proj = _Gnomonic(self.center)
        self.shell = Ring(self._planar(part.shell))
        self.holes = [Ring(self._planar(h)) for h in part.holes]

    def _planar(self, ring: FloatArray) -> FloatArray:
        px, py, d = self.proj.project(lonlat_to_xyz(ring[:, 0], ring[:, 1]))
        if float(d.min()) < _MIN_COS:
            raise PolygonError(
                f"a hole lies more than {MAX_SPHERICAL_RADIUS_DEGREES:g} degrees from its polygon's centre"
            )
        return np.column_stack([px, py])

    def envelopes(self) -> list[Bounds]:
        # The lon/lat box of the cap, grown a little; split in two across the antimeridian.
        lat = math.degrees(math.asin(max(-1.0, min(1.0, float(self.center[2])))))
        lon = math.degrees(math.atan2(float(self.center[1]), float(self.center[0])))
        r = self.radius + 1e-6
        if lat + r >= 90:
            return [(-180.0, lat - r, 180.0, 90.0)]
        if lat - r <= -90:
            return [(-180.0, -90.0, 180.0, lat + r)]
        half = math.degrees(math.asin(min(1.0, math.sin(math.radians(r)) / math.cos(math.radians(lat))))) + 1e-6
        lo, hi = lon - half, lon + half
        if lo < -180:
            return [(-180.0, lat - r, hi, lat + r), (lo + 360, lat - r, 180.0, lat + r)]
        if hi > 180:
            return [(lo, lat - r, 180.0, lat + r), (-180.0, lat - r, hi - 360, lat + r)]
        return [(lo, lat - r, hi, lat + r)]

    def contains_xy(self, xs: FloatArray, ys: FloatArray, starts: IntArray | None = None) -> BoolArray:
        px, py, d = self.proj.project(lonlat_to_xyz(xs, ys))
        # Points 90 degrees or more from the centre cannot be inside a polygon within 89 of it.
        near = d > 0
        if near.all():
            return self._covers_plane(px, py, starts)
        mask = np.zeros(len(xs), dtype=bool)
        if near.any():
            chosen = np.flatnonzero(near)
            mask[chosen] = self._covers_plane(px[chosen], py[chosen], _starts_within(chosen, starts))
        return mask


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


def _ring(value: Any, where: str, kind: GeometryKind, budget: list[int], max_vertices: int) -> FloatArray:
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
        bad = outside_lon_lat(coords[:, 0], coords[:, 1])
        if len(bad):
            i = int(bad[0])
            raise PolygonError(
                f"{where}[{i}] = {_fmt(coords[i])} is out of range: spherical data needs {LON_LAT_RANGE}"
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


def _part(value: Any, where: str, kind: GeometryKind, budget: list[int], max_vertices: int) -> tuple[Part, _PartTest]:
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
        polygon = shapely.Polygon(spherical.shell.coords, [h.coords for h in spherical.holes])
        reason = shapely.is_valid_reason(polygon)
        if reason != "Valid Geometry":
            text = reason.partition("[")[0].lower()
            raise PolygonError(f"{where} is not a valid polygon on the sphere: {text}")
    if shapely.area(shapely.Polygon(polygon.exterior)) == 0:
        raise PolygonError(f"{where} has no area: its outer ring's vertices are all on one line")
    return part, test


_ORJSON_MAX_DEPTH = 1024


def parse_area(body: bytes | str | dict[str, Any], *, kind: GeometryKind, max_vertices: int = 10_000) -> Area:
    """Return the Area a request body describes, or raise PolygonError saying what is wrong.

    The body is a GeoJSON Polygon or MultiPolygon, bare or as the geometry of a Feature.
    """
    if isinstance(body, (bytes, str)):
        if not body.strip():
            raise PolygonError("the request body is empty; send a GeoJSON Polygon or MultiPolygon")
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            if str(exc).startswith("depth limit exceeded"):
                # orjson stops at 1,024 levels, having read no more than that: nesting costs no memory.
                raise PolygonError(
                    "the request body is not valid JSON: it nests arrays and objects more than "
                    f"{_ORJSON_MAX_DEPTH:,} deep (at character {exc.pos + 1:,}); a Polygon needs 4 levels, "
                    "a MultiPolygon 5, one more as a Feature"
                ) from None
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
