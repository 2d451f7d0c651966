"""A ring's point test whose cost follows the edges near the points, not the whole ring.

GEOS's prepared point-in-polygon test (shapely's `intersects_xy`) costs grow with the edges a
horizontal line through the point crosses: ~30M points/s against a square, ~1M against a
1,000-vertex star (measured in bench/RESULTS.md). Points tested together mostly come close
together (a block of the embedded store is consecutive along a Z-order curve), so `covers_xy`
takes them in groups of GROUP consecutive points and works from the edges near each group:

* Only the edges whose boxes meet a segment's box (a run of points given together: a block) and
  whose lines cross it can matter; of those, only the ones that meet a group's box matter to it.
* A group's first point (its reference) is tested by GEOS (a few per cent of the points).
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
#: A sign is trusted when the determinant exceeds this share of its terms' magnitudes (Shewchuk's
#: bound for orient2d is ~3.3e-16).
ROUNDING = 1e-12
#: Beyond this many (point, edge) pairs per point, the points are handed to GEOS instead.
MAX_PAIRS_PER_POINT = 12


def _sides(left: FloatArray, right: FloatArray) -> tuple[BoolArray, BoolArray]:
    """Return where the determinant left - right, computed in floating point, is surely positive
    and where surely negative (neither: rounding could have changed its sign)."""
    det = left - right
    bound = np.abs(left)
    bound += np.abs(right)
    bound *= ROUNDING
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

    def covers_xy(self, xs: FloatArray, ys: FloatArray, starts: IntArray | None = None) -> BoolArray:
        """Return a mask of the points inside the ring or on it (see the module's notes).

        `starts` cuts the points into segments (where each block of the embedded store starts):
        groups never span two segments, and each segment's edges are looked up on their own."""
        n = len(xs)
        if n < MIN_POINTS or self.edges < MIN_EDGES:
            return self._geos(xs, ys)
        if starts is None or not len(starts) or starts[0] != 0:
            starts = np.concatenate([[0], starts if starts is not None else []]).astype(np.int64)
        ends = np.append(starts[1:], n)
        # Groups of GROUP points of one segment; a segment's last group is padded with copies of
        # its last point (same coordinates, same answer).
        per_segment = -(-(ends - starts) // GROUP)
        groups = int(per_segment.sum())
        first_group = np.cumsum(per_segment) - per_segment
        take = None
        if n == groups * GROUP:  # segments of whole groups (blocks of 4,096): no copy
            gx, gy = xs.reshape(groups, GROUP), ys.reshape(groups, GROUP)
        else:
            segment = np.repeat(np.arange(len(starts)), per_segment)
            first = starts[segment] + (np.arange(groups) - first_group[segment]) * GROUP
            take = np.minimum(first[:, None] + np.arange(GROUP), (ends[segment] - 1)[:, None])
            gx, gy = xs[take], ys[take]
        boxes = gx.min(axis=1), gy.min(axis=1), gx.max(axis=1), gy.max(axis=1)
        group, edge, whole = self._meeting(first_group, per_segment, boxes)
        if len(group) * GROUP > MAX_PAIRS_PER_POINT * n:  # spread-out points: GEOS it is
            return self._geos(xs, ys)
        found = np.repeat(self._geos(gx[:, 0], gy[:, 0]), GROUP).reshape(groups, GROUP)
        unsure = np.zeros((groups, GROUP), dtype=bool)
        unsure[whole] = True
        if len(group):
            flips, doubt = self._flips(
                edge, gx[group], gy[group], (boxes[0][group], boxes[1][group], boxes[2][group], boxes[3][group])
            )
            dirty, at = np.unique(group, return_index=True)
            found[dirty] ^= np.add.reduceat(flips, at, axis=0) % 2 == 1
            unsure[dirty] |= np.logical_or.reduceat(doubt, at, axis=0)
        redo = np.flatnonzero(unsure)
        if len(redo):
            found.ravel()[redo] = self._geos(gx.ravel()[redo], gy.ravel()[redo])
        if take is None:
            return found.ravel()
        out = np.empty(n, dtype=bool)
        out[take.ravel()] = found.ravel()
        return out

    def _geos(self, xs: FloatArray, ys: FloatArray) -> BoolArray:
        mask: BoolArray = shapely.intersects_xy(self.polygon, xs, ys)
        return mask

    def _meeting(
        self,
        first_group: IntArray,
        per_segment: IntArray,
        boxes: tuple[FloatArray, FloatArray, FloatArray, FloatArray],
    ) -> tuple[IntArray, IntArray, IntArray]:
        """Return (group, edge) index pairs, ordered by group, of the edges that may meet each
        group's box (those whose own box meets it, less those with the box wholly on one side of
        their line), and the groups whose segment has too many edges near it (GEOS tests them)."""
        gx0, gy0, gx1, gy1 = boxes
        lo, hi = self._lo, self._hi
        groups: list[IntArray] = []
        edges: list[IntArray] = []
        whole: list[IntArray] = []
        for start, count in zip(first_group.tolist(), per_segment.tolist(), strict=True):
            stop = start + count
            x0, y0 = gx0[start:stop], gy0[start:stop]
            x1, y1 = gx1[start:stop], gy1[start:stop]
            # The edges near the segment (whose boxes meet the segment's box), then each group's.
            bx0, by0, bx1, by1 = x0.min(), y0.min(), x1.max(), y1.max()
            near = np.flatnonzero((hi[:, 0] >= bx0) & (lo[:, 0] <= bx1) & (hi[:, 1] >= by0) & (lo[:, 1] <= by1))
            if len(near) > max(MAX_NEAR * self.edges, MIN_EDGES):
                whole.append(np.arange(start, stop))
                continue
            near = near[self._crosses_box(near, bx0, by0, bx1, by1)]
            nlo, nhi = lo[near, :, None], hi[near, :, None]
            meets = (nhi[:, 0] >= x0) & (nlo[:, 0] <= x1) & (nhi[:, 1] >= y0) & (nlo[:, 1] <= y1)
            box, which = np.nonzero(meets.T)
            groups.append(box + start)
            edges.append(near[which])
        group = np.concatenate(groups) if groups else np.zeros(0, dtype=np.int64)
        edge = np.concatenate(edges) if edges else np.zeros(0, dtype=np.int64)
        keep = self._crosses_box(edge, gx0[group], gy0[group], gx1[group], gy1[group])
        return group[keep], edge[keep], np.concatenate(whole) if whole else np.zeros(0, dtype=np.int64)

    def _crosses_box(self, edge: IntArray, x0: FloatArray, y0: FloatArray, x1: FloatArray, y1: FloatArray) -> BoolArray:
        """Return which edges' lines do not have the box (x0, y0, x1, y1) wholly on one side."""
        ax, ay = self._ax[edge], self._ay[edge]
        dx, dy = self._bx[edge] - ax, self._by[edge] - ay
        # The line's value dx * (y - ay) - dy * (x - ax) is largest and smallest at two corners.
        top, bottom = np.where(dx > 0, y1, y0), np.where(dx > 0, y0, y1)
        west, east = np.where(dy > 0, x0, x1), np.where(dy > 0, x1, x0)
        above, _ = _sides(dx * (bottom - ay), dy * (east - ax))  # its smallest value is > 0
        _, below = _sides(dx * (top - ay), dy * (west - ax))  # its largest value is < 0
        crosses: BoolArray = ~above & ~below
        return crosses

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
        x0, y0, x1, y1 = boxes
        ax, ay = self._ax[edge], self._ay[edge]
        dx, dy = self._bx[edge] - ax, self._by[edge] - ay
        # One rounding bound per pair, from the largest terms anywhere in the group's box (at
        # least each point's own: the bound is only ever looser, sending more points to GEOS).
        bound = np.abs(dx) * np.maximum(np.abs(y0 - ay), np.abs(y1 - ay))
        bound += np.abs(dy) * np.maximum(np.abs(x0 - ax), np.abs(x1 - ax))
        bound *= ROUNDING
        det = dx[:, None] * (gy - ay[:, None])
        det -= dy[:, None] * (gx - ax[:, None])
        pos = det > bound[:, None]
        neg = det < -bound[:, None]
        doubt = ~(pos | neg)
        # Decided sides that differ are a crossing (a doubtful side sends the point to GEOS).
        flips = pos ^ pos[:, :1]
        # An edge with an end inside the group's box: the segment's own signs decide as well.
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
        doubt[:, 0] = ~(pos[:, 0] | neg[:, 0])
        doubt |= doubt[:, :1]
        return flips.view(np.int8), doubt
