"""Staging of an import: batches in, Z-ordered blocks out, in flat memory (an out-of-core sort)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from points.batches import Bounds, FloatArray, IntArray, PointBatch
from points.ndjson import encode_points
from points.schema import PointSchema
from points.stores.base import StoreError
from points.stores.embedded.zorder import MAX_POINTS, morton, sort_keys


@dataclass(frozen=True, slots=True)
class Ids:
    """A piece's points told by integer ids alone: their lines are encoded later, once, in the
    blocks' final order."""

    ids: IntArray

    def take(self, order: IntArray) -> Ids:
        return Ids(self.ids[order])

    def slice(self, start: int, stop: int) -> Ids:
        return Ids(self.ids[start:stop])

    def encoded(self, xs: FloatArray, ys: FloatArray) -> Lines:
        data, offsets = encode_points(self.ids, xs, ys)
        return Lines(offsets, data)


@dataclass(frozen=True, slots=True)
class Lines:
    """A piece's points as NDJSON lines already encoded (points with properties or non-integer
    ids): the lines, and where each starts (one offset more than lines, the last the end)."""

    offsets: IntArray
    data: bytes

    def take(self, order: IntArray) -> Lines:
        lengths = np.diff(self.offsets)[order]
        offsets = np.zeros(len(order) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        gather = np.repeat(self.offsets[:-1][order] - offsets[:-1], lengths)
        gather += np.arange(len(gather), dtype=np.int64)
        return Lines(offsets, np.frombuffer(self.data, np.uint8)[gather].tobytes())

    def slice(self, start: int, stop: int) -> Lines:
        lo, hi = int(self.offsets[start]), int(self.offsets[stop])
        return Lines(self.offsets[start : stop + 1] - lo, self.data[lo:hi])

    def encoded(self, xs: FloatArray, ys: FloatArray) -> Lines:
        return self

    @staticmethod
    def joined(parts: list[Lines]) -> Lines:
        offsets = np.zeros(sum(len(p.offsets) - 1 for p in parts) + 1, dtype=np.int64)
        pos, base = 0, 0
        for part in parts:
            n = len(part.offsets) - 1
            offsets[pos + 1 : pos + n + 1] = part.offsets[1:] + base
            pos += n
            base += len(part.data)
        return Lines(offsets, b"".join(p.data for p in parts))


@dataclass(frozen=True, slots=True)
class Piece:
    """Points on their way to blocks: their coordinates, their ids or lines (`body`), and their
    sort keys once they have them (`codes`: None until the piece is sorted or bucketed)."""

    xs: FloatArray
    ys: FloatArray
    body: Ids | Lines
    codes: IntArray | None = None

    def __len__(self) -> int:
        return len(self.xs)

    @classmethod
    def of(cls, batch: PointBatch) -> Piece:
        xs = np.ascontiguousarray(batch.xs, dtype=np.float64)
        ys = np.ascontiguousarray(batch.ys, dtype=np.float64)
        ids = batch.ids
        if batch.properties is None and isinstance(ids, np.ndarray) and ids.dtype.kind in "iu":
            return cls(xs, ys, Ids(ids.astype(np.int64, copy=False)))
        data, offsets = encode_points(batch.ids, batch.xs, batch.ys, batch.properties)
        return cls(xs, ys, Lines(offsets, data))

    def lines(self) -> Lines:
        """Return the piece's points as NDJSON lines."""
        return self.body.encoded(self.xs, self.ys)

    def keyed(self, codes: IntArray) -> Piece:
        """Return the piece with its sort keys."""
        return Piece(self.xs, self.ys, self.body, codes)

    def in_code_order(self) -> Piece:
        """Return the piece sorted by its keys (stable: equal keys keep their arrival order)."""
        if self.codes is None:
            raise ValueError("a piece is sorted by its codes, and this one has none yet")
        return self.take(np.argsort(self.codes, kind="stable"))

    def take(self, order: IntArray) -> Piece:
        codes = None if self.codes is None else self.codes[order]
        return Piece(self.xs[order], self.ys[order], self.body.take(order), codes)

    def slice(self, start: int, stop: int) -> Piece:
        codes = None if self.codes is None else self.codes[start:stop]
        return Piece(self.xs[start:stop], self.ys[start:stop], self.body.slice(start, stop), codes)

    @staticmethod
    def concat(pieces: list[Piece]) -> Piece:
        if len(pieces) == 1:
            return pieces[0]
        xs = np.concatenate([p.xs for p in pieces])
        ys = np.concatenate([p.ys for p in pieces])
        keys = [p.codes for p in pieces if p.codes is not None]
        codes = np.concatenate(keys) if len(keys) == len(pieces) else None
        ids = [p.body.ids for p in pieces if isinstance(p.body, Ids)]
        if len(ids) == len(pieces):
            return Piece(xs, ys, Ids(np.concatenate(ids)), codes)
        return Piece(xs, ys, Lines.joined([p.lines() for p in pieces]), codes)

    def to_row(self) -> tuple[bytes | None, ...]:
        ids = self.body.ids.tobytes() if isinstance(self.body, Ids) else None
        offsets, lines = (self.body.offsets.tobytes(), self.body.data) if isinstance(self.body, Lines) else (None, None)
        codes = None if self.codes is None else self.codes.tobytes()
        return (codes, self.xs.tobytes(), self.ys.tobytes(), ids, offsets, lines)

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> Piece:
        codes, xs, ys, ids, offsets, lines = row
        body: Ids | Lines = (
            Ids(np.frombuffer(ids, np.int64)) if ids is not None else Lines(np.frombuffer(offsets, np.int64), lines)
        )
        return cls(
            np.frombuffer(xs, np.float64),
            np.frombuffer(ys, np.float64),
            body,
            None if codes is None else np.frombuffer(codes, np.int64),
        )


_PIECE_COLUMNS = "codes BLOB, xs BLOB, ys BLOB, ids BLOB, offsets BLOB, lines BLOB"


class Staging:
    """Takes batches as they come and gives them back as Z-ordered blocks, in flat memory.

    Up to GROUP_POINTS points stay in memory; past that, groups go to a scratch SQLite file,
    and the Z-order sort runs bucket by bucket (the top bits of the code), never on the whole
    dataset at once.
    """

    GROUP_POINTS = 262_144
    BUCKET_POINTS = 65_536

    def __init__(self, directory: Path, prefix: str = ".staging-") -> None:
        self.directory = directory
        self.prefix = prefix
        self.count = 0
        self._memory: list[Piece] = []
        self._in_memory = 0
        self._groups = 0
        self._conn: sqlite3.Connection | None = None
        self._path: Path | None = None
        self._min = [np.inf, np.inf]
        self._max = [-np.inf, -np.inf]
        self.schema = PointSchema()

    def __enter__(self) -> Staging:
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
            fd, name = tempfile.mkstemp(prefix=self.prefix, suffix=".sqlite3", dir=self.directory)
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
        if self.count + len(batch) > MAX_POINTS:
            raise StoreError(f"a dataset holds at most {MAX_POINTS:,} points in the embedded store")
        self.schema.observe(batch)
        piece = Piece.of(batch)
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
        group = Piece.concat(self._memory)
        self._memory, self._in_memory = [], 0
        self._scratch.execute("INSERT INTO staged VALUES (?, ?, ?, ?, ?, ?, ?)", (self._groups, *group.to_row()))
        self._groups += 1

    def blocks(self, size: int) -> Iterator[StagedBlock]:
        """Yield blocks of at most `size` points, in Z-order."""
        bounds = self.bounds
        if bounds is None:
            return
        if not self._groups:
            whole = Piece.concat(self._memory)
            self._memory = []
            yield from cut(whole.keyed(morton(whole.xs, whole.ys, bounds)).in_code_order(), size)
            return
        self._flush()
        self._bucket(bounds)
        conn = self._scratch
        carry: list[Piece] = []
        buckets = [r[0] for r in conn.execute("SELECT DISTINCT bucket FROM pieces ORDER BY bucket")]
        for bucket in buckets:
            rows = conn.execute(
                "SELECT codes, xs, ys, ids, offsets, lines FROM pieces WHERE bucket = ? ORDER BY seq", (bucket,)
            ).fetchall()
            merged = Piece.concat(carry + [Piece.from_row(r) for r in rows]).in_code_order()
            full = (len(merged) // size) * size
            yield from cut(merged.slice(0, full), size)
            # Later buckets hold only larger codes, so the rest stays in order before them.
            carry = [merged.slice(full, len(merged))] if full < len(merged) else []
        if carry:
            yield from cut(carry[0], size)

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
            sample.append(sort_keys(xs, np.frombuffer(ys_b, np.float64), bounds, base)[::step].copy())
            base += len(xs)
        edges = np.unique(np.quantile(np.concatenate(sample), np.linspace(0, 1, wanted + 1)[1:-1], method="lower"))
        conn.execute("BEGIN")
        base = 0
        for seq in range(self._groups):
            row = conn.execute("SELECT codes, xs, ys, ids, offsets, lines FROM staged WHERE seq = ?", (seq,)).fetchone()
            group = Piece.from_row(row)
            codes = sort_keys(group.xs, group.ys, bounds, base)
            base += len(group)
            order = np.argsort(codes, kind="stable")
            group = group.keyed(codes).take(order)
            buckets = np.searchsorted(edges, codes[order], side="right")
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


@dataclass(frozen=True, slots=True)
class StagedBlock:
    """The points of one block, in Z-order: columns, integer ids when the points have nothing
    else (None: ids and properties are only in the lines), and NDJSON lines."""

    xs: FloatArray
    ys: FloatArray
    ids: IntArray | None
    lines: bytes


def cut(piece: Piece, size: int) -> Iterator[StagedBlock]:
    for start in range(0, len(piece), size):
        block = piece.slice(start, min(start + size, len(piece)))
        ids = block.body.ids if isinstance(block.body, Ids) else None
        yield StagedBlock(block.xs, block.ys, ids, block.lines().data)
