"""The embedded point store: Z-ordered blocks in section files (blockfile), indexed in SQLite (index).

Why this layout (measured on the 2-core dev machine, see bench/RESULTS.md): a row per point
behind an R*Tree builds at ~86k rows/s and streams ~2.5M rows/s, far from the targets. Here the
points of a dataset are sorted along a Z-order (Morton) curve over its bounds and cut into blocks
of at most BLOCK_POINTS points, kept in every form a stream may ask for (NDJSON and Arrow, plain,
zstd and gzip). A query classifies the blocks' boxes against the polygon (inside / outside /
straddling), sends inside blocks' bytes as they are, and tests only the straddling blocks' points
with shapely's vectorized `intersects_xy`. Streaming is then mostly copying bytes.

Bulk data lives beside SQLite, not in it: SQLite's WAL would write every byte twice and read
big blobs through overflow-page chains, which measured 2-3x slower to import.

A load stages the incoming batches (staging), writes a new version directory, then publishes it
in one SQLite transaction (the dataset's row names the version, its block rows replace the old
version's): readers never see half a dataset, and a failed load leaves nothing behind. A stream
holds its section files open, so a dataset dropped or replaced meanwhile is still read to the end
(the files are unlinked, not truncated).

Damage is reported, never streamed as a complete answer: every block read is checked against its
digest, a version's block rows against its count and its files' sizes before the first byte, the
grid file against its digests and count; the error (DamagedBlock, or StoreDamaged for a damaged
index file) ends a stream with its error marker, or is a 503 before it starts. `verify` checks all
of a dataset's bytes (`manage.py check_points`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import shutil
import sqlite3
import threading
import uuid
import zlib
from collections import OrderedDict, deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import msgspec
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from points import arrow, ndjson
from points.batches import BoolArray, Bounds, Chunk, FloatArray, Format, IntArray, PointBatch, StreamForm
from points.geometry import Area
from points.locks import lock_held
from points.overview import FineGrid, Grid
from points.schema import PointSchema, record_batch, records_batch
from points.stores.base import (
    PLAIN_NDJSON,
    DatasetNotFound,
    GeometryKind,
    Loaded,
    PointStore,
    PointStream,
    PublishGuard,
    StoreDamaged,
    StoreError,
    StoreFull,
    StoreMisconfigured,
)
from points.stores.embedded import grid as grid_files
from points.stores.embedded.blockfile import (
    BLOCK_POINTS,
    PLAIN,
    SECTIONS,
    DamagedBlock,
    EncodedBlock,
    Section,
    VersionReader,
    VersionWriter,
    damaged,
)
from points.stores.embedded.grid import NAME as GRID
from points.stores.embedded.grid import GridWriter, open_grid
from points.stores.embedded.index import (
    BlockRow,
    Index,
    VersionBlocks,
    block_problems,
    block_values,
    snapshot,
    writing,
)
from points.stores.embedded.staging import StagedBlock, Staging
from points.streams import Closing

logger = logging.getLogger(__name__)
# Beside each version directory being written: its lock file (see EmbeddedStore.remove_orphans).
_LOCK = ".lock"
_DECODER = msgspec.json.Decoder()
# Snapshots tried when a replacement removes the version just named (then it is gone for good).
_OPEN_ATTEMPTS = 5
# Threads that compress blocks during an import.
_ENCODERS = max(os.cpu_count() or 1, 1)
T = TypeVar("T")


def _disk_full(exc: BaseException) -> bool:
    """Return whether `exc` says a disk is full (an OS write, or SQLite's "database or disk is full")."""
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return True
    return isinstance(exc, sqlite3.OperationalError) and "full" in str(exc)


def _held(lock: Path) -> bool:
    """Return whether some process holds the lock file `lock` (False when there is none)."""
    return lock_held(lock) is True


class EmbeddedStore(PointStore):
    """Points in version directories beside one SQLite index file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__()
        #: blocks read by streams and counts so far (a test checks that queries prune blocks)
        self.blocks_read = 0
        self._read_lock = threading.Lock()
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.path.parent / f"{self.path.name}.blocks"
        self.data_dir.mkdir(exist_ok=True)
        self.index = Index(self.path)
        # An index that is damaged, or names no version beside version directories (emptied or
        # replaced), may lack the rows of versions still wanted: this process removes no orphans.
        self._keep_orphans = bool(self.index.damage) or self._lost_index()
        if self._keep_orphans:
            logger.error("%s; no unnamed files are removed", "; ".join(self.index.damage) or self.index.lost)
        self.remove_orphans()

    def _lost_index(self) -> bool:
        """Return whether the index names no version while version directories are there (its
        rows were lost: a dataset it does not know is then StoreDamaged, see Index.lost)."""
        try:
            if self.index.versions():
                return False
        except StoreDamaged as exc:
            self.index.damage.append(str(exc))
            return True
        versions = sum(1 for p in self.data_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
        if versions:
            self.index.lost = (
                f"the point store's index ({self.path.name}) names no dataset, yet {versions:,} dataset versions "
                "are stored beside it; if it was emptied or replaced, restore it from a backup before importing "
                "anything, else import the datasets again"
            )
        return bool(versions)

    @classmethod
    def from_url(cls, url: str) -> EmbeddedStore:
        """Return a store for `sqlite:///relative/path` or `sqlite:////absolute/path`."""
        # As in SQLAlchemy: the path follows the third slash.
        path = url.split("://", 1)[1]
        if path.startswith("/"):
            path = path[1:]
        if not path:
            raise StoreMisconfigured("a sqlite:// store URL needs a file path, e.g. sqlite:///var/points.sqlite3")
        return cls(path)

    def remove_orphans(self) -> None:
        """Remove the files of imports that died: version directories no dataset names and
        staging files, unless the insert writing them still holds its lock (`_writing`: the
        kernel releases it when the process dies, so this needs no age or timer)."""
        if self._keep_orphans:
            return
        known = self.index.versions()
        for path in self.data_dir.iterdir():
            name = path.name
            if name.endswith(_LOCK) or name in known:
                continue
            if not known and not name.startswith(".staging-"):
                # An index that names no version at all may be a lost or reset one: its version
                # directories are kept (nothing to lose by keeping them; maybe everything by
                # removing them). Staging files are never served: they go.
                continue
            owner = name[len(".staging-") :].rsplit("-", 1)[0] if name.startswith(".staging-") else name
            if _held(self.data_dir / f"{owner}{_LOCK}"):
                continue
            # The lock is free: its insert died, or published and let go of it after `known`
            # was read. Only the index as it is now tells which.
            if not name.startswith(".staging-") and name in self.index.versions():
                continue
            self._remove(path)
        for lock in self.data_dir.glob(f"*{_LOCK}"):
            if not _held(lock) and not (self.data_dir / lock.name[: -len(_LOCK)]).exists():
                with contextlib.suppress(FileNotFoundError):
                    lock.unlink()

    @contextlib.contextmanager
    def _writing(self, version: str) -> Iterator[None]:
        """Hold the lock that marks `version`'s files as being written (see remove_orphans)."""
        path = self.data_dir / f"{version}{_LOCK}"
        while True:
            fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            # A sweep may have unlinked the file between the open and the lock: lock it anew.
            with contextlib.suppress(FileNotFoundError):
                if os.stat(path).st_ino == os.fstat(fd).st_ino:
                    break
            os.close(fd)
        try:
            yield
        finally:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            os.close(fd)

    @staticmethod
    def _remove(path: Path) -> None:
        grid_files.forget(path)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    # --- contract -------------------------------------------------------------------------

    def drop(self, dataset: str) -> None:
        with writing(self.index.conn) as conn:
            old = self.index.forget(conn, dataset)
        self._unlink(old)

    def _unlink(self, version: str | None) -> None:
        # Only after the commit: streams that opened the files before it read on.
        if version:
            self._remove(self.data_dir / version)

    def names(self) -> list[str]:
        return [r[0] for r in self.index.conn.execute("SELECT name FROM datasets ORDER BY name")]

    def exists(self, dataset: str) -> bool:
        return self.index.conn.execute("SELECT 1 FROM datasets WHERE name = ?", (dataset,)).fetchone() is not None

    def count(self, dataset: str) -> int:
        return self.index.dataset(dataset).count

    def bounds(self, dataset: str) -> Bounds | None:
        return self.index.dataset(dataset).bounds

    def schema(self, dataset: str) -> PointSchema:
        return self.index.dataset(dataset).schema

    def size(self, dataset: str) -> int | None:
        version = self.index.dataset(dataset).version
        if version is None:
            return 0
        try:
            return sum(f.stat().st_size for f in (self.data_dir / version).iterdir())
        except FileNotFoundError:
            return None

    def close(self) -> None:
        self.index.close()

    def _load(
        self, dataset: str, batches: Iterable[PointBatch], *, geometry: GeometryKind, publish_guard: PublishGuard
    ) -> Loaded:
        version = f"{dataset}.{uuid.uuid4().hex[:12]}"
        directory = self.data_dir / version
        self.remove_orphans()
        old: str | None = None
        done = False
        try:
            with self._writing(version), Staging(self.data_dir, prefix=f".staging-{version}-") as staging:
                for batch in batches:
                    staging.add(batch)
                schema = staging.schema.final()
                rows = self._write_version(dataset, geometry, directory, staging, schema)
                loaded = Loaded(staging.count, staging.bounds)
                with publish_guard(loaded):
                    # The publish: one transaction names the new version and swaps the block rows.
                    with contextlib.closing(self.index.connect()) as own, writing(own) as conn:
                        replaced = self.index.forget(conn, dataset)
                        self.index.add_dataset(conn, dataset, geometry)
                        self.index.add_blocks(conn, rows)
                        self.index.set_loaded(
                            conn, dataset, count=staging.count, bounds=staging.bounds, version=version, schema=schema
                        )
                    done, old = True, replaced
        except BaseException as exc:
            if not done:  # (a guard failing once the version is published leaves it served)
                self._remove(directory)
            if _disk_full(exc) and not done:
                raise StoreFull(
                    f"the disk of the point store ({self.data_dir}) is full; nothing of this import was kept"
                ) from exc
            raise
        finally:
            # Only after the commit: streams that opened the old files before it read on.
            self._unlink(old)
        return loaded

    def _write_version(
        self, dataset: str, geometry: str, directory: Path, staging: Staging, schema: PointSchema
    ) -> list[tuple[object, ...]]:
        arrow_schema = schema.arrow(dataset=dataset, geometry=geometry)

        def encode(block: StagedBlock) -> EncodedBlock:
            return VersionWriter.encode(block.lines, arrow.batch_message(_block_batch(block, arrow_schema, schema)))

        writer = VersionWriter(directory)
        fine = GridWriter(directory, staging.count, staging.bounds) if staging.bounds is not None else None
        rows: list[tuple[object, ...]] = []
        # Blocks are encoded (compressed five ways) on every core, and written in order; a
        # bounded window of blocks in flight keeps memory flat.
        window: deque[tuple[StagedBlock, Future[EncodedBlock]]] = deque()

        def write_oldest() -> None:
            block, future = window.popleft()
            written = writer.add(future.result())
            if fine is not None:
                fine.add(block.xs, block.ys)
            box = (float(block.xs.min()), float(block.ys.min()), float(block.xs.max()), float(block.ys.max()))
            rows.append(block_values(dataset, len(rows), len(block.xs), box, written))

        try:
            with ThreadPoolExecutor(max_workers=_ENCODERS, thread_name_prefix="pointsite-encode") as pool:
                for block in staging.blocks(BLOCK_POINTS):
                    window.append((block, pool.submit(encode, block)))
                    if len(window) >= 4 * _ENCODERS:
                        write_oldest()
                while window:
                    write_oldest()
            writer.finish()
            if fine is not None:
                fine.finish()
        finally:
            writer.close()
            if fine is not None:
                fine.close()
        return rows

    # --- reading ---------------------------------------------------------------------------

    def _plan(
        self, dataset: str, area: Area | None, form: StreamForm
    ) -> tuple[VersionReader | None, PointSchema, list[tuple[BlockRow, IntArray | None]], IntArray, int]:
        """Return a reader of the dataset's version with its sections open, its schema, the
        blocks to read, each with None when it is wholly inside, else the area's parts its points
        are tested against, where each block's points start, and the version's points, all as
        of one snapshot. The block rows are checked against the dataset's count and the sections'
        sizes (raise DamagedBlock), so no block can go missing unseen."""
        sections = [SECTIONS[form.format, form.coding], PLAIN[form.format]]
        if area is not None:
            sections.append(Section.ARROW)
        # A replacement may publish and unlink the version between the snapshot and the open:
        # then a new snapshot names the new version.
        for _attempt in range(_OPEN_ATTEMPTS):
            with snapshot(self.index) as conn:
                row = self.index.dataset(dataset, conn)
                if area is not None and row.geometry != area.kind:
                    raise StoreError(f"dataset {dataset!r} is {row.geometry}, the area is {area.kind}")
                if row.version is None:
                    return None, row.schema, [], np.zeros(0, dtype=np.int64), 0
                checked = self.index.version_blocks(row, conn)
                reader = VersionReader(self.data_dir / row.version, dataset, checked.sizes)
                try:
                    for section in sections:
                        reader.open(section)
                except FileNotFoundError:
                    reader.close()
                    continue
                try:
                    blocks = checked.blocks
                    plan: list[tuple[BlockRow, IntArray | None]] = (
                        [(b, None) for b in blocks] if area is None else _classified(area, blocks)
                    )
                except BaseException:
                    reader.close()
                    raise
            return reader, row.schema, plan, _offsets(blocks), checked.count
        raise DatasetNotFound(f"the files of dataset {dataset!r} are missing; import it again")

    def open_points(
        self, dataset: str, area: Area | None, *, form: StreamForm = PLAIN_NDJSON, batch_size: int = 10_000
    ) -> PointStream:
        # Opened (or failed) now, at the call, not at the first next().
        reader, schema, plan, offsets, total = self._plan(dataset, area, form)
        # A chunk per block (4,096 points at most, under any batch_size): the stream gathers them.
        chunks = self._read(dataset, reader, schema, plan, offsets, total, area, form)
        return PointStream(schema, Closing(chunks, reader.close if reader is not None else lambda: None), total)

    def _read(
        self,
        dataset: str,
        reader: VersionReader | None,
        schema: PointSchema,
        plan: list[tuple[BlockRow, IntArray | None]],
        offsets: IntArray,
        total: int,
        area: Area | None,
        form: StreamForm,
    ) -> Generator[Chunk, None, None]:
        if reader is None:  # created, never loaded: no points
            return
        with self._cursor(), contextlib.closing(reader):
            section = SECTIONS[form.format, form.coding]
            # Only the columns' types matter to read a block's message back.
            arrow_schema = schema.arrow(dataset=dataset, geometry=area.kind) if area is not None else None
            # The coordinates of blocks on the area's edge: from the grid file when there is one
            # (an NDJSON stream then reads no Arrow section at all), else from their messages.
            fine = _existing_grid(reader.directory, dataset, total) if area is not None else None

            def edges(blocks: list[tuple[BlockRow, IntArray]]) -> list[Chunk | None]:
                assert area is not None and arrow_schema is not None
                messages: list[bytes] = []
                batches: list[pa.RecordBatch] = []
                if form.format == Format.ARROW or fine is None:
                    messages = [reader.read(Section.ARROW, b.written.extents[Section.ARROW], b.seq) for b, _ in blocks]
                    batches = [arrow.read_batch(m, arrow_schema) for m in messages]
                    for (b, _), batch in zip(blocks, batches, strict=True):
                        if batch.num_rows != b.n:
                            raise damaged(dataset, f"block {b.seq} holds {batch.num_rows:,} points, its index {b.n:,}")
                if fine is not None:
                    coords = [_span(fine, offsets, b) for b, _ in blocks]
                else:
                    coords = [
                        (b.column(1).to_numpy(zero_copy_only=True), b.column(2).to_numpy(zero_copy_only=True))
                        for b in batches
                    ]
                masks = _masks(area, blocks, coords)
                chunks: list[Chunk | None] = []
                for i, ((block, _), mask) in enumerate(zip(blocks, masks, strict=True)):
                    n = int(mask.sum())
                    if not n:
                        chunks.append(None)
                    elif form.format == Format.ARROW:
                        whole = n == block.n
                        chunks.append(
                            Chunk(n, messages[i] if whole else arrow.batch_message(batches[i].filter(pa.array(mask))))
                        )
                    else:
                        lines = reader.read(Section.NDJSON, block.written.extents[Section.NDJSON], block.seq)
                        starts = ndjson.line_offsets(lines)
                        if len(starts) != block.n + 1:
                            raise damaged(
                                dataset, f"block {block.seq} holds {len(starts) - 1:,} lines, its index {block.n:,}"
                            )
                        chunks.append(Chunk(n, ndjson.select_lines(lines, starts, mask)))
                return chunks

            for block, tested in _tested(plan, edges):
                self._blocks_were_read(1)
                if tested is _WHOLE:
                    data = reader.read(section, block.written.extents[section], block.seq)
                    crc = block.written.ndjson_crc if form.format == Format.NDJSON else block.written.arrow_crc
                    size = block.written.extents[PLAIN[form.format]].size
                    yield Chunk(block.n, data, form.coding, size, crc)
                elif tested is not None:
                    yield tested  # type: ignore[misc]

    def _blocks_were_read(self, n: int) -> None:
        with self._read_lock:
            self.blocks_read += n

    def count_points(self, dataset: str, area: Area | None) -> int:
        # Blocks wholly inside are counted from the index; only the points of the blocks on the
        # area's edge are tested, their coordinates taken from the version's grid file (mapped
        # and checked once per process) rather than decoded from their Arrow messages.
        if area is None:  # the index's count, once its rows are checked against it (cached per version)
            with snapshot(self.index) as conn:
                row = self.index.dataset(dataset, conn)
                return self.index.version_blocks(row, conn).count if row.version is not None else row.count
        found = self._version_grid(dataset, area.kind)
        if found is None:
            return 0
        _, blocks, fine = found
        offsets = _offsets(blocks)

        def edges(tested: list[tuple[BlockRow, IntArray]]) -> list[int]:
            self._blocks_were_read(len(tested))
            masks = _masks(area, tested, [_span(fine, offsets, b) for b, _ in tested])
            return [int(mask.sum()) for mask in masks]

        total = 0
        for block, counted in _tested(_classified(area, blocks), edges):
            total += block.n if counted is _WHOLE else int(counted)  # type: ignore[call-overload]
        return total

    def overview(self, dataset: str, grid: Grid) -> IntArray:
        # Counted from the version's grid file, over the blocks whose boxes meet the bbox; the
        # last grids counted are kept (_OVERVIEWS), so a page that asks again gets it at once.
        found = self._version_grid(dataset)
        if found is None:
            return np.zeros((grid.height, grid.width), dtype=np.int64)
        version, blocks, fine = found
        kept = _OVERVIEWS.get((version, grid))
        if kept is not None:
            return kept.astype(np.int64)
        min_x, min_y, max_x, max_y = grid.bbox
        offsets = _offsets(blocks)
        ranges: list[tuple[int, int]] = []
        for block in blocks:
            bx0, by0, bx1, by1 = block.box
            if bx1 >= min_x and bx0 <= max_x and by1 >= min_y and by0 <= max_y:
                start = int(offsets[block.seq])
                if ranges and ranges[-1][1] == start:
                    ranges[-1] = (ranges[-1][0], start + block.n)
                else:
                    ranges.append((start, start + block.n))
        counts = fine.histogram(grid, ranges)
        _OVERVIEWS.put((version, grid), counts.astype(np.uint32))
        return counts

    def _version_grid(
        self, dataset: str, kind: GeometryKind | None = None
    ) -> tuple[str, list[BlockRow], FineGrid] | None:
        """Return the dataset's version, its blocks and its grid file (written now if the version
        predates grid files), all as of one snapshot; None when it has no points. With `kind`,
        raise StoreError if the dataset is of another geometry kind."""
        for _attempt in range(_OPEN_ATTEMPTS):
            with snapshot(self.index) as conn:
                row = self.index.dataset(dataset, conn)
                if kind is not None and row.geometry != kind:
                    raise StoreError(f"dataset {dataset!r} is {row.geometry}, the area is {kind}")
                if row.version is None:
                    return None
                checked = self.index.version_blocks(row, conn)
            if not checked.blocks:
                return None
            try:
                return (
                    row.version,
                    checked.blocks,
                    self._grid(dataset, self.data_dir / row.version, row.schema, row.bounds, checked),
                )
            except FileNotFoundError:
                continue  # replaced meanwhile: the next snapshot names the new version
        raise DatasetNotFound(f"the files of dataset {dataset!r} are missing; import it again")

    def _grid(
        self, dataset: str, directory: Path, schema: PointSchema, bounds: Bounds | None, checked: VersionBlocks
    ) -> FineGrid:
        """Return the version's grid file (checked: raise DamagedBlock), writing it first from the
        Arrow section if it has none."""
        with contextlib.suppress(FileNotFoundError):
            return open_grid(directory / GRID, dataset, checked.count)
        assert bounds is not None
        arrow_schema = schema.arrow(dataset=dataset, geometry="planar")
        reader = VersionReader(directory, dataset, checked.sizes)
        writer = GridWriter(directory, checked.count, bounds)
        try:
            for block in checked.blocks:
                batch = arrow.read_batch(
                    reader.read(Section.ARROW, block.written.extents[Section.ARROW], block.seq), arrow_schema
                )
                if batch.num_rows != block.n:
                    raise damaged(dataset, f"block {block.seq} holds {batch.num_rows:,} points, its index {block.n:,}")
                writer.add(batch.column(1).to_numpy(zero_copy_only=True), batch.column(2).to_numpy(zero_copy_only=True))
            writer.finish()
        finally:
            writer.close()
            reader.close()
        return open_grid(directory / GRID, dataset, checked.count)

    # --- checking --------------------------------------------------------------------------

    def verify_store(self, *, quick: bool = False) -> list[str]:
        return self.index.check(quick=quick)

    def verify(self, dataset: str) -> list[str]:
        """Return what is damaged in the dataset's stored points: its index rows (against its
        count), each section's size and every block's digest, the plain sections' CRCs and
        their points (lines, rows) against the index, and the grid file against its digests,
        its count and the Arrow section's coordinates. Reads the whole version, once."""
        try:
            with snapshot(self.index) as conn:
                row = self.index.dataset(dataset, conn)
                if row.version is None:
                    return []
                blocks = self.index.blocks(dataset, conn)
        except StoreError as exc:  # not there, or the index is damaged
            return [str(exc)]
        problems = block_problems(blocks, row.count)
        if problems:  # the blocks cannot be located: checking their bytes would tell no more
            return problems
        directory = self.data_dir / row.version
        if not directory.is_dir():
            return ["its files are missing"]
        fine: FineGrid | None = None
        try:
            fine = open_grid(directory / GRID, dataset, row.count, cached=False)
        except FileNotFoundError:
            pass  # a version older than grid files: its first overview writes it
        except DamagedBlock as exc:
            problems.append(exc.what or str(exc))
        offsets = _offsets(blocks)
        arrow_schema = row.schema.arrow(dataset=dataset, geometry=row.geometry)
        reader = VersionReader(directory, dataset)
        try:
            for section in Section:
                path = directory / section.value
                try:
                    size = path.stat().st_size
                except FileNotFoundError:
                    problems.append(f"its {section.value} file is missing")
                    continue
                last = blocks[-1].written.extents[section] if blocks else None
                expected = last.pos + last.size if last is not None else 0
                if size != expected:
                    problems.append(f"its {section.value} file is {size:,} bytes, its index says {expected:,}")
                bad: list[int] = []
                wrong: list[int] = []
                for block in blocks:
                    try:
                        data = reader.read(section, block.written.extents[section], block.seq)
                    except DamagedBlock:
                        bad.append(block.seq)
                        continue
                    if section == Section.NDJSON:
                        ok = zlib.crc32(data) == block.written.ndjson_crc and data.count(b"\n") == block.n
                    elif section == Section.ARROW:
                        ok = zlib.crc32(data) == block.written.arrow_crc and _arrow_agrees(
                            data, arrow_schema, block, fine, offsets
                        )
                    else:
                        ok = True
                    if not ok:
                        wrong.append(block.seq)
                if bad:
                    problems.append(_blocks_problem(section, bad, "checksum"))
                if wrong:
                    problems.append(_blocks_problem(section, wrong, "index row"))
        finally:
            reader.close()
        return problems


def _blocks_problem(section: Section, seqs: list[int], what: str) -> str:
    """Return 'block 3 of its ndjson file does not match its checksum', or the same of several
    blocks (the first ten, and how many more)."""
    if len(seqs) == 1:
        return f"block {seqs[0]} of its {section.value} file does not match its {what}"
    shown = ", ".join(str(s) for s in seqs[:10]) + (f" and {len(seqs) - 10:,} more" if len(seqs) > 10 else "")
    return f"{len(seqs):,} blocks of its {section.value} file do not match their {what}s ({shown})"


def _arrow_agrees(message: bytes, schema: pa.Schema, block: BlockRow, fine: FineGrid | None, offsets: IntArray) -> bool:
    """Return whether a block's Arrow message holds its index row's points, inside its box,
    at the grid file's coordinates (if there is one)."""
    try:
        batch = arrow.read_batch(message, schema)
    except Exception:  # any failure to decode is the answer
        return False
    if batch.num_rows != block.n:
        return False
    xs = batch.column(1).to_numpy(zero_copy_only=False)
    ys = batch.column(2).to_numpy(zero_copy_only=False)
    min_x, min_y, max_x, max_y = block.box
    if xs.min() != min_x or xs.max() != max_x or ys.min() != min_y or ys.max() != max_y:
        return False
    if fine is not None:
        gx, gy = _span(fine, offsets, block)
        return bool(np.array_equal(xs, gx) and np.array_equal(ys, gy))
    return True


def _offsets(blocks: list[BlockRow]) -> IntArray:
    """Return where each block's points start among the version's (by block seq)."""
    sizes = np.array([b.n for b in blocks], dtype=np.int64)
    offsets: IntArray = np.cumsum(sizes) - sizes
    return offsets


def _span(fine: FineGrid, offsets: IntArray, block: BlockRow) -> tuple[FloatArray, FloatArray]:
    """Return a block's coordinates from the version's grid file (views, not copies)."""
    start = int(offsets[block.seq])
    return fine.xs[start : start + block.n], fine.ys[start : start + block.n]


def _existing_grid(directory: Path, dataset: str, count: int) -> FineGrid | None:
    """Return the version's grid file, or None if it has none (it is not built for a stream) or
    it is damaged or not of `count` points (the stream then takes the coordinates from the
    checked Arrow section)."""
    try:
        return open_grid(directory / GRID, dataset, count)
    except FileNotFoundError:
        return None
    except DamagedBlock:
        logger.warning("dataset %r: its grid file is damaged; streams read the Arrow section", dataset)
        return None


def _masks(
    area: Area, blocks: list[tuple[BlockRow, IntArray]], coords: list[tuple[FloatArray, FloatArray]]
) -> list[BoolArray]:
    """Return the masks of the blocks' points inside the area, tested together (one pass per
    part, not per block: a test's cost is mostly fixed per call)."""
    sizes = np.array([len(x) for x, _ in coords], dtype=np.int64)
    starts = np.cumsum(sizes) - sizes
    xs = np.concatenate([x for x, _ in coords])
    ys = np.concatenate([y for _, y in coords])
    mask = area.contains_blocks(xs, ys, starts, [parts for _, parts in blocks])
    return [mask[start : start + size] for start, size in zip(starts.tolist(), sizes.tolist(), strict=True)]


def _classified(area: Area, blocks: list[BlockRow]) -> list[tuple[BlockRow, IntArray | None]]:
    """Return the blocks that hold points inside the area, each with None when it is wholly
    inside, else the area's parts its points are tested against."""
    boxes = np.array([b.box for b in blocks], dtype=np.float64).reshape(-1, 4)
    classes = area.classify_boxes(boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3])
    return [
        (b, None if classes.all_in[i] else classes.parts(i))
        for i, b in enumerate(blocks)
        if classes.all_in[i] or classes.maybe[i]
    ]


class _Kept:
    """The overviews counted last, up to a number of bytes (a version's grids never change)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._grids: OrderedDict[tuple[str, Grid], npt.NDArray[np.uint32]] = OrderedDict()

    def get(self, key: tuple[str, Grid]) -> npt.NDArray[np.uint32] | None:
        with self._lock:
            counts = self._grids.get(key)
            if counts is not None:
                self._grids.move_to_end(key)
            return counts

    def put(self, key: tuple[str, Grid], counts: npt.NDArray[np.uint32]) -> None:
        with self._lock:
            self._grids[key] = counts
            while sum(c.nbytes for c in self._grids.values()) > self.limit and len(self._grids) > 1:
                self._grids.popitem(last=False)


# Overviews kept per process: 32 MB (eight 1024 x 1024 grids).
_OVERVIEWS = _Kept(32 << 20)


# A block wholly inside: read as it is, not tested.
_WHOLE = object()
# Blocks on an area's edge tested together (a few MB of coordinates at most).
_BATCH = 8


def _tested(
    plan: list[tuple[BlockRow, IntArray | None]], test: Callable[[list[tuple[BlockRow, IntArray]]], list[T]]
) -> Generator[tuple[BlockRow, T | object], None, None]:
    """Yield each block of the plan with _WHOLE (wholly inside) or what `test` returned for it
    (a block on the edge), in order. The blocks on the edge are tested _BATCH at a time: a test's
    cost is mostly fixed per call, not per point. (Testing blocks ahead on other threads
    measured slower on 2 cores: the tests are numpy steps that hold the GIL between them.)"""
    pending: list[tuple[BlockRow, IntArray | None]] = []
    edge = 0
    for i, (block, parts) in enumerate(plan):
        pending.append((block, parts))
        if parts is not None:
            edge += 1
        # A batch ends at _BATCH blocks on the edge, at the end, and at a short block (the groups
        # of a test must not run across blocks).
        if edge and (edge == _BATCH or i == len(plan) - 1 or (parts is not None and block.n % BLOCK_POINTS)):
            on_edge = [(b, p) for b, p in pending if p is not None]
            results = iter(test(on_edge))
            for done, done_parts in pending:
                yield done, _WHOLE if done_parts is None else next(results)
            pending, edge = [], 0
    for done, _ in pending:
        yield done, _WHOLE


def _block_batch(block: StagedBlock, arrow_schema: pa.Schema, schema: PointSchema) -> pa.RecordBatch:
    """Return a block's points as a record batch (decoding its lines when they hold more than ids)."""
    if block.ids is not None:
        return record_batch(arrow_schema, schema, block.ids, block.xs, block.ys, None)
    records = [_DECODER.decode(line) for line in block.lines.splitlines()]
    return records_batch(arrow_schema, schema, records)
