"""The embedded store's index: one SQLite file naming each dataset's current version and the
bounding box and extents of each of its blocks (the spatial index a query classifies)."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from points.batches import Bounds
from points.schema import PointSchema
from points.stores.base import DatasetNotFound, GeometryKind, StoreError
from points.stores.embedded.blockfile import LAYOUT_VERSION, Extent, Section, WrittenBlock

# Versions whose block rows a process keeps (see Index.version_blocks).
_CACHED_VERSIONS = 16
_EXTENT_COLUMNS = [f"{s.column}_{part}" for s in Section for part in ("pos", "size", "digest")]
_BLOCK_COLUMNS = ["seq", "n", "min_x", "min_y", "max_x", "max_y", "ndjson_crc", "arrow_crc", *_EXTENT_COLUMNS]

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS datasets (
    name TEXT PRIMARY KEY,
    geometry TEXT NOT NULL,
    count INTEGER NOT NULL DEFAULT 0,
    min_x REAL, min_y REAL, max_x REAL, max_y REAL,
    version TEXT,   -- directory of the version being served; NULL until points are loaded
    schema TEXT     -- the points' column types (points.schema.PointSchema.to_json)
);
CREATE TABLE IF NOT EXISTS blocks (
    dataset TEXT NOT NULL,
    {", ".join(f"{c} INTEGER NOT NULL" if c not in ("min_x", "min_y", "max_x", "max_y") else f"{c} REAL NOT NULL" for c in _BLOCK_COLUMNS)},
    PRIMARY KEY (dataset, seq)
);
"""


@dataclass(frozen=True, slots=True)
class DatasetRow:
    """A dataset as the index has it."""

    name: str
    geometry: GeometryKind
    count: int
    bounds: Bounds | None
    version: str | None
    schema: PointSchema


@dataclass(frozen=True, slots=True)
class BlockRow:
    """A block as the index has it."""

    seq: int
    n: int
    box: Bounds
    written: WrittenBlock


def _block(row: sqlite3.Row) -> BlockRow:
    extents = {s: Extent(row[f"{s.column}_pos"], row[f"{s.column}_size"], row[f"{s.column}_digest"]) for s in Section}
    return BlockRow(
        row["seq"],
        row["n"],
        (row["min_x"], row["min_y"], row["max_x"], row["max_y"]),
        WrittenBlock(extents, row["ndjson_crc"], row["arrow_crc"]),
    )


def block_values(dataset: str, seq: int, n: int, box: Bounds, written: WrittenBlock) -> tuple[object, ...]:
    """Return a block's row for `Index.add_blocks`, in column order."""
    extents = [v for s in Section for v in (written.extents[s].pos, written.extents[s].size, written.extents[s].digest)]
    return (dataset, seq, n, *box, written.ndjson_crc, written.arrow_crc, *extents)


class Index:
    """The index file; one connection per thread (WAL: many readers while one writes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._lock = threading.Lock()
        self._versions: OrderedDict[str, list[BlockRow]] = OrderedDict()
        with contextlib.closing(self.connect()) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            has_tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'datasets'").fetchone()[0]
            if has_tables and version != LAYOUT_VERSION:
                raise StoreError(
                    f"{path} was written by another version of pointsite (layout {version}, this one reads "
                    f"{LAYOUT_VERSION}); move it and its .blocks directory away and import the datasets again"
                )
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA user_version = {LAYOUT_VERSION}")

    def connect(self) -> sqlite3.Connection:
        """Return a new connection of its own (for a snapshot or a transaction off this thread's)."""
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        """Return this thread's connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self.connect()
        return conn

    def close(self) -> None:
        """Close this thread's connection."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def dataset(self, name: str, conn: sqlite3.Connection | None = None) -> DatasetRow:
        """Return the dataset's row; raise DatasetNotFound."""
        row = (conn or self.conn).execute("SELECT * FROM datasets WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise DatasetNotFound(f"the point store has no dataset {name!r}")
        bounds = None if row["count"] == 0 else (row["min_x"], row["min_y"], row["max_x"], row["max_y"])
        schema = PointSchema.from_json(json.loads(row["schema"]) if row["schema"] else None)
        return DatasetRow(row["name"], row["geometry"], row["count"], bounds, row["version"], schema)

    def version_blocks(self, name: str, version: str, conn: sqlite3.Connection) -> list[BlockRow]:
        """Return the blocks of the dataset's `version` (the one `conn`'s snapshot names), with
        every section's extents. A version's blocks never change, so this process keeps those
        of the versions it read last: a query then plans without reading the index (~6 ms for
        a 5M-point dataset's 1,221 rows)."""
        with self._lock:
            cached = self._versions.get(version)
            if cached is not None:
                self._versions.move_to_end(version)
                return cached
        blocks = self.blocks(name, conn)
        with self._lock:
            self._versions[version] = blocks
            while len(self._versions) > _CACHED_VERSIONS:
                self._versions.popitem(last=False)
        return blocks

    def blocks(self, name: str, conn: sqlite3.Connection, sections: Iterable[Section] = Section) -> list[BlockRow]:
        """Return the dataset's blocks in order, with the extents of `sections` only (reading
        rows as plain tuples keeps a 5M-point dataset's 1,221 blocks at a few ms)."""
        wanted = list(dict.fromkeys(sections))
        columns = _BLOCK_COLUMNS[:8] + [f"{s.column}_{part}" for s in wanted for part in ("pos", "size", "digest")]
        cursor = conn.cursor()
        cursor.row_factory = None
        rows = cursor.execute(f"SELECT {', '.join(columns)} FROM blocks WHERE dataset = ? ORDER BY seq", (name,))
        blocks = []
        for seq, n, min_x, min_y, max_x, max_y, ndjson_crc, arrow_crc, *parts in rows:
            extents = {s: Extent(*parts[3 * i : 3 * i + 3]) for i, s in enumerate(wanted)}
            blocks.append(BlockRow(seq, n, (min_x, min_y, max_x, max_y), WrittenBlock(extents, ndjson_crc, arrow_crc)))
        return blocks

    def versions(self) -> set[str]:
        """Return the directories some dataset serves."""
        return {r[0] for r in self.conn.execute("SELECT version FROM datasets WHERE version IS NOT NULL")}

    @staticmethod
    def add_blocks(conn: sqlite3.Connection, rows: list[tuple[object, ...]]) -> None:
        """Insert block rows made by block_values (in the caller's transaction)."""
        marks = ", ".join("?" * (len(_BLOCK_COLUMNS) + 1))
        conn.executemany(f"INSERT INTO blocks VALUES ({marks})", rows)

    @staticmethod
    def set_loaded(
        conn: sqlite3.Connection, name: str, *, count: int, bounds: Bounds | None, version: str, schema: PointSchema
    ) -> None:
        """Record the dataset's points as loaded (in the caller's transaction)."""
        conn.execute(
            "UPDATE datasets SET count = ?, min_x = ?, min_y = ?, max_x = ?, max_y = ?, version = ?, schema = ?"
            " WHERE name = ?",
            (count, *(bounds or (None, None, None, None)), version, json.dumps(schema.to_json()), name),
        )

    @staticmethod
    def forget(conn: sqlite3.Connection, name: str) -> str | None:
        """Delete the dataset's rows (in the caller's transaction); return the version they named."""
        row = conn.execute("SELECT version FROM datasets WHERE name = ?", (name,)).fetchone()
        conn.execute("DELETE FROM blocks WHERE dataset = ?", (name,))
        conn.execute("DELETE FROM datasets WHERE name = ?", (name,))
        return row[0] if row else None


@contextlib.contextmanager
def writing(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """Run the block in one write transaction: committed whole, or rolled back."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextlib.contextmanager
def snapshot(index: Index) -> Iterator[sqlite3.Connection]:
    """Yield a connection of its own inside one read transaction (one consistent view)."""
    conn = index.connect()
    try:
        conn.execute("BEGIN")
        yield conn
    finally:
        with contextlib.suppress(sqlite3.Error):
            conn.execute("COMMIT")
        conn.close()
