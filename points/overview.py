"""Density grids of points (`GET …/overview`): the request's grid, and exact counts (no Django).

Cell (r, c) of a grid over bbox (min_x, min_y, max_x, max_y) with `width` columns and `height`
rows counts the points with edge_x[c] <= x < edge_x[c + 1] and edge_y[r] <= y < edge_y[r + 1],
the edges being `numpy.linspace(min, max, cells + 1)`, and the last column and row closed (x ==
max_x is in the last column), as `numpy.histogram2d` counts with those edges. Row 0 is at the
lowest y. Points outside the bbox are not counted.

Two ways to count, with the same answer:

* `histogram`: from the coordinates, by binary search in the edges (any store can do it);
* `FineGrid.histogram`: from each point's cell on a fixed 65,536 x 65,536 grid over the dataset's
  bounds (two uint16 per point, kept by the embedded store). The fine cell is a monotone function
  of the coordinate, so a point whose fine column is not the fine column of any edge is surely
  between the two edges around it: a lookup table of 65,536 entries per axis gives its cell. Only
  the points in fine columns or rows that hold an edge (~(width + height) / 65,536 of them) are
  placed by their coordinates. That is a few passes over two uint16 arrays instead of a binary
  search per point (measured ~4x faster at 5M points, bench/RESULTS.md).
"""

from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from points.batches import Bounds, FloatArray, IntArray

#: The most columns or rows an overview may have.
MAX_CELLS = 2048
#: The fine grid's resolution per axis (its cells are numbered 0 .. FINE_CELLS - 1).
FINE_CELLS = 1 << 16

U16Array = npt.NDArray[np.uint16]


class GridError(ValueError):
    """The requested grid is not one we can count; the message says why."""


@dataclass(frozen=True, slots=True)
class Grid:
    """The cells an overview counts points in."""

    bbox: Bounds
    width: int
    height: int

    def edges(self) -> tuple[FloatArray, FloatArray]:
        """Return the column and row edges (width + 1 and height + 1 of them)."""
        min_x, min_y, max_x, max_y = self.bbox
        return np.linspace(min_x, max_x, self.width + 1), np.linspace(min_y, max_y, self.height + 1)


def _integer(value: str | None, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    if not value.isdigit() or not 1 <= int(value) <= MAX_CELLS:
        raise GridError(f"{name} must be a whole number from 1 to {MAX_CELLS}, got {value[:40]!r}")
    return int(value)


def parse_grid(width: str | None, height: str | None, bbox: str | None, bounds: Bounds | None) -> Grid:
    """Return the grid the query parameters ask for (bbox defaults to the dataset's bounds)."""
    w = _integer(width, "width", 256)
    h = _integer(height, "height", 256)
    if bbox is None or bbox == "":
        if bounds is None:
            return Grid((0.0, 0.0, 1.0, 1.0), w, h)
        min_x, min_y, max_x, max_y = bounds
        # As numpy.histogram2d does with a range of zero width.
        if min_x == max_x:
            min_x, max_x = min_x - 0.5, max_x + 0.5
        if min_y == max_y:
            min_y, max_y = min_y - 0.5, max_y + 0.5
        return Grid((min_x, min_y, max_x, max_y), w, h)
    parts = bbox.split(",")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise GridError(f"bbox must be 4 numbers min_x,min_y,max_x,max_y, got {bbox[:80]!r}") from None
    if len(numbers) != 4 or not all(math.isfinite(v) for v in numbers):
        raise GridError(f"bbox must be 4 finite numbers min_x,min_y,max_x,max_y, got {bbox[:80]!r}")
    min_x, min_y, max_x, max_y = numbers
    if not (min_x < max_x and min_y < max_y):
        raise GridError(f"bbox must have min_x < max_x and min_y < max_y, got {bbox[:80]!r}")
    return Grid((min_x, min_y, max_x, max_y), w, h)


def _cells(values: FloatArray, edges: FloatArray) -> IntArray:
    """Return each value's cell among the edges (the last one closed), or -1 outside them."""
    cells: IntArray = np.searchsorted(edges, values, side="right") - 1
    last = len(edges) - 2
    cells[values == edges[-1]] = last
    cells[(cells < 0) | (cells > last)] = -1
    return cells


def _flat_cells(xs: FloatArray, ys: FloatArray, grid: Grid) -> IntArray:
    """Return each point's cell as row * width + column, by its coordinates; -1 outside the grid."""
    x_edges, y_edges = grid.edges()
    columns = _cells(xs, x_edges)
    rows = _cells(ys, y_edges)
    flat: IntArray = np.where((columns >= 0) & (rows >= 0), rows * grid.width + columns, -1)
    return flat


def accumulate(counts: IntArray, xs: FloatArray, ys: FloatArray, grid: Grid) -> None:
    """Add the points to (height, width) counts, by their coordinates."""
    flat = _flat_cells(xs, ys, grid)
    np.add.at(counts.reshape(-1), flat[flat >= 0], 1)


def histogram(xs: FloatArray, ys: FloatArray, grid: Grid) -> IntArray:
    """Return the (height, width) counts of the points, by their coordinates."""
    flat = _flat_cells(xs, ys, grid)
    counts: IntArray = np.bincount(flat[flat >= 0], minlength=grid.width * grid.height)
    return counts.reshape(grid.height, grid.width)


def fine_cells(values: FloatArray, low: float, high: float) -> U16Array:
    """Return each value's fine cell over [low, high] (clipped to the grid: a monotone function)."""
    scale = FINE_CELLS - 1
    cells: U16Array = np.clip((values - low) / ((high - low) or 1.0) * scale, 0, scale).astype(np.uint16)
    return cells


def _lookup(edges: FloatArray, low: float, high: float, stride: int, outside: int, doubt: int) -> IntArray:
    """Return, for every fine cell, stride times the grid cell all its points fall in; `outside`
    when they are all outside the edges; `doubt` when an edge falls in it."""
    edge_cells = fine_cells(edges, low, high).astype(np.int64)
    fine = np.arange(FINE_CELLS)
    # Edges whose fine cell is below a fine cell f: all of f's points are above those edges.
    below = np.searchsorted(edge_cells, fine, side="left")
    table = np.where((below >= 1) & (below <= len(edges) - 1), (below - 1) * stride, outside)
    table[edge_cells] = doubt
    return table


@dataclass(frozen=True, slots=True)
class FineGrid:
    """Points' fine cells (gx, gy) over `bounds`, and their coordinates for the doubtful ones."""

    bounds: Bounds
    gx: U16Array
    gy: U16Array
    xs: FloatArray
    ys: FloatArray

    def histogram(self, grid: Grid, ranges: list[tuple[int, int]] | None = None) -> IntArray:
        """Return the (height, width) counts of the points (those in the index `ranges` only,
        if given), on up to two threads (the passes are long numpy loops that release the GIL)."""
        cells = grid.width * grid.height
        x_edges, y_edges = grid.edges()
        low_x, low_y, high_x, high_y = self.bounds
        # Sums below `cells` are cells; from `cells` to 3 * cells a doubt; 4 * cells and up, outside.
        columns = _lookup(x_edges, low_x, high_x, 1, 4 * cells, cells)
        rows = _lookup(y_edges, low_y, high_y, grid.width, 4 * cells, cells)
        spans = [(0, len(self.gx))] if ranges is None else ranges
        pieces = [(s, min(s + _CHUNK, e)) for s, e in spans for s in range(s, e, _CHUNK)]
        halves = [pieces[: len(pieces) // 2], pieces[len(pieces) // 2 :]]
        parts = list(_POOL.map(lambda part: self._count(part, columns, rows, cells), halves))
        counts = parts[0][0]
        counts += parts[1][0]
        doubtful = np.concatenate([parts[0][1], parts[1][1]])
        if len(doubtful):
            flat = _flat_cells(self.xs[doubtful], self.ys[doubtful], grid)
            np.add.at(counts, flat[flat >= 0], 1)
        return counts[:cells].reshape(grid.height, grid.width)

    def _count(
        self, pieces: list[tuple[int, int]], columns: IntArray, rows: IntArray, cells: int
    ) -> tuple[IntArray, IntArray]:
        """Return the counts (cells + 1 of them, the last one unused) of the points in `pieces`,
        but for the doubtful ones, whose positions are returned."""
        counts = np.zeros(cells + 1, dtype=np.int64)
        flat = np.empty(_CHUNK, dtype=np.int64)
        other = np.empty(_CHUNK, dtype=np.int64)
        doubtful = [np.empty(0, dtype=np.int64)]
        for start, stop in pieces:
            f, o = flat[: stop - start], other[: stop - start]
            np.take(columns, self.gx[start:stop], out=f)
            np.take(rows, self.gy[start:stop], out=o)
            f += o
            doubt = np.flatnonzero((f >= cells) & (f < 4 * cells))
            if len(doubt):
                doubtful.append(doubt + start)
            np.minimum(f, cells, out=f)
            np.add.at(counts, f, 1)
        return counts, np.concatenate(doubtful)


# Points counted per pass: buffers of 4 MB that stay in cache and are reused (fresh 40 MB arrays
# for 5M points cost more in page faults than the counting).
_CHUNK = 1 << 19
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="pointsite-overview")
