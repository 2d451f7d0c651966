"""Natural Earth land (npm world-atlas, the page's basemap) as shapely polygons and a raster mask of land cells."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import shapely

# The same file the page draws its coastlines from (frontend/src/basemap.js), so the demo points
# sit on the land the map shows.
ROOT = Path(__file__).resolve().parent.parent
LAND_FILE = ROOT / "frontend" / "node_modules" / "world-atlas" / "land-110m.json"
# Cells of the land mask, in degrees: fine enough to follow the 110m coasts (a vertex every
# ~0.5° or so), coarse enough to build in well under a second.
CELL_DEGREES = 0.25


class LandDataMissing(ValueError):
    """world-atlas is not installed: the land sampler has nothing to sample from."""


@dataclass(frozen=True)
class LandMask:
    """A lon/lat raster of the land: `land[row, col]` is whether the cell's centre is on land,
    `coast` whether the cell is land or touches a land cell (the near-coast allowance)."""

    land: np.ndarray
    coast: np.ndarray
    cell: float

    def cell_of(self, lons: np.ndarray, lats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the (row, col) of the cells holding the points, clipped to the raster."""
        rows, cols = self.land.shape
        col = np.clip(((lons + 180.0) / self.cell).astype(np.int64), 0, cols - 1)
        row = np.clip(((lats + 90.0) / self.cell).astype(np.int64), 0, rows - 1)
        return row, col


def decode_arcs(topology: dict[str, Any]) -> list[np.ndarray]:
    """Return the topology's arcs as arrays of [lon, lat]: TopoJSON quantizes the positions and
    stores each after the first as a delta to the previous one, scaled by `transform`."""
    transform = topology.get("transform")
    arcs = []
    for arc in topology["arcs"]:
        positions = np.asarray(arc, dtype=np.float64)[:, :2]
        if transform:
            positions = np.cumsum(positions, axis=0) * transform["scale"] + transform["translate"]
        arcs.append(positions)
    return arcs


def ring_positions(arcs: list[np.ndarray], indices: list[int]) -> np.ndarray:
    """Return the positions of a ring made of arcs: index ~i is arc i backwards; consecutive arcs
    share their end and start position, kept once."""
    parts = []
    for k, index in enumerate(indices):
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        parts.append(arc if k == 0 else arc[1:])
    return np.concatenate(parts)


def unwrap_ring(ring: np.ndarray) -> np.ndarray:
    """Return a lon/lat ring as one piece on the plane: where it crosses the antimeridian (a jump
    of more than 180° of longitude) the rest is shifted by 360°. A ring around a pole (it comes
    back 360° away from its start) is closed along that pole's latitude."""
    lons, lats = ring[:, 0], ring[:, 1]
    jumps = np.diff(lons)
    shift = np.concatenate([[0.0], np.cumsum(np.where(np.abs(jumps) > 180, -360.0 * np.sign(jumps), 0.0))])
    out = np.column_stack([lons + shift, lats])
    if abs(out[-1, 0] - out[0, 0]) > 180:
        pole = -90.0 if lats.mean() < 0 else 90.0
        out = np.vstack([out, [[out[-1, 0], pole], [out[0, 0], pole]]])
    return out


def world_pieces(shell: np.ndarray, holes: list[np.ndarray]) -> list[shapely.Geometry]:
    """Return the parts of a polygon of unwrapped lon/lat rings within -180..180: the polygon
    cut by the world's box, and again shifted a turn east and west (what crossed the antimeridian)."""
    west, east = shell[:, 0].min(), shell[:, 0].max()
    # A hole sits inside its shell: shift it by whole turns to the shell's longitudes.
    placed = [hole + np.array([360.0 * round(((west + east) / 2 - hole[:, 0].mean()) / 360.0), 0.0]) for hole in holes]
    polygon = shapely.make_valid(shapely.Polygon(shell, placed))
    world = shapely.box(-180.0, -90.0, 180.0, 90.0)
    pieces = []
    for turns in (-1, 0, 1):
        piece = shapely.intersection(
            shapely.transform(polygon, lambda xy, t=turns: xy + np.array([360.0 * t, 0.0])), world
        )
        if not piece.is_empty:
            pieces.append(piece)
    return pieces


def topology_polygons(topology: dict[str, Any], name: str) -> list[shapely.Geometry]:
    """Return the land of object `name` (a Polygon, a MultiPolygon or a collection of them) as
    planar lon/lat pieces within -180..180, cut at the antimeridian."""
    arcs = decode_arcs(topology)
    obj = topology["objects"][name]
    geometries = obj["geometries"] if obj["type"] == "GeometryCollection" else [obj]
    polygons = []
    for geometry in geometries:
        if geometry["type"] == "Polygon":
            parts = [geometry["arcs"]]
        elif geometry["type"] == "MultiPolygon":
            parts = geometry["arcs"]
        else:
            continue
        for rings in parts:
            shell, *holes = (unwrap_ring(ring_positions(arcs, ring)) for ring in rings)
            polygons.extend(world_pieces(shell, holes))
    return polygons


@functools.cache
def land_polygons() -> shapely.Geometry:
    """Return Natural Earth's 110m land, read once per process; raise LandDataMissing without it."""
    try:
        topology = json.loads(LAND_FILE.read_text())
    except FileNotFoundError:
        raise LandDataMissing(f"the land data ({LAND_FILE.relative_to(ROOT)}) is missing: run make node") from None
    # make_valid: a few rings of the 110m file touch themselves, which contains_xy minds.
    land = shapely.make_valid(shapely.union_all(topology_polygons(topology, "land")))
    shapely.prepare(land)
    return land


@functools.cache
def land_mask(cell: float = CELL_DEGREES) -> LandMask:
    """Return the land raster at `cell` degrees, built once per process (about 10^6 cell centres
    tested against the prepared polygons)."""
    land = land_polygons()
    cols, rows = round(360 / cell), round(180 / cell)
    lons = -180.0 + (np.arange(cols) + 0.5) * cell
    lats = -90.0 + (np.arange(rows) + 0.5) * cell
    grid_lon, grid_lat = np.meshgrid(lons, lats)
    inside = shapely.contains_xy(land, grid_lon, grid_lat)
    # Near the coast: a cell next to a land cell (the 8 neighbours; longitude wraps around).
    padded = np.pad(inside, ((1, 1), (0, 0)))
    near = np.zeros_like(inside)
    for dr in (-1, 0, 1):
        for dc in (-1, 0, 1):
            near |= np.roll(padded, dc, axis=1)[1 + dr : 1 + dr + rows]
    return LandMask(land=inside, coast=near, cell=cell)
