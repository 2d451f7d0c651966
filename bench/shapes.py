"""Query areas of issue 9's benchmark, planar (over the 0..1000 square) and spherical (lon/lat).

Every shape encloses about the same area (20% of the planar square; a cap of 20% of the sphere),
so their times compare what the shape costs, not how many points it selects:

* circle: 1,000 vertices;
* star: 500 spikes (1,000 vertices), inner radius 0.6 of the outer one;
* squares: a MultiPolygon of 2,000 small squares (10,000 positions);
* walk: a polygon of 10,000 positions (the most a query may have) whose radius is a random walk around its centre.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

SHAPES = ("circle", "star", "squares", "walk")
SIDE = 1000.0  # the planar datasets cover [0, SIDE] x [0, SIDE]
FRACTION = 0.2


def _polar(radii: np.ndarray) -> np.ndarray:
    """Return (n, 2) offsets of a closed ring through the radii at evenly spaced angles."""
    t = np.linspace(0, 2 * math.pi, len(radii), endpoint=False)
    ring = np.column_stack([radii * np.cos(t), radii * np.sin(t)])
    return np.vstack([ring, ring[:1]])


def _radii(shape: str, area: float) -> np.ndarray:
    """Radii (before scaling to `area`) of the ring shapes, and the scale that gives them `area`."""
    if shape == "circle":
        radii = np.ones(1000)
    elif shape == "star":
        radii = np.tile([1.0, 0.6], 500)
    elif shape == "walk":
        steps = np.random.default_rng(9).normal(0, 0.03, 9_999)
        walk = np.cumsum(steps)
        walk -= np.linspace(0, walk[-1], len(walk))  # back to where it started
        radii = np.exp(walk - walk.mean())
    else:
        raise ValueError(shape)
    ring = _polar(radii)
    x, y = ring[:, 0], ring[:, 1]
    ring_area = 0.5 * abs(float(np.dot(x[:-1], y[1:]) - np.dot(x[1:], y[:-1])))
    return radii * math.sqrt(area / ring_area)


def planar(shape: str) -> dict[str, Any]:
    """Return the shape as a GeoJSON Polygon or MultiPolygon over the planar square."""
    area = FRACTION * SIDE * SIDE
    if shape == "squares":
        side = math.sqrt(area / 2000)
        cols, rows = 50, 40
        polygons = []
        for r in range(rows):
            for c in range(cols):
                x0 = (c + 0.5) * SIDE / cols - side / 2
                y0 = (r + 0.5) * SIDE / rows - side / 2
                polygons.append([[[x0, y0], [x0 + side, y0], [x0 + side, y0 + side], [x0, y0 + side], [x0, y0]]])
        return {"type": "MultiPolygon", "coordinates": polygons}
    ring = _polar(_radii(shape, area)) + SIDE / 2
    return {"type": "Polygon", "coordinates": [ring.tolist()]}


def _destination(lon0: float, lat0: float, bearing: np.ndarray, distance: np.ndarray) -> np.ndarray:
    """Return (n, 2) lon/lat of the points `distance` radians from (lon0, lat0) along `bearing`."""
    p0, l0 = math.radians(lat0), math.radians(lon0)
    lat = np.arcsin(math.sin(p0) * np.cos(distance) + math.cos(p0) * np.sin(distance) * np.cos(bearing))
    lon = l0 + np.arctan2(
        np.sin(bearing) * np.sin(distance) * math.cos(p0), np.cos(distance) - math.sin(p0) * np.sin(lat)
    )
    lon = (np.degrees(lon) + 540) % 360 - 180
    return np.column_stack([lon, np.degrees(lat)])


def spherical(shape: str) -> dict[str, Any]:
    """Return the shape on the sphere, centred at (10 E, 20 N), as a GeoJSON Polygon or MultiPolygon."""
    if shape == "squares":
        # 2,000 squares of 2 x 2 degrees between 60 S and 60 N.
        polygons = []
        for r in range(40):
            for c in range(50):
                x0 = -180 + (c + 0.5) * 7.2 - 1
                y0 = -60 + (r + 0.5) * 3 - 1
                polygons.append([[[x0, y0], [x0 + 2, y0], [x0 + 2, y0 + 2], [x0, y0 + 2], [x0, y0]]])
        return {"type": "MultiPolygon", "coordinates": polygons}
    # A cap of 20% of the sphere has an angular radius of acos(1 - 2 * 0.2); on the small scale the
    # shapes' radii are scaled like the planar ones, relative to the circle's.
    cap = math.acos(1 - 2 * FRACTION)
    radii = _radii(shape, math.pi) * cap  # unit-area scaling: the circle gets radius 1 * cap
    radii = np.minimum(radii, math.radians(80))  # every polygon must fit in a hemisphere
    bearings = np.linspace(0, 2 * math.pi, len(radii), endpoint=False)
    ring = _destination(10.0, 20.0, -bearings, radii)  # counter-clockwise seen from above
    ring = np.vstack([ring, ring[:1]])
    return {"type": "Polygon", "coordinates": [ring.tolist()]}
