"""Demo point sets (grid, uniform random, clusters, lon/lat on land), made batch by batch at numpy speed."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from points import land
from points.batches import Bounds, PointBatch
from points.rules import LON_LAT_RANGE, GeometryKind, outside_lon_lat

BATCH_POINTS = 262_144
WORLD: Bounds = (-180.0, -90.0, 180.0, 90.0)
# Land demo data: how many city-like hot spots by default, and the share of points in them (the
# rest is spread evenly over the land, so every coast shows).
LAND_HOT_SPOTS = 300
LAND_SHARE_IN_SPOTS = 0.7


def grid(width: int, height: int, *, batch_points: int = BATCH_POINTS) -> Iterator[PointBatch]:
    """Yield the points [x, y] for integer x < width, y < height; ids count up in x-major order."""
    total = width * height
    for start in range(0, total, batch_points):
        ids = np.arange(start, min(start + batch_points, total), dtype=np.int64)
        yield PointBatch(ids=ids, xs=(ids // height).astype(np.float64), ys=(ids % height).astype(np.float64))


def _uniform(rng: np.random.Generator, n: int, bounds: Bounds, spherical: bool) -> tuple[np.ndarray, np.ndarray]:
    min_x, min_y, max_x, max_y = bounds
    xs = rng.uniform(min_x, max_x, n)
    if spherical:
        # Uniform on the sphere's surface, not in latitude: sample sin(latitude) evenly.
        lo, hi = np.sin(np.radians([min_y, max_y]))
        ys = np.degrees(np.arcsin(rng.uniform(lo, hi, n)))
    else:
        ys = rng.uniform(min_y, max_y, n)
    return xs, ys


def random_points(
    n: int, bounds: Bounds, *, seed: int | None = None, spherical: bool = False, batch_points: int = BATCH_POINTS
) -> Iterator[PointBatch]:
    """Yield `n` points spread uniformly over `bounds`."""
    rng = np.random.default_rng(seed)
    for start in range(0, n, batch_points):
        size = min(batch_points, n - start)
        xs, ys = _uniform(rng, size, bounds, spherical)
        yield PointBatch(ids=np.arange(start, start + size, dtype=np.int64), xs=xs, ys=ys)


def clustered_points(
    n: int,
    clusters: int,
    bounds: Bounds,
    *,
    seed: int | None = None,
    spherical: bool = False,
    batch_points: int = BATCH_POINTS,
) -> Iterator[PointBatch]:
    """Yield `n` points around `clusters` random centres (normal spread), all inside `bounds`."""
    rng = np.random.default_rng(seed)
    min_x, min_y, max_x, max_y = bounds
    cx, cy = _uniform(rng, clusters, bounds, spherical)
    spread = rng.uniform(0.01, 0.06, clusters) * min(max_x - min_x, max_y - min_y)
    for start in range(0, n, batch_points):
        size = min(batch_points, n - start)
        xs = np.empty(size)
        ys = np.empty(size)
        todo = np.arange(size)
        # Draw again the points that fall outside (clipping would pile them up on the edges);
        # after a few rounds the rare rest is placed uniformly.
        for _ in range(8):
            which = rng.integers(0, clusters, len(todo))
            xs[todo] = rng.normal(cx[which], spread[which])
            ys[todo] = rng.normal(cy[which], spread[which])
            todo = todo[(xs[todo] < min_x) | (xs[todo] > max_x) | (ys[todo] < min_y) | (ys[todo] > max_y)]
            if not len(todo):
                break
        if len(todo):
            xs[todo], ys[todo] = _uniform(rng, len(todo), bounds, spherical)
        yield PointBatch(ids=np.arange(start, start + size, dtype=np.int64), xs=xs, ys=ys)


def land_points(
    n: int, hot_spots: int = LAND_HOT_SPOTS, *, seed: int | None = None, batch_points: int = BATCH_POINTS
) -> Iterator[PointBatch]:
    """Yield `n` lon/lat points on Natural Earth's land (the map's): most around `hot_spots`
    city-like centres of different sizes, the rest spread evenly over the land. Raise
    land.LandDataMissing (a ValueError) when world-atlas is not installed."""
    mask = land.land_mask()
    rng = np.random.default_rng(seed)
    rows, cols = np.nonzero(mask.land)
    lons = -180.0 + (cols + 0.5) * mask.cell
    lats = -90.0 + (rows + 0.5) * mask.cell
    # Even over the land's area: a cell's share shrinks with the cosine of its latitude.
    everywhere = _cdf(np.cos(np.radians(lats)))
    # Hot spots, like cities: not on Antarctica, three times likelier on a coast (a land cell
    # next to the sea); sizes spread over two orders of magnitude, widths from ~20 km to ~300 km.
    coastal = ~_all_neighbours_land(mask.land)[rows, cols]
    inhabited = np.where(lats > -60.0, np.where(coastal, 3.0, 1.0), 0.0)
    centres = np.searchsorted(_cdf(inhabited), rng.random(hot_spots), side="right")
    spot_lon, spot_lat = lons[centres], lats[centres]
    spot_share = _cdf(rng.pareto(1.2, hot_spots) + 0.05)
    spot_width = np.exp(rng.uniform(np.log(0.2), np.log(2.5), hot_spots))
    # Degrees of longitude shrink toward the poles: widen them so a spot is round on the ground.
    spot_width_lon = spot_width / np.maximum(np.cos(np.radians(spot_lat)), 0.2)
    for start in range(0, n, batch_points):
        size = min(batch_points, n - start)
        xs = np.empty(size)
        ys = np.empty(size)
        in_spot = rng.random(size) < LAND_SHARE_IN_SPOTS
        todo = np.flatnonzero(in_spot)
        # A spot's points that fall in the sea (past the near-coast cells) are drawn again;
        # after a few rounds the rare rest joins the even spread below.
        for _ in range(8):
            if not len(todo):
                break
            which = np.searchsorted(spot_share, rng.random(len(todo)), side="right")
            lon = rng.normal(spot_lon[which], spot_width_lon[which])
            lat = rng.normal(spot_lat[which], spot_width[which])
            lon = (lon + 180.0) % 360.0 - 180.0
            row, col = mask.cell_of(lon, lat)
            kept = (np.abs(lat) <= 90.0) & mask.coast[row, col]
            xs[todo[kept]], ys[todo[kept]] = lon[kept], lat[kept]
            todo = todo[~kept]
        spread = np.concatenate([np.flatnonzero(~in_spot), todo])
        # Even over the land: a cell by its area, then anywhere in the cell.
        cell = np.searchsorted(everywhere, rng.random(len(spread)), side="right")
        xs[spread] = lons[cell] + rng.uniform(-0.5, 0.5, len(spread)) * mask.cell
        ys[spread] = lats[cell] + rng.uniform(-0.5, 0.5, len(spread)) * mask.cell
        yield PointBatch(ids=np.arange(start, start + size, dtype=np.int64), xs=xs, ys=ys)


def _cdf(weights: np.ndarray) -> np.ndarray:
    """Return the cumulative shares of `weights` (the last exactly 1): index i is drawn as
    searchsorted(cdf, u, side="right") for u uniform in [0, 1)."""
    cdf = np.cumsum(weights, dtype=np.float64)
    cdf /= cdf[-1]
    cdf[-1] = 1.0
    return cdf


def _all_neighbours_land(grid: np.ndarray) -> np.ndarray:
    """Return, per cell, whether the cell and its four neighbours are land (longitude wraps)."""
    out = grid.copy()
    out[1:] &= grid[:-1]
    out[:-1] &= grid[1:]
    out &= np.roll(grid, 1, axis=1) & np.roll(grid, -1, axis=1)
    return out


def bounds_text(bounds: Bounds) -> str:
    """Return the bounds as parse_bounds reads them: "minx,miny,maxx,maxy"."""
    return ",".join(f"{v:g}" for v in bounds)


def parse_bounds(text: str) -> Bounds:
    """Return the bounds of 'minx,miny,maxx,maxy', or raise ValueError saying what is wrong."""
    parts = text.split(",")
    if len(parts) != 4:
        raise ValueError(f"bounds need 4 numbers minx,miny,maxx,maxy; got {text!r}")
    try:
        min_x, min_y, max_x, max_y = (float(p) for p in parts)
    except ValueError:
        raise ValueError(f"bounds need numbers; got {text!r}") from None
    if not all(np.isfinite([min_x, min_y, max_x, max_y])):
        raise ValueError(f"bounds need finite numbers; got {text!r}")
    if not (min_x < max_x and min_y < max_y):
        raise ValueError(f"bounds need minx < maxx and miny < maxy; got {text!r}")
    return (min_x, min_y, max_x, max_y)


def check_spherical_bounds(bounds: Bounds) -> None:
    """Raise ValueError unless the bounds lie within longitude/latitude range."""
    if len(outside_lon_lat(bounds[0::2], bounds[1::2])):
        raise ValueError(f"bounds of spherical data must lie within {LON_LAT_RANGE}")


def parse_grid(text: str) -> tuple[int, int]:
    """Return (width, height) of 'WxH', or raise ValueError."""
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"a grid needs WIDTHxHEIGHT, e.g. 50x50; got {text!r}") from None
    if width < 1 or height < 1:
        raise ValueError(f"a grid needs positive sizes; got {text!r}")
    return width, height


# --- the kinds of demo data: one registry, read by the admin's form and generate_points -------

#: a demo dataset made: its batches, how many points, and its default title
Made = tuple[Iterator[PointBatch], int, str]
#: the bounds random and clustered points get by default when planar (WORLD when spherical)
PLANAR_BOUNDS: Bounds = (0.0, 0.0, 1000.0, 1000.0)


def _positive(spec: dict[str, Any], key: str, message: str) -> int:
    value = int(spec[key])
    if value < 1:
        raise ValueError(message)
    return value


def _spec_bounds(spec: dict[str, Any]) -> Bounds:
    """Return the spec's bounds (checked for lon/lat if spherical), or the default."""
    spherical = bool(spec.get("spherical"))
    raw = spec.get("bounds")
    bounds: Bounds = WORLD if spherical else PLANAR_BOUNDS
    if raw:
        if len(raw) != 4:
            raise ValueError("bounds are four numbers: min x, min y, max x, max y")
        bounds = (float(raw[0]), float(raw[1]), float(raw[2]), float(raw[3]))
    if spherical:
        check_spherical_bounds(bounds)
    return bounds


def _make_grid(spec: dict[str, Any]) -> Made:
    width, height = int(spec["width"]), int(spec["height"])
    if width < 1 or height < 1:
        raise ValueError("a grid needs a positive width and height")
    return grid(width, height), width * height, f"{width}x{height} grid"


def _make_random(spec: dict[str, Any]) -> Made:
    n = _positive(spec, "points", "a demo dataset needs a positive number of points")
    points = random_points(n, _spec_bounds(spec), seed=spec.get("seed"), spherical=bool(spec.get("spherical")))
    return points, n, f"{n:,} random points"


def _make_clusters(spec: dict[str, Any]) -> Made:
    n = _positive(spec, "points", "a demo dataset needs a positive number of points")
    k = _positive(spec, "clusters", "a clustered dataset needs a positive number of clusters")
    bounds = _spec_bounds(spec)
    points = clustered_points(n, k, bounds, seed=spec.get("seed"), spherical=bool(spec.get("spherical")))
    return points, n, f"{n:,} points in {k} clusters"


def _make_land(spec: dict[str, Any]) -> Made:
    n = _positive(spec, "points", "a demo dataset needs a positive number of points")
    if not spec.get("spherical", True):
        raise ValueError("points on land are lon/lat: they cannot be planar")
    spots = LAND_HOT_SPOTS if spec.get("clusters") is None else int(spec["clusters"])
    if spots < 1:
        raise ValueError("points on land need a positive number of hot spots")
    if spec.get("bounds"):
        raise ValueError("points on land cover the world's land: they take no bounds")
    land.land_mask()  # raise LandDataMissing now, not from the first batch
    return land_points(n, spots, seed=spec.get("seed")), n, f"{n:,} lon/lat points on land"


@dataclass(frozen=True, slots=True)
class DemoKind:
    """A kind of demo data: what makes it from a spec, and the defaults both the admin's form and
    generate_points fill in (here once, so the two make the same points from the same inputs)."""

    #: what the admin's choice of it says
    label: str
    #: make it from a spec (see from_spec), or raise ValueError saying what is wrong
    make: Callable[[dict[str, Any]], Made]
    #: the geometry it always has (points on land are lon/lat); None: the spec's "spherical" says
    geometry: GeometryKind | None = None
    #: its defaults; None where the kind takes no such input
    size: tuple[int, int] | None = None  # a grid's width and height
    points: int | None = None
    clusters: int | None = None  # clusters, or on land city-like hot spots
    #: whether it takes bounds (default PLANAR_BOUNDS, or WORLD when spherical)
    bounded: bool = False


DEMO_KINDS: dict[str, DemoKind] = {
    "grid": DemoKind("grid: points at integer [x, y]", _make_grid, size=(50, 50)),
    "random": DemoKind("uniform random", _make_random, points=500_000, bounded=True),
    "clusters": DemoKind("clustered", _make_clusters, points=500_000, clusters=20, bounded=True),
    "land": DemoKind(
        "lon/lat on land (around city-like hot spots)",
        _make_land,
        geometry=GeometryKind.SPHERICAL,
        points=500_000,
        clusters=LAND_HOT_SPOTS,
    ),
}


def demo_kind(name: Any) -> DemoKind:
    """Return the registry's kind of demo data `name`, or raise ValueError naming the kinds."""
    kind = DEMO_KINDS.get(name) if isinstance(name, str) else None
    if kind is None:
        raise ValueError(f"unknown kind of demo data {name!r}: use {', '.join(DEMO_KINDS)}")
    return kind


def demo_spec(
    kind: str,
    *,
    width: int | None = None,
    height: int | None = None,
    points: int | None = None,
    clusters: int | None = None,
    bounds: Bounds | None = None,
    seed: int | None = None,
    spherical: bool = False,
) -> dict[str, Any]:
    """Return the spec (as from_spec reads it) of demo data of `kind` from what the user gave:
    an input left None takes the kind's default, one the kind does not take is left out (the
    admin's one form for every kind sends them all). Raise ValueError for an unknown kind."""
    made = demo_kind(kind)
    spec: dict[str, Any] = {"kind": kind}
    if made.size is not None:
        spec["width"] = made.size[0] if width is None else width
        spec["height"] = made.size[1] if height is None else height
    if made.points is not None:
        spec["points"] = made.points if points is None else points
        spec["seed"] = seed
    if made.clusters is not None:
        spec["clusters"] = made.clusters if clusters is None else clusters
    if made.bounded:
        spec["bounds"] = None if bounds is None else list(bounds)
    geometry = made.geometry or (GeometryKind.SPHERICAL if spherical else GeometryKind.PLANAR)
    spec["spherical"] = geometry == GeometryKind.SPHERICAL
    return spec


def demo_geometry(spec: dict[str, Any]) -> GeometryKind:
    """Return the geometry kind of the demo data `spec` describes."""
    fixed = demo_kind(spec.get("kind")).geometry
    if fixed is not None:
        return fixed
    return GeometryKind.SPHERICAL if spec.get("spherical") else GeometryKind.PLANAR


def from_spec(spec: dict[str, Any]) -> Made:
    """Return (the batches, how many points, a title) of a demo dataset described by a JSON-able
    spec (demo_spec makes one): {"kind": "grid", "width", "height"} or {"kind": "random" |
    "clusters", "points", "clusters", "bounds": [minx, miny, maxx, maxy] (default: 0..1000, the
    world if spherical), "seed", "spherical"} or {"kind": "land", "points", "clusters" (city-like
    hot spots, default LAND_HOT_SPOTS), "seed"}: lon/lat points on Natural Earth's land, always
    spherical. The admin and the commands both describe what to make this way, and an import
    task carries the spec, not the points. Raise ValueError for a spec that cannot be made."""
    return demo_kind(spec.get("kind")).make(spec)
