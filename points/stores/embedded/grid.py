"""The grid file of a dataset version: every point's fine cell and coordinates, for overviews.

A file `grid` in the version directory, written by the import along with the sections (or, for a
version written before grid files existed, at its first overview), points in block order:

    header   128 bytes: magic, point count, the bounds the fine cells are over, and the
             xxh3-64 digest of each of the four arrays
    x        float64[n]
    y        float64[n]
    gx       uint16[n]   points.overview.fine_cells(x) over the bounds
    gy       uint16[n]

20 bytes a point. A process maps the file and checks its digests once (a damaged file is refused
with DamagedBlock, and the overview fails rather than miscount); it then counts from the map.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import struct
import threading
import time
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import xxhash

from points.batches import Bounds, FloatArray
from points.overview import FineGrid, fine_cells
from points.stores.embedded.blockfile import damaged

NAME = "grid"
_MAGIC = b"pointsite-grid-1"
_HEADER = struct.Struct("<16sQ4d4Q")
_HEADER_SIZE = 128
# Grid files kept mapped by this process (the most recently used).
_MAPPED = 8


def _layout(n: int) -> list[tuple[int, np.dtype]]:
    """Return the (offset, dtype) of x, y, gx and gy in a file of n points."""
    f64, u16 = np.dtype(np.float64), np.dtype(np.uint16)
    return [
        (_HEADER_SIZE, f64),
        (_HEADER_SIZE + 8 * n, f64),
        (_HEADER_SIZE + 16 * n, u16),
        (_HEADER_SIZE + 18 * n, u16),
    ]


class GridWriter:
    """Writes a version's grid file, block after block (then `finish` publishes it)."""

    def __init__(self, directory: Path, count: int, bounds: Bounds) -> None:
        self.path = directory / NAME
        self.count = count
        self.bounds = bounds
        self._tmp = directory / f".{NAME}.{uuid.uuid4().hex[:8]}"
        self._fd = os.open(self._tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        self._hashes = [xxhash.xxh3_64() for _ in range(4)]
        self._written = 0

    def add(self, xs: FloatArray, ys: FloatArray) -> None:
        """Append the next block's points."""
        min_x, min_y, max_x, max_y = self.bounds
        arrays: tuple[npt.NDArray[Any], ...] = (
            np.ascontiguousarray(xs, dtype=np.float64),
            np.ascontiguousarray(ys, dtype=np.float64),
            fine_cells(xs, min_x, max_x),
            fine_cells(ys, min_y, max_y),
        )
        for (offset, dtype), array, hasher in zip(_layout(self.count), arrays, self._hashes, strict=True):
            data = array.tobytes()
            os.pwrite(self._fd, data, offset + self._written * dtype.itemsize)
            hasher.update(data)
        self._written += len(xs)

    def finish(self) -> None:
        """Write the header, flush the file to disk and put it in place."""
        if self._written != self.count:
            raise ValueError(f"the grid got {self._written} points, not {self.count}")
        header = _HEADER.pack(_MAGIC, self.count, *self.bounds, *(h.intdigest() for h in self._hashes))
        os.pwrite(self._fd, header.ljust(_HEADER_SIZE, b"\0"), 0)
        os.fsync(self._fd)
        os.close(self._fd)
        self._fd = -1
        os.replace(self._tmp, self.path)

    def close(self) -> None:
        """Give up an unfinished file."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            with contextlib.suppress(FileNotFoundError):
                self._tmp.unlink()


_lock = threading.Lock()
# Grid files mapped by this process: (path, its stat key) -> (grid, last use). A map holds the
# file open (mmap keeps a descriptor), so maps of files replaced or deleted are dropped at the next
# open_grid, maps unused for _IDLE seconds too, and `forget` drops a version's at once.
_mapped: OrderedDict[tuple[Path, tuple[int, int, int, int]], tuple[FineGrid, float]] = OrderedDict()
_IDLE = 300.0


def _stat_key(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _sweep(now: float) -> None:
    """Drop the maps of files no longer there (or changed), and those unused for a while."""
    for path, key in list(_mapped):
        try:
            fresh = _stat_key(os.stat(path)) == key
        except OSError:
            fresh = False
        if not fresh or now - _mapped[path, key][1] > _IDLE:
            del _mapped[path, key]


def forget(directory: Path) -> None:
    """Drop this process's maps of the grid file in `directory` (a version being removed)."""
    with _lock:
        for path, key in list(_mapped):
            if path.parent == directory:
                del _mapped[path, key]


def open_grid(path: Path, dataset: str, count: int | None = None, *, cached: bool = True) -> FineGrid:
    """Return the points of a grid file, mapped (raise FileNotFoundError if it is not there,
    DamagedBlock if it is not as written, or does not hold `count` points). Without `cached`,
    the file is read and checked again even if this process has it mapped (check_points)."""
    now = time.monotonic()
    with open(path, "rb") as f:
        key = _stat_key(os.fstat(f.fileno()))
        with _lock:
            _sweep(now)
            if cached and (path, key) in _mapped:
                grid = _mapped[path, key][0]
                _mapped[path, key] = (grid, now)
                _mapped.move_to_end((path, key))
                return _counted(grid, dataset, count)
        if key[2] < _HEADER_SIZE:
            raise damaged(dataset, f"its grid file is {key[2]:,} bytes, shorter than its header")
        mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    magic, held, *rest = _HEADER.unpack_from(mapped, 0)
    bounds, digests = tuple(rest[:4]), rest[4:]
    if magic != _MAGIC or key[2] != _HEADER_SIZE + 20 * held:
        mapped.close()
        raise damaged(dataset, "its grid file's header is not one this store wrote")
    arrays = []
    for (offset, dtype), digest in zip(_layout(held), digests, strict=True):
        array = np.frombuffer(mapped, dtype=dtype, count=held, offset=offset)
        if xxhash.xxh3_64_intdigest(array.data) != digest:
            raise damaged(dataset, "its grid file does not match its checksums")
        arrays.append(array)
    xs, ys, gx, gy = arrays
    grid = FineGrid(bounds, gx, gy, xs, ys)
    with _lock:
        _mapped[path, key] = (grid, now)
        while len(_mapped) > _MAPPED:
            _mapped.popitem(last=False)
    return _counted(grid, dataset, count)


def _counted(grid: FineGrid, dataset: str, count: int | None) -> FineGrid:
    """Return the grid if it holds `count` points (or `count` is None); raise DamagedBlock."""
    if count is not None and len(grid.xs) != count:
        raise damaged(dataset, f"its grid file holds {len(grid.xs):,} points, its index {count:,}")
    return grid
