"""The embedded point store: Z-ordered columnar point blocks in a data file, indexed in SQLite.

Why this layout (measured on the 2-core dev machine, see bench/RESULTS.md): a row per point
behind an R*Tree builds at ~86k rows/s and streams ~2.5M rows/s, far from the targets. Here the
points of a dataset are sorted along a Z-order (Morton) curve over its bounds and cut into blocks
of at most BLOCK_POINTS points. Each block keeps numpy coordinate columns and the points'
NDJSON lines, encoded once at import, back to back in one data file per dataset. The blocks'
bounding boxes and file offsets sit in a SQLite table that is the spatial index: a query
classifies the boxes against the polygon (inside / outside / straddling), sends inside blocks'
bytes as they are, and tests only the straddling blocks' points with shapely's vectorized
`intersects_xy`. Streaming is then mostly copying bytes.

Bulk data lives beside SQLite, not in it: SQLite's WAL would write every byte twice and read
big blobs through overflow-page chains, which measured 2-3x slower to import.

An insert stages the incoming batches (in memory, or a scratch file past GROUP_POINTS), writes
the data file, then records its blocks in one SQLite transaction: readers never see half a
dataset, and a failed import leaves nothing behind. A stream holds its data file open, so a
dataset dropped meanwhile is still read to the end (the file is unlinked, not truncated).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from points.geometry import Area
from points.ndjson import IntArray, encode_points, select_lines
from points.stores.base import (
    Bounds,
    Chunk,
    DatasetExists,
    DatasetNotFound,
    FloatArray,
    GeometryKind,
    PointBatch,
    PointStore,
    StoreError,
)

BLOCK_POINTS = 4096
# Z-order resolution per axis.
_MORTON_BITS = 16
# Files of an import that died are removed when a store opens and they are this old (seconds).
_ORPHAN_AGE = 3600
# The layout this code reads and writes (SQLite's user_version of the index file).
SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS datasets (
    name TEXT PRIMARY KEY,
    geometry TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 0,
    min_x REAL, min_y REAL, max_x REAL, max_y REAL,
    loaded INTEGER NOT NULL DEFAULT 0,
    data_file TEXT
);
CREATE TABLE IF NOT EXISTS blocks (
    dataset TEXT NOT NULL,
    seq INTEGER NOT NULL,
    n INTEGER NOT NULL,
    min_x REAL NOT NULL, min_y REAL NOT NULL, max_x REAL NOT NULL, max_y REAL NOT NULL,
    pos INTEGER NOT NULL,
    lines_size INTEGER NOT NULL,
    PRIMARY KEY (dataset, seq)
);
"""


class SQLiteStore(PointStore):
    """Points in data files beside one SQLite index file (WAL: many readers while one writes)."""

    schemes = ("sqlite",)

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.path.parent / f"{self.path.name}.blocks"
        self.data_dir.mkdir(exist_ok=True)
        self._local = threading.local()
        with contextlib.closing(self._connect()) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            has_tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'datasets'").fetchone()[0]
            if has_tables and version != SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} was written by another version of pointsite (layout {version}, this one reads "
                    f"{SCHEMA_VERSION}); move it away and import the datasets again"
                )
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            self._remove_orphans(conn)

    @classmethod
    def from_url(cls, url: str) -> SQLiteStore:
        """Return a store for `sqlite:///relative/path` or `sqlite:////absolute/path`."""
        # As in SQLAlchemy: the path follows the third slash.
        path = url.split("://", 1)[1]
        if path.startswith("/"):
            path = path[1:]
        if not path:
            raise StoreError("a sqlite:// store URL needs a file path, e.g. sqlite:///var/points.sqlite3")
        return cls(path)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @property
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._connect()
            self._local.conn = conn
        return conn

    def _row(self, dataset: str, conn: sqlite3.Connection | None = None) -> tuple[Any, ...]:
        row = (
            (conn or self._conn)
            .execute(
                "SELECT geometry, count, min_x, min_y, max_x, max_y, loaded, data_file FROM datasets WHERE name = ?",
                (dataset,),
            )
            .fetchone()
        )
        if row is None:
            raise DatasetNotFound(f"the point store has no dataset {dataset!r}")
        return tuple(row)

    def _remove_orphans(self, conn: sqlite3.Connection) -> None:
        # Data files no dataset points to are left by imports that were killed; an import still
        # running touches its file all the time, so only old ones are removed.
        known = {r[0] for r in conn.execute("SELECT data_file FROM datasets WHERE data_file IS NOT NULL")}
        now = time.time()
        for path in self.data_dir.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if path.name not in known and now - path.stat().st_mtime > _ORPHAN_AGE:
                    path.unlink()

    # --- contract -------------------------------------------------------------------------

    def create(self, dataset: str, *, geometry: GeometryKind) -> None:
        try:
            self._conn.execute("INSERT INTO datasets (name, geometry) VALUES (?, ?)", (dataset, geometry))
        except sqlite3.IntegrityError:
            raise DatasetExists(f"the point store already has a dataset {dataset!r}") from None

    def drop(self, dataset: str) -> None:
        with _writing(self._conn) as conn:
            old_file = self._forget(conn, dataset)
        self._unlink(old_file)

    def replace(self, source: str, target: str) -> None:
        with _writing(self._conn) as conn:
            self._row(source, conn)
            old_file = self._forget(conn, target)
            conn.execute("UPDATE datasets SET name = ? WHERE name = ?", (target, source))
            conn.execute("UPDATE blocks SET dataset = ? WHERE dataset = ?", (target, source))
        self._unlink(old_file)

    @staticmethod
    def _forget(conn: sqlite3.Connection, dataset: str) -> str | None:
        """Delete the dataset's rows (in the caller's transaction); return the data file they named."""
        row = conn.execute("SELECT data_file FROM datasets WHERE name = ?", (dataset,)).fetchone()
        conn.execute("DELETE FROM blocks WHERE dataset = ?", (dataset,))
        conn.execute("DELETE FROM datasets WHERE name = ?", (dataset,))
        return row[0] if row else None

    def _unlink(self, data_file: str | None) -> None:
        # Only after the commit: streams that opened the file before it read on.
        if data_file:
            with contextlib.suppress(FileNotFoundError):
                (self.data_dir / data_file).unlink()

    def names(self) -> list[str]:
        return [r[0] for r in self._conn.execute("SELECT name FROM datasets ORDER BY name")]

    def exists(self, dataset: str) -> bool:
        return self._conn.execute("SELECT 1 FROM datasets WHERE name = ?", (dataset,)).fetchone() is not None

    def count(self, dataset: str) -> int:
        return int(self._row(dataset)[1])

    def bounds(self, dataset: str) -> Bounds | None:
        row = self._row(dataset)
        if row[1] == 0:
            return None
        return (float(row[2]), float(row[3]), float(row[4]), float(row[5]))

    def insert(self, dataset: str, batches: Iterable[PointBatch]) -> int:
        if self._row(dataset)[6]:
            raise StoreError(f"dataset {dataset!r} already has its points; drop and create it again to reload")
        name = f"{dataset}.{uuid.uuid4().hex[:12]}"
        data_path = self.data_dir / name
        try:
            with _Staging(self.data_dir) as staging:
                for batch in batches:
                    staging.add(batch)
                rows = self._write_data(dataset, data_path, staging)
                self._publish(dataset, name, rows, staging)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                data_path.unlink()
            raise
        return staging.count

    def iter_all(self, dataset: str, *, batch_size: int = 10_000) -> Iterator[Chunk]:
        self._row(dataset)
        return self._iter(dataset, None, batch_size)

    def iter_within(self, dataset: str, area: Area, *, batch_size: int = 10_000) -> Iterator[Chunk]:
        geometry = self._row(dataset)[0]
        if geometry != area.kind:
            raise StoreError(f"dataset {dataset!r} is {geometry}, the area is {area.kind}")
        return self._iter(dataset, area, batch_size)

    def size(self, dataset: str) -> int | None:
        data_file = self._row(dataset)[7]
        if data_file is None:
            return 0
        try:
            return (self.data_dir / data_file).stat().st_size
        except FileNotFoundError:
            return None

    def close(self) -> None:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # --- reading ---------------------------------------------------------------------------

    def _open(self, dataset: str, area: Area | None) -> tuple[int | None, list[tuple[int, int, int, bool]]]:
        """Return an open descriptor of the dataset's data file and the blocks to read, as of now."""
        conn = self._connect()
        try:
            conn.execute("BEGIN")  # one snapshot for the row, the blocks and the file they name
            data_file = self._row(dataset, conn)[7]
            if data_file is None:
                return None, []
            try:
                fd = os.open(self.data_dir / data_file, os.O_RDONLY)
            except FileNotFoundError:
                raise DatasetNotFound(f"dataset {dataset!r} was just deleted") from None
            rows = conn.execute(
                "SELECT n, pos, lines_size, min_x, min_y, max_x, max_y FROM blocks WHERE dataset = ? ORDER BY seq",
                (dataset,),
            ).fetchall()
        finally:
            conn.execute("COMMIT")
            conn.close()
        if area is None:
            return fd, [(n, pos, size, True) for n, pos, size, *_ in rows]
        table = np.array([r[3:] for r in rows], dtype=np.float64).reshape(-1, 4)
        all_in, maybe = area.classify_boxes(table[:, 0], table[:, 1], table[:, 2], table[:, 3])
        return fd, [
            (n, pos, size, bool(full))
            for (n, pos, size, *_), full, some in zip(rows, all_in, maybe, strict=True)
            if full or some
        ]

    def _iter(self, dataset: str, area: Area | None, batch_size: int) -> Iterator[Chunk]:
        fd, plan = self._open(dataset, area)
        if fd is None:  # created, never loaded: no points
            return
        self.open_cursors += 1
        try:
            pending: list[bytes] = []
            pending_count = 0
            for n, pos, lines_size, full in plan:
                # A block on disk: xs (n float64) | ys (n float64) | offsets (n+1 int64) | lines
                columns = 8 * (3 * n + 1)
                if full:
                    data = os.pread(fd, lines_size, pos + columns)
                else:
                    assert area is not None
                    raw = os.pread(fd, columns + lines_size, pos)
                    xs = np.frombuffer(raw, np.float64, n, 0)
                    ys = np.frombuffer(raw, np.float64, n, 8 * n)
                    offsets = np.frombuffer(raw, np.int64, n + 1, 16 * n)
                    mask = area.contains_xy(xs, ys)
                    n = int(mask.sum())
                    if not n:
                        continue
                    data = select_lines(raw[columns:], offsets, mask)
                pending.append(data)
                pending_count += n
                if pending_count >= batch_size:
                    yield Chunk(pending_count, b"".join(pending) if len(pending) > 1 else pending[0])
                    pending, pending_count = [], 0
            if pending:
                yield Chunk(pending_count, b"".join(pending))
        finally:
            os.close(fd)
            self.open_cursors -= 1

    # --- writing ---------------------------------------------------------------------------

    def _write_data(self, dataset: str, path: Path, staging: _Staging) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        pos = 0
        with open(path, "wb") as out:
            for seq, (xs, ys, offsets, lines) in enumerate(staging.blocks(BLOCK_POINTS)):
                for part in (xs.tobytes(), ys.tobytes(), offsets.astype(np.int64).tobytes(), lines):
                    out.write(part)
                size = 8 * (3 * len(xs) + 1) + len(lines)
                rows.append(
                    (
                        dataset,
                        seq,
                        len(xs),
                        float(xs.min()),
                        float(ys.min()),
                        float(xs.max()),
                        float(ys.max()),
                        pos,
                        len(lines),
                    )
                )
                pos += size
            out.flush()
            os.fsync(out.fileno())  # the index must never name data that is not on disk
        return rows

    def _publish(self, dataset: str, data_file: str, rows: list[tuple[Any, ...]], staging: _Staging) -> None:
        with contextlib.closing(self._connect()) as own, _writing(own) as conn:
            if self._row(dataset, conn)[6]:
                raise StoreError(f"dataset {dataset!r} was loaded by another import meanwhile")
            conn.executemany("INSERT INTO blocks VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
            b = staging.bounds
            conn.execute(
                "UPDATE datasets SET count = ?, min_x = ?, min_y = ?, max_x = ?, max_y = ?, loaded = 1, data_file = ?"
                " WHERE name = ?",
                (staging.count, *(b if b else (None, None, None, None)), data_file, dataset),
            )


@contextlib.contextmanager
def _writing(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run the block in one write transaction: committed whole, or rolled back."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _morton(xs: FloatArray, ys: FloatArray, bounds: Bounds) -> IntArray:
    """Return the Z-order code of each point on a 2^16 x 2^16 grid over `bounds`."""
    min_x, min_y, max_x, max_y = bounds
    scale = (1 << _MORTON_BITS) - 1
    span_x = max_x - min_x or 1.0
    span_y = max_y - min_y or 1.0
    gx = np.clip(((xs - min_x) / span_x * scale), 0, scale).astype(np.uint64)
    gy = np.clip(((ys - min_y) / span_y * scale), 0, scale).astype(np.uint64)
    return (_spread(gx) | (_spread(gy) << np.uint64(1))).astype(np.int64)


def _sort_keys(xs: FloatArray, ys: FloatArray, bounds: Bounds, first: int) -> IntArray:
    """Return keys that order points by Z-order code, then by arrival (`first` is the first
    point's number): all distinct, so even points sharing one code (a dense cluster far from an
    outlier) can be split into ranges of bounded size."""
    return (_morton(xs, ys, bounds) << np.int64(31)) | np.arange(first, first + len(xs), dtype=np.int64)


def _spread(v: Any) -> Any:
    # Put a zero bit between each of the 16 low bits (the classic bit-interleave steps).
    v = (v | (v << np.uint64(8))) & np.uint64(0x00FF00FF)
    v = (v | (v << np.uint64(4))) & np.uint64(0x0F0F0F0F)
    v = (v | (v << np.uint64(2))) & np.uint64(0x33333333)
    return (v | (v << np.uint64(1))) & np.uint64(0x55555555)


@dataclass(slots=True)
class _Piece:
    """Points on their way to blocks: columns, plus either integer ids (lines encoded later, once
    in final order) or lines already encoded (points with properties or non-integer ids)."""

    xs: FloatArray
    ys: FloatArray
    ids: IntArray | None = None
    offsets: IntArray | None = None
    lines: bytes | None = None
    codes: IntArray | None = None

    def __len__(self) -> int:
        return len(self.xs)

    @classmethod
    def of(cls, batch: PointBatch) -> _Piece:
        xs = np.ascontiguousarray(batch.xs, dtype=np.float64)
        ys = np.ascontiguousarray(batch.ys, dtype=np.float64)
        ids = batch.ids
        if batch.properties is None and isinstance(ids, np.ndarray) and ids.dtype.kind in "iu":
            return cls(xs, ys, ids=ids.astype(np.int64, copy=False))
        lines, offsets = batch.encoded()
        return cls(xs, ys, offsets=offsets, lines=lines)

    def encoded(self) -> tuple[IntArray, bytes]:
        """Return (offsets, lines) of the piece's points."""
        if self.lines is None:
            assert self.ids is not None
            lines, offsets = encode_points(self.ids, self.xs, self.ys)
            return offsets, lines
        assert self.offsets is not None
        return self.offsets, self.lines

    def take(self, order: IntArray) -> _Piece:
        codes = None if self.codes is None else self.codes[order]
        if self.ids is not None:
            return _Piece(self.xs[order], self.ys[order], ids=self.ids[order], codes=codes)
        assert self.offsets is not None and self.lines is not None
        lengths = np.diff(self.offsets)[order]
        offsets = np.zeros(len(order) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        gather = np.repeat(self.offsets[:-1][order] - offsets[:-1], lengths)
        gather += np.arange(len(gather), dtype=np.int64)
        lines = np.frombuffer(self.lines, np.uint8)[gather].tobytes()
        return _Piece(self.xs[order], self.ys[order], offsets=offsets, lines=lines, codes=codes)

    def slice(self, start: int, stop: int) -> _Piece:
        codes = None if self.codes is None else self.codes[start:stop]
        if self.ids is not None:
            return _Piece(self.xs[start:stop], self.ys[start:stop], ids=self.ids[start:stop], codes=codes)
        assert self.offsets is not None and self.lines is not None
        lo, hi = int(self.offsets[start]), int(self.offsets[stop])
        return _Piece(
            self.xs[start:stop],
            self.ys[start:stop],
            offsets=self.offsets[start : stop + 1] - lo,
            lines=self.lines[lo:hi],
            codes=codes,
        )

    @staticmethod
    def concat(pieces: list[_Piece]) -> _Piece:
        if len(pieces) == 1:
            return pieces[0]
        xs = np.concatenate([p.xs for p in pieces])
        ys = np.concatenate([p.ys for p in pieces])
        codes = None
        if all(p.codes is not None for p in pieces):
            codes = np.concatenate([p.codes for p in pieces if p.codes is not None])
        if all(p.ids is not None for p in pieces):
            return _Piece(xs, ys, ids=np.concatenate([p.ids for p in pieces if p.ids is not None]), codes=codes)
        encoded = [p.encoded() for p in pieces]
        offsets = np.zeros(len(xs) + 1, dtype=np.int64)
        pos, base = 0, 0
        for p_offsets, p_lines in encoded:
            n = len(p_offsets) - 1
            offsets[pos + 1 : pos + n + 1] = p_offsets[1:] + base
            pos += n
            base += len(p_lines)
        return _Piece(xs, ys, offsets=offsets, lines=b"".join(e[1] for e in encoded), codes=codes)

    def to_row(self) -> tuple[bytes | None, ...]:
        return (
            None if self.codes is None else self.codes.tobytes(),
            self.xs.tobytes(),
            self.ys.tobytes(),
            None if self.ids is None else self.ids.tobytes(),
            None if self.offsets is None else self.offsets.tobytes(),
            self.lines,
        )

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> _Piece:
        codes, xs, ys, ids, offsets, lines = row

        def arr(blob: bytes | None, dtype: type) -> Any:
            return None if blob is None else np.frombuffer(blob, dtype)

        return cls(
            arr(xs, np.float64),
            arr(ys, np.float64),
            ids=arr(ids, np.int64),
            offsets=arr(offsets, np.int64),
            lines=lines,
            codes=arr(codes, np.int64),
        )


_PIECE_COLUMNS = "codes BLOB, xs BLOB, ys BLOB, ids BLOB, offsets BLOB, lines BLOB"


class _Staging:
    """Takes batches as they come and gives them back as Z-ordered blocks, in flat memory.

    Up to GROUP_POINTS points stay in memory; past that, groups go to a scratch SQLite file,
    and the Z-order sort runs bucket by bucket (the top bits of the code), never on the whole
    dataset at once.
    """

    GROUP_POINTS = 262_144
    BUCKET_POINTS = 65_536

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.count = 0
        self._memory: list[_Piece] = []
        self._in_memory = 0
        self._groups = 0
        self._conn: sqlite3.Connection | None = None
        self._path: Path | None = None
        self._min = [np.inf, np.inf]
        self._max = [-np.inf, -np.inf]

    def __enter__(self) -> _Staging:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            self._conn.close()
        if self._path is not None:
            with contextlib.suppress(FileNotFoundError):
                self._path.unlink()

    @property
    def bounds(self) -> Bounds | None:
        if not self.count:
            return None
        return (float(self._min[0]), float(self._min[1]), float(self._max[0]), float(self._max[1]))

    @property
    def _scratch(self) -> sqlite3.Connection:
        if self._conn is None:
            fd, name = tempfile.mkstemp(prefix=".staging-", suffix=".sqlite3", dir=self.directory)
            os.close(fd)
            self._path = Path(name)
            self._conn = sqlite3.connect(self._path, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=OFF")
            self._conn.execute("PRAGMA synchronous=OFF")
            self._conn.execute(f"CREATE TABLE staged (seq INTEGER PRIMARY KEY, {_PIECE_COLUMNS})")
            self._conn.execute(f"CREATE TABLE pieces (bucket INTEGER, seq INTEGER, {_PIECE_COLUMNS})")
        return self._conn

    def add(self, batch: PointBatch) -> None:
        """Take one batch."""
        if not len(batch):
            return
        piece = _Piece.of(batch)
        self._min = [min(self._min[0], float(piece.xs.min())), min(self._min[1], float(piece.ys.min()))]
        self._max = [max(self._max[0], float(piece.xs.max())), max(self._max[1], float(piece.ys.max()))]
        self._memory.append(piece)
        self._in_memory += len(piece)
        self.count += len(piece)
        if self._in_memory >= self.GROUP_POINTS:
            self._flush()

    def _flush(self) -> None:
        if not self._memory:
            return
        group = _Piece.concat(self._memory)
        self._memory, self._in_memory = [], 0
        self._scratch.execute("INSERT INTO staged VALUES (?, ?, ?, ?, ?, ?, ?)", (self._groups, *group.to_row()))
        self._groups += 1

    def blocks(self, size: int) -> Iterator[tuple[FloatArray, FloatArray, IntArray, bytes]]:
        """Yield (xs, ys, offsets, lines) blocks of at most `size` points, in Z-order."""
        bounds = self.bounds
        if bounds is None:
            return
        if not self._groups:
            whole = _Piece.concat(self._memory)
            self._memory = []
            whole.codes = _morton(whole.xs, whole.ys, bounds)
            yield from _cut(whole.take(np.argsort(whole.codes, kind="stable")), size)
            return
        self._flush()
        self._bucket(bounds)
        conn = self._scratch
        carry: list[_Piece] = []
        buckets = [r[0] for r in conn.execute("SELECT DISTINCT bucket FROM pieces ORDER BY bucket")]
        for bucket in buckets:
            rows = conn.execute(
                "SELECT codes, xs, ys, ids, offsets, lines FROM pieces WHERE bucket = ? ORDER BY seq", (bucket,)
            ).fetchall()
            merged = _Piece.concat(carry + [_Piece.from_row(r) for r in rows])
            assert merged.codes is not None
            merged = merged.take(np.argsort(merged.codes, kind="stable"))
            full = (len(merged) // size) * size
            yield from _cut(merged.slice(0, full), size)
            # Later buckets hold only larger codes, so the rest stays in order before them.
            carry = [merged.slice(full, len(merged))] if full < len(merged) else []
        if carry:
            yield from _cut(carry[0], size)

    def _bucket(self, bounds: Bounds) -> None:
        # Split each staged group into ranges of Z-order codes, so each range can later be sorted
        # on its own, in memory. The ranges are cut at quantiles of a sample of the codes, not at
        # fixed bits: with skewed data (one far outlier) fixed bits would put nearly every point
        # in one range, and memory would grow with the dataset.
        conn = self._scratch
        wanted = max(int(np.ceil(self.count / self.BUCKET_POINTS)), 1)
        step = max(self.count // (wanted * 64), 1)
        sample, base = [], 0
        for xs_b, ys_b in conn.execute("SELECT xs, ys FROM staged ORDER BY seq"):
            xs = np.frombuffer(xs_b, np.float64)
            # copy(): a strided view would keep every group's whole key array alive.
            sample.append(_sort_keys(xs, np.frombuffer(ys_b, np.float64), bounds, base)[::step].copy())
            base += len(xs)
        edges = np.unique(np.quantile(np.concatenate(sample), np.linspace(0, 1, wanted + 1)[1:-1], method="lower"))
        conn.execute("BEGIN")
        base = 0
        for seq in range(self._groups):
            row = conn.execute("SELECT codes, xs, ys, ids, offsets, lines FROM staged WHERE seq = ?", (seq,)).fetchone()
            group = _Piece.from_row(row)
            group.codes = _sort_keys(group.xs, group.ys, bounds, base)
            base += len(group)
            group = group.take(np.argsort(group.codes, kind="stable"))
            assert group.codes is not None
            buckets = np.searchsorted(edges, group.codes, side="right")
            cuts = np.flatnonzero(np.diff(buckets)) + 1
            starts = [0, *cuts.tolist()]
            stops = [*cuts.tolist(), len(group)]
            for start, stop in zip(starts, stops, strict=True):
                conn.execute(
                    "INSERT INTO pieces VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (int(buckets[start]), seq, *group.slice(start, stop).to_row()),
                )
            conn.execute("DELETE FROM staged WHERE seq = ?", (seq,))
        conn.execute("COMMIT")
        conn.execute("CREATE INDEX pieces_bucket ON pieces (bucket, seq)")


def _cut(piece: _Piece, size: int) -> Iterator[tuple[FloatArray, FloatArray, IntArray, bytes]]:
    for start in range(0, len(piece), size):
        block = piece.slice(start, min(start + size, len(piece)))
        offsets, lines = block.encoded()
        yield block.xs, block.ys, offsets, lines
