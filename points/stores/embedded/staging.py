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


@dataclass(slots=True)
class Piece:
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
    def of(cls, batch: PointBatch) -> Piece:
        xs = np.ascontiguousarray(batch.xs, dtype=np.float64)
        ys = np.ascontiguousarray(batch.ys, dtype=np.float64)
        ids = batch.ids
        if batch.properties is None and isinstance(ids, np.ndarray) and ids.dtype.kind in "iu":
            return cls(xs, ys, ids=ids.astype(np.int64, copy=False))
        lines, offsets = encode_points(batch.ids, batch.xs, batch.ys, batch.properties)
        return cls(xs, ys, offsets=offsets, lines=lines)

    def encoded(self) -> tuple[IntArray, bytes]:
        """Return (offsets, lines) of the piece's points."""
        if self.lines is None:
            assert self.ids is not None
            lines, offsets = encode_points(self.ids, self.xs, self.ys)
            return offsets, lines
        assert self.offsets is not None
        return self.offsets, self.lines

    def take(self, order: IntArray) -> Piece:
        codes = None if self.codes is None else self.codes[order]
        if self.ids is not None:
            return Piece(self.xs[order], self.ys[order], ids=self.ids[order], codes=codes)
        assert self.offsets is not None and self.lines is not None
        lengths = np.diff(self.offsets)[order]
        offsets = np.zeros(len(order) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        gather = np.repeat(self.offsets[:-1][order] - offsets[:-1], lengths)
        gather += np.arange(len(gather), dtype=np.int64)
        lines = np.frombuffer(self.lines, np.uint8)[gather].tobytes()
        return Piece(self.xs[order], self.ys[order], offsets=offsets, lines=lines, codes=codes)

    def slice(self, start: int, stop: int) -> Piece:
        codes = None if self.codes is None else self.codes[start:stop]
        if self.ids is not None:
            return Piece(self.xs[start:stop], self.ys[start:stop], ids=self.ids[start:stop], codes=codes)
        assert self.offsets is not None and self.lines is not None
        lo, hi = int(self.offsets[start]), int(self.offsets[stop])
        return Piece(
            self.xs[start:stop],
            self.ys[start:stop],
            offsets=self.offsets[start : stop + 1] - lo,
            lines=self.lines[lo:hi],
            codes=codes,
        )

    @staticmethod
    def concat(pieces: list[Piece]) -> Piece:
        if len(pieces) == 1:
            return pieces[0]
        xs = np.concatenate([p.xs for p in pieces])
        ys = np.concatenate([p.ys for p in pieces])
        codes = None
        if all(p.codes is not None for p in pieces):
            codes = np.concatenate([p.codes for p in pieces if p.codes is not None])
        if all(p.ids is not None for p in pieces):
            return Piece(xs, ys, ids=np.concatenate([p.ids for p in pieces if p.ids is not None]), codes=codes)
        encoded = [p.encoded() for p in pieces]
        offsets = np.zeros(len(xs) + 1, dtype=np.int64)
        pos, base = 0, 0
        for p_offsets, p_lines in encoded:
            n = len(p_offsets) - 1
            offsets[pos + 1 : pos + n + 1] = p_offsets[1:] + base
            pos += n
            base += len(p_lines)
        return Piece(xs, ys, offsets=offsets, lines=b"".join(e[1] for e in encoded), codes=codes)

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
    def from_row(cls, row: tuple[Any, ...]) -> Piece:
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
            whole.codes = morton(whole.xs, whole.ys, bounds)
            yield from cut(whole.take(np.argsort(whole.codes, kind="stable")), size)
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
            merged = Piece.concat(carry + [Piece.from_row(r) for r in rows])
            assert merged.codes is not None
            merged = merged.take(np.argsort(merged.codes, kind="stable"))
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
            group.codes = sort_keys(group.xs, group.ys, bounds, base)
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
        _, lines = block.encoded()
        yield StagedBlock(block.xs, block.ys, block.ids, lines)
