"""A ring's point test whose cost follows the edges near the points, not the whole ring.

GEOS's prepared point-in-polygon test (shapely's `intersects_xy`) costs grow with the edges a
horizontal line through the point crosses: ~30M points/s against a square, ~1M against a
1,000-vertex star (measured in bench/RESULTS.md). Points tested together mostly come close
together (a block of the embedded store is consecutive along a Z-order curve), so `covers_xy`
takes them in groups of GROUP consecutive points and works from the edges near each group:

* Only the edges whose boxes meet the points' box (grown by a margin) can matter; with none,
  every point is where the first one is.
* A group's first point (its reference) is tested by GEOS.
* Every other point is where its reference is, flipped by each edge that separates them. An edge
  with both ends outside the group's box crosses all of it, so being on opposite sides of its line
  is a crossing; an edge ending inside the box also needs the segment's own signs.

Every sign is an orientation determinant in floating point, taken as known only when it is far
above its rounding-error bound (Shewchuk's bound for orient2d, times a thousand); a point whose
answer rests on a sign in doubt (one on an edge or on a vertex, a segment through a vertex) is
tested by GEOS. The boundary rule is GEOS's: a point on the ring is covered.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import shapely

from points.batches import BoolArray, FloatArray, IntArray

#: Points tested together in a group (see covers_xy).
GROUP = 32
#: Fewer points than this are handed to GEOS at once.
MIN_POINTS = 64
#: Rings with fewer edges go to GEOS whole (it is as fast as the grouping then).
MIN_EDGES = 8
#: When more than this share of a ring's edges is near the points (points spread over much of
#: the ring: the grouping cannot help), GEOS tests them.
MAX_NEAR = 0.25
#: Beyond this many (point, edge) pairs per point, the points are handed to GEOS instead.
MAX_PAIRS_PER_POINT = 12


def _sides(left: FloatArray, right: FloatArray) -> tuple[BoolArray, BoolArray]:
    """Return where the determinant left - right, computed in floating point, is surely positive
    and where surely negative (neither: rounding could have changed its sign)."""
    det = left - right
    bound = np.abs(left)
    bound += np.abs(right)
    bound *= 1e-12
    return det > bound, det < -bound


class Ring:
    """One closed ring in a plane, prepared for point tests."""

    def __init__(self, coords: FloatArray) -> None:
        self.coords = np.ascontiguousarray(coords, dtype=np.float64)
        self.polygon = shapely.Polygon(self.coords)
        shapely.prepare(self.polygon)
        a, b = self.coords[:-1], self.coords[1:]
        self._lo = np.minimum(a, b)
        self._hi = np.maximum(a, b)
        self._ax, self._ay = a[:, 0].copy(), a[:, 1].copy()
        self._bx, self._by = b[:, 0].copy(), b[:, 1].copy()

    @property
    def edges(self) -> int:
        """Return the number of edges."""
        return len(self._lo)

    def covers_xy(self, xs: FloatArray, ys: FloatArray) -> BoolArray:
        """Return a mask of the points inside the ring or on it (see the module's notes)."""
        n = len(xs)
        if n < MIN_POINTS or self.edges < MIN_EDGES:
            return self._geos(xs, ys)
        x0, y0, x1, y1 = float(xs.min()), float(ys.min()), float(xs.max()), float(ys.max())
        pad = max(0.01 * max(x1 - x0, y1 - y0), 1e-9 * max(abs(x0), abs(y0), abs(x1), abs(y1), 1.0))
        lo, hi = self._lo, self._hi
        near = np.flatnonzero(
            (hi[:, 0] >= x0 - pad) & (lo[:, 0] <= x1 + pad) & (hi[:, 1] >= y0 - pad) & (lo[:, 1] <= y1 + pad)
        )
        if not len(near):  # no edge near: every point is where the first one is
            return np.full(n, bool(self._geos(xs[:1], ys[:1])[0]))
        if len(near) > MAX_NEAR * self.edges:
            return self._geos(xs, ys)
        # Groups of GROUP points (the last one padded with copies of the last point).
        groups = -(-n // GROUP)
        px = np.empty(groups * GROUP)
        py = np.empty(groups * GROUP)
        px[:n], px[n:] = xs, xs[-1]
        py[:n], py[n:] = ys, ys[-1]
        gx, gy = px.reshape(groups, GROUP), py.reshape(groups, GROUP)
        boxes = gx.min(axis=1), gy.min(axis=1), gx.max(axis=1), gy.max(axis=1)
        group, edge = self._meeting(near, *boxes)
        if len(group) * GROUP > MAX_PAIRS_PER_POINT * n:  # spread-out points: GEOS it is
            return self._geos(xs, ys)
        found = np.repeat(self._geos(gx[:, 0], gy[:, 0]), GROUP).reshape(groups, GROUP)
        if len(group):
            flips, doubt = self._flips(
                edge, gx[group], gy[group], (boxes[0][group], boxes[1][group], boxes[2][group], boxes[3][group])
            )
            dirty, first = np.unique(group, return_index=True)
            found[dirty] ^= np.add.reduceat(flips, first, axis=0) % 2 == 1
            unsure = np.zeros((groups, GROUP), dtype=bool)
            unsure[dirty] = np.logical_or.reduceat(doubt, first, axis=0)
            redo = np.flatnonzero(unsure.ravel()[:n])
            if len(redo):
                found.ravel()[redo] = self._geos(xs[redo], ys[redo])
        return found.ravel()[:n]

    def _geos(self, xs: FloatArray, ys: FloatArray) -> BoolArray:
        mask: BoolArray = shapely.intersects_xy(self.polygon, xs, ys)
        return mask

    def _meeting(
        self, near: IntArray, gx0: FloatArray, gy0: FloatArray, gx1: FloatArray, gy1: FloatArray
    ) -> tuple[IntArray, IntArray]:
        """Return (box, edge) index pairs, ordered by box, of the edges (among `near`) that may
        meet each box: those whose own box meets it, less those with the box wholly on one side
        of their line."""
        lo, hi = self._lo[near, :, None], self._hi[near, :, None]
        meets = (hi[:, 0] >= gx0) & (lo[:, 0] <= gx1) & (hi[:, 1] >= gy0) & (lo[:, 1] <= gy1)
        box, which = np.nonzero(meets.T)
        edge = near[which]
        ax, ay = self._ax[edge], self._ay[edge]
        dx, dy = self._bx[edge] - ax, self._by[edge] - ay
        # The line's value dx * (y - ay) - dy * (x - ax) is largest and smallest at two corners.
        top, bottom = np.where(dx > 0, gy1[box], gy0[box]), np.where(dx > 0, gy0[box], gy1[box])
        west, east = np.where(dy > 0, gx0[box], gx1[box]), np.where(dy > 0, gx1[box], gx0[box])
        above, _ = _sides(dx * (bottom - ay), dy * (east - ax))  # its smallest value is > 0
        _, below = _sides(dx * (top - ay), dy * (west - ax))  # its largest value is < 0
        keep = ~above & ~below
        return box[keep], edge[keep]

    def _flips(
        self,
        edge: IntArray,
        gx: FloatArray,
        gy: FloatArray,
        boxes: tuple[FloatArray, FloatArray, FloatArray, FloatArray],
    ) -> tuple[npt.NDArray[np.int8], BoolArray]:
        """For (edge, group) pairs, their groups' points (rows of gx, gy; the first point of a row
        is the group's reference) and boxes, return whether the segment from the reference to
        each point properly crosses the edge, and whether a sign was in doubt."""
        ax, ay = self._ax[edge, None], self._ay[edge, None]
        dx, dy = self._bx[edge, None] - ax, self._by[edge, None] - ay
        pos, neg = _sides(dx * (gy - ay), dy * (gx - ax))
        flips = (pos & neg[:, :1]) | (neg & pos[:, :1])
        doubt = ~pos & ~neg
        # An edge with an end inside the group's box: the segment's own signs decide as well.
        x0, y0, x1, y1 = boxes
        ends = np.zeros(len(edge), dtype=bool)
        for vx, vy in ((self._ax[edge], self._ay[edge]), (self._bx[edge], self._by[edge])):
            ends |= (vx >= x0) & (vx <= x1) & (vy >= y0) & (vy <= y1)
        rows = np.flatnonzero(ends)
        if len(rows):
            rx, ry = gx[rows, :1], gy[rows, :1]
            ux, uy = gx[rows] - rx, gy[rows] - ry
            e = edge[rows, None]
            a_pos, a_neg = _sides(ux * (self._ay[e] - ry), uy * (self._ax[e] - rx))
            b_pos, b_neg = _sides(ux * (self._by[e] - ry), uy * (self._bx[e] - rx))
            flips[rows] &= (a_pos & b_neg) | (a_neg & b_pos)
            doubt[rows] |= (~a_pos & ~a_neg) | (~b_pos & ~b_neg)
        # The reference never crosses to itself; a doubt about its own side is a doubt for all.
        flips[:, 0] = False
        doubt[:, 0] = ~pos[:, 0] & ~neg[:, 0]
        doubt |= doubt[:, :1]
        return flips.astype(np.int8), doubt
