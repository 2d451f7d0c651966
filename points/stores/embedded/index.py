"""The embedded store's index: one SQLite file naming each dataset's current version and the
bounding box and extents of each of its blocks (the spatial index a query classifies).

A damaged index file (SQLite's "database disk image is malformed", "file is not a database")
raises StoreDamaged, naming the file, from any statement or row read through `Index.connect`'s
connections; a dataset's block rows are checked against its count and its files before a
version is read (check_blocks).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from points.batches import Bounds
from points.schema import PointSchema
from points.stores.base import DatasetNotFound, GeometryKind, StoreDamaged, StoreMisconfigured
from points.stores.embedded.blockfile import BLOCK_POINTS, LAYOUT_VERSION, Extent, Section, WrittenBlock, damaged

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
    version TEXT,   -- directory of the version being served (NULL: a row of an older layout, no points)
    schema TEXT     -- the points' column types (points.schema.PointSchema.to_json)
);
CREATE TABLE IF NOT EXISTS blocks (
    dataset TEXT NOT NULL,
    {", ".join(f"{c} INTEGER NOT NULL" if c not in ("min_x", "min_y", "max_x", "max_y") else f"{c} REAL NOT NULL" for c in _BLOCK_COLUMNS)},
    PRIMARY KEY (dataset, seq)
);
"""


# SQLite's result codes for a damaged file (the low byte of extended codes).
_SQLITE_CORRUPT, _SQLITE_NOTADB = 11, 26
# Problems check_blocks and quick_check report at most.
_PROBLEMS = 10


def _is_damage(exc: sqlite3.DatabaseError) -> bool:
    """Return whether SQLite says the file is damaged (not busy, locked, full, or misused)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    return type(exc) is sqlite3.DatabaseError


def index_damaged(name: str, what: str) -> str:
    """Return the message saying the index file `name` is damaged (`what` says how)."""
    return (
        f"the point store's index ({name}) is damaged: {what}; restore it from a backup or import the "
        "datasets again (`manage.py check_points` lists what is damaged)"
    )


class _Damage:
    """Turns SQLite's damaged-file errors into StoreDamaged naming the index file."""

    name: str

    def _damaged(self, exc: sqlite3.DatabaseError) -> BaseException:
        if isinstance(exc, sqlite3.DatabaseError) and _is_damage(exc):
            return StoreDamaged(index_damaged(self.name, str(exc)))
        return exc


class _Cursor(sqlite3.Cursor, _Damage):
    """A cursor whose damaged-file errors are StoreDamaged (rows are read lazily, so also there)."""

    def __init__(self, conn: _Connection) -> None:
        super().__init__(conn)
        self.name = conn.name

    def execute(self, sql: str, parameters: Any = (), /) -> _Cursor:
        try:
            super().execute(sql, parameters)
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from exc
        return self

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> _Cursor:
        try:
            super().executemany(sql, seq_of_parameters)
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from exc
        return self

    def executescript(self, sql_script: str, /) -> _Cursor:
        try:
            super().executescript(sql_script)
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from exc
        return self

    def fetchone(self) -> Any:
        try:
            return super().fetchone()
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from exc

    def fetchmany(self, size: int | None = None) -> list[Any]:
        try:
            return super().fetchmany(self.arraysize if size is None else size)
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from exc

    def fetchall(self) -> list[Any]:
        try:
            return super().fetchall()
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from exc

    def __next__(self) -> Any:
        try:
            return super().__next__()
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from exc


class _Connection(sqlite3.Connection, _Damage):
    """A connection whose statements run on _Cursor (sqlite3.Connection.execute would not)."""

    name = "index"

    def cursor(self, factory: Any = None) -> _Cursor:  # type: ignore[override]
        cursor = _Cursor(self)
        cursor.row_factory = self.row_factory  # as sqlite3.Connection.cursor does
        return cursor

    def execute(self, sql: str, parameters: Any = (), /) -> _Cursor:
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Any, /) -> _Cursor:
        return self.cursor().executemany(sql, parameters)

    def executescript(self, sql_script: str, /) -> _Cursor:
        return self.cursor().executescript(sql_script)


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


@dataclass(frozen=True, slots=True)
class VersionBlocks:
    """A version's blocks as checked by check_blocks: in order, their points, and each section's
    size (where its last block ends)."""

    blocks: list[BlockRow]
    count: int
    sizes: dict[Section, int]


def block_problems(blocks: list[BlockRow], count: int) -> list[str]:
    """Return what is wrong with a version's block rows, for a dataset of `count` points: the
    seqs run 0, 1, 2..., each block holds 1 to BLOCK_POINTS points, their points add up to
    `count`, and in every section each block starts where the one before ends (from 0). So a
    row deleted, added or moved is found here, and a file cut or grown where it is opened."""
    problems: list[str] = []
    expected = dict.fromkeys(Section, 0)
    total = 0
    for i, block in enumerate(blocks):
        if len(problems) >= _PROBLEMS:
            break
        if block.seq != i:
            problems.append(f"its index lacks block {i}" if block.seq > i else f"its index has block {block.seq} twice")
            break  # the rest would all be out of place
        if not 0 < block.n <= BLOCK_POINTS:
            problems.append(f"its index says block {i} holds {block.n:,} points")
        total += block.n
        for section, extent in block.written.extents.items():
            if extent.pos != expected[section] or extent.size <= 0:
                problems.append(f"its index puts block {i} of its {section.value} file at an offset it cannot have")
                break
            expected[section] = extent.pos + extent.size
    if not problems and total != count:
        problems.append(f"its index rows hold {total:,} points, the dataset {count:,}")
    return problems


def check_blocks(dataset: str, blocks: list[BlockRow], count: int) -> VersionBlocks:
    """Return the version's blocks checked (see block_problems); raise DamagedBlock."""
    problems = block_problems(blocks, count)
    if problems:
        raise damaged(dataset, problems[0])
    sizes = dict.fromkeys(Section, 0)
    if blocks:
        last = blocks[-1].written.extents
        sizes = {s: last[s].pos + last[s].size for s in Section}
    return VersionBlocks(blocks, count, sizes)


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
        self._versions: OrderedDict[str, VersionBlocks] = OrderedDict()
        #: what SQLite's quick check found damaged when the file was opened (empty: nothing)
        self.damage: list[str] = []
        #: set by the store when the file names no version beside existing ones: it lost their
        #: rows, and a dataset it does not know is StoreDamaged with this message, not DatasetNotFound
        self.lost = ""
        with contextlib.closing(self.connect()) as conn:
            conn.execute("PRAGMA journal_mode=WAL")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            has_tables = conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'datasets'").fetchone()[0]
            if has_tables and version != LAYOUT_VERSION:
                raise StoreMisconfigured(
                    f"{path} was written by another version of pointsite (layout {version}, this one reads "
                    f"{LAYOUT_VERSION}); move it and its .blocks directory away and import the datasets again"
                )
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA user_version = {LAYOUT_VERSION}")
            # Pages of the file that are damaged: the store opens (the datasets it can read are
            # served), but removes no files it thinks orphaned (see EmbeddedStore).
            self.damage = self.check(conn, quick=True)

    def check(self, conn: sqlite3.Connection | None = None, *, quick: bool = False) -> list[str]:
        """Return what SQLite's integrity check (or quick check) finds damaged in the file."""
        pragma = "quick_check" if quick else "integrity_check"
        try:
            rows = [r[0] for r in (conn or self.conn).execute(f"PRAGMA {pragma}({_PROBLEMS})")]
        except StoreDamaged as exc:
            return [str(exc)]
        if rows == ["ok"]:
            return [self.lost] if self.lost else []
        details = " ".join(" ".join(rows).replace("*** in database main ***", "").split())
        return [index_damaged(self.path.name, details or "SQLite's check failed")]

    def connect(self) -> sqlite3.Connection:
        """Return a new connection of its own (for a snapshot or a transaction off this thread's);
        SQLite's damaged-file errors on it are StoreDamaged."""
        conn = sqlite3.connect(
            self.path, timeout=30, isolation_level=None, check_same_thread=False, factory=_Connection
        )
        conn.name = self.path.name
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
            if self.lost:
                raise StoreDamaged(f"the point store has no row for dataset {name!r}: {self.lost}")
            raise DatasetNotFound(f"the point store has no dataset {name!r}")
        bounds = None if row["count"] == 0 else (row["min_x"], row["min_y"], row["max_x"], row["max_y"])
        schema = PointSchema.from_json(json.loads(row["schema"]) if row["schema"] else None)
        return DatasetRow(row["name"], row["geometry"], row["count"], bounds, row["version"], schema)

    def version_blocks(self, row: DatasetRow, conn: sqlite3.Connection) -> VersionBlocks:
        """Return the blocks of the dataset's version (`row`, as `conn`'s snapshot has it), with
        every section's extents, checked against its count (check_blocks: raise DamagedBlock).
        A version's blocks never change, so this process keeps those of the versions it read
        last: a query then plans without reading the index (~6 ms for a 5M-point dataset's
        1,221 rows)."""
        assert row.version is not None
        with self._lock:
            cached = self._versions.get(row.version)
            if cached is not None and cached.count == row.count:
                self._versions.move_to_end(row.version)
                return cached
        checked = check_blocks(row.name, self.blocks(row.name, conn), row.count)
        with self._lock:
            self._versions[row.version] = checked
            while len(self._versions) > _CACHED_VERSIONS:
                self._versions.popitem(last=False)
        return checked

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
    def add_dataset(conn: sqlite3.Connection, name: str, geometry: GeometryKind) -> None:
        """Add the dataset's row, with no points yet (in the caller's transaction)."""
        conn.execute("INSERT INTO datasets (name, geometry) VALUES (?, ?)", (name, str(geometry)))

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
        with contextlib.suppress(sqlite3.Error, StoreDamaged):
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
        with contextlib.suppress(sqlite3.Error, StoreDamaged):
            conn.execute("COMMIT")
        conn.close()
