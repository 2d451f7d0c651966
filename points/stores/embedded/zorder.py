"""Z-order (Morton) codes over a dataset's bounds, and the sort keys that order points by them."""

from __future__ import annotations

from typing import Any

import numpy as np

from points.batches import Bounds, FloatArray, IntArray

#: Z-order resolution per axis
MORTON_BITS = 16
#: bits of a sort key that number the points in arrival order, after the code's 32 bits
ARRIVAL_BITS = 31
#: the most points one dataset may hold (each needs its own arrival number in a sort key)
MAX_POINTS = 1 << ARRIVAL_BITS


def morton(xs: FloatArray, ys: FloatArray, bounds: Bounds) -> IntArray:
    """Return the Z-order code of each point on a 2^16 x 2^16 grid over `bounds`."""
    min_x, min_y, max_x, max_y = bounds
    scale = (1 << MORTON_BITS) - 1
    span_x = max_x - min_x or 1.0
    span_y = max_y - min_y or 1.0
    gx = np.clip(((xs - min_x) / span_x * scale), 0, scale).astype(np.uint64)
    gy = np.clip(((ys - min_y) / span_y * scale), 0, scale).astype(np.uint64)
    return (_spread(gx) | (_spread(gy) << np.uint64(1))).astype(np.int64)


def sort_keys(xs: FloatArray, ys: FloatArray, bounds: Bounds, first: int) -> IntArray:
    """Return keys that order points by Z-order code, then by arrival (`first` is the first
    point's number, below MAX_POINTS): all distinct, so even points sharing one code (a dense
    cluster far from an outlier) can be split into ranges of bounded size."""
    arrival = np.arange(first, first + len(xs), dtype=np.int64)
    return (morton(xs, ys, bounds) << np.int64(ARRIVAL_BITS)) | arrival


def _spread(v: Any) -> Any:
    # Put a zero bit between each of the 16 low bits (the classic bit-interleave steps).
    v = (v | (v << np.uint64(8))) & np.uint64(0x00FF00FF)
    v = (v | (v << np.uint64(4))) & np.uint64(0x0F0F0F0F)
    v = (v | (v << np.uint64(2))) & np.uint64(0x33333333)
    return (v | (v << np.uint64(1))) & np.uint64(0x55555555)
