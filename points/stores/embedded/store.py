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

An insert stages the incoming batches (staging), writes a new version directory, then records
its blocks in one SQLite transaction: readers never see half a dataset, and a failed import
leaves nothing behind. A stream holds its section files open, so a dataset dropped meanwhile is
still read to the end (the files are unlinked, not truncated).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from collections import deque
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import msgspec
import numpy as np
import pyarrow as pa

from points import arrow, ndjson
from points.batches import BoolArray, Bounds, Chunk, Format, IntArray, PointBatch, StreamForm
from points.geometry import Area
from points.overview import FineGrid, Grid
from points.schema import PointSchema, record_batch, records_batch
from points.stores.base import (
    PLAIN_NDJSON,
    DatasetExists,
    DatasetNotFound,
    GeometryKind,
    PointStore,
    PointStream,
    StoreError,
)
from points.stores.embedded import grid as grid_files
from points.stores.embedded.blockfile import (
    BLOCK_POINTS,
    PLAIN,
    SECTIONS,
    EncodedBlock,
    Section,
    VersionReader,
    VersionWriter,
)
from points.stores.embedded.grid import NAME as GRID
from points.stores.embedded.grid import GridWriter, open_grid
from points.stores.embedded.index import BlockRow, Index, block_values, snapshot, writing
from points.stores.embedded.staging import StagedBlock, Staging
from points.streams import Closing

# Files of an import that died are removed when a store opens and they are this old (seconds).
_ORPHAN_AGE = 3600
_DECODER = msgspec.json.Decoder()
# Snapshots tried when a replacement removes the version just named (then it is gone for good).
_OPEN_ATTEMPTS = 5
# Threads that compress blocks during an import.
_ENCODERS = max(os.cpu_count() or 1, 1)
T = TypeVar("T")


class EmbeddedStore(PointStore):
    """Points in version directories beside one SQLite index file."""

    schemes = ("sqlite",)
    #: blocks read by streams and counts so far (a test checks that queries prune blocks)
    blocks_read = 0

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.data_dir = self.path.parent / f"{self.path.name}.blocks"
        self.data_dir.mkdir(exist_ok=True)
        self.index = Index(self.path)
        self._remove_orphans()

    @classmethod
    def from_url(cls, url: str) -> EmbeddedStore:
        """Return a store for `sqlite:///relative/path` or `sqlite:////absolute/path`."""
        # As in SQLAlchemy: the path follows the third slash.
        path = url.split("://", 1)[1]
        if path.startswith("/"):
            path = path[1:]
        if not path:
            raise StoreError("a sqlite:// store URL needs a file path, e.g. sqlite:///var/points.sqlite3")
        return cls(path)

    def _remove_orphans(self) -> None:
        # Versions no dataset names are left by imports that were killed; an import still
        # running writes its directory all the time, so only old ones are removed.
        known = self.index.versions()
        now = time.time()
        for path in self.data_dir.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if path.name not in known and now - path.stat().st_mtime > _ORPHAN_AGE:
                    self._remove(path)

    @staticmethod
    def _remove(path: Path) -> None:
        grid_files.forget(path)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    # --- contract -------------------------------------------------------------------------

    def create(self, dataset: str, *, geometry: GeometryKind) -> None:
        import sqlite3

        try:
            self.index.conn.execute("INSERT INTO datasets (name, geometry) VALUES (?, ?)", (dataset, geometry))
        except sqlite3.IntegrityError:
            raise DatasetExists(f"the point store already has a dataset {dataset!r}") from None

    def drop(self, dataset: str) -> None:
        with writing(self.index.conn) as conn:
            old = self.index.forget(conn, dataset)
        self._unlink(old)

    def replace(self, source: str, target: str) -> None:
        with writing(self.index.conn) as conn:
            self.index.dataset(source, conn)
            old = self.index.forget(conn, target)
            conn.execute("UPDATE datasets SET name = ? WHERE name = ?", (target, source))
            conn.execute("UPDATE blocks SET dataset = ? WHERE dataset = ?", (target, source))
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

    def insert(self, dataset: str, batches: Iterable[PointBatch]) -> int:
        row = self.index.dataset(dataset)
        if row.version is not None:
            raise StoreError(f"dataset {dataset!r} already has its points; drop and create it again to reload")
        version = f"{dataset}.{uuid.uuid4().hex[:12]}"
        directory = self.data_dir / version
        try:
            with Staging(self.data_dir) as staging:
                for batch in batches:
                    staging.add(batch)
                schema = staging.schema.final()
                rows = self._write_version(dataset, row.geometry, directory, staging, schema)
                with contextlib.closing(self.index.connect()) as own, writing(own) as conn:
                    if self.index.dataset(dataset, conn).version is not None:
                        raise StoreError(f"dataset {dataset!r} was loaded by another import meanwhile")
                    self.index.add_blocks(conn, rows)
                    self.index.set_loaded(
                        conn, dataset, count=staging.count, bounds=staging.bounds, version=version, schema=schema
                    )
        except BaseException:
            self._remove(directory)
            raise
        return staging.count

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
    ) -> tuple[VersionReader | None, PointSchema, list[tuple[BlockRow, IntArray | None]]]:
        """Return a reader of the dataset's version with its sections open, its schema, and the
        blocks to read, each with None when it is wholly inside, else the area's parts its points
        are tested against, all as of one snapshot."""
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
                    return None, row.schema, []
                reader = VersionReader(self.data_dir / row.version, dataset)
                try:
                    for section in sections:
                        reader.open(section)
                except FileNotFoundError:
                    reader.close()
                    continue
                try:
                    blocks = self.index.blocks(dataset, conn, sections)
                    if area is None:
                        return reader, row.schema, [(b, None) for b in blocks]
                    boxes = np.array([b.box for b in blocks], dtype=np.float64).reshape(-1, 4)
                    classes = area.classify_boxes(boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3])
                except BaseException:
                    reader.close()
                    raise
            plan = [
                (b, None if classes.all_in[i] else classes.parts(i))
                for i, b in enumerate(blocks)
                if classes.all_in[i] or classes.maybe[i]
            ]
            return reader, row.schema, plan
        raise DatasetNotFound(f"the files of dataset {dataset!r} are missing; import it again")

    def open_points(
        self, dataset: str, area: Area | None, *, form: StreamForm = PLAIN_NDJSON, batch_size: int = 10_000
    ) -> PointStream:
        # Opened (or failed) now, at the call, not at the first next().
        reader, schema, plan = self._plan(dataset, area, form)
        # A chunk per block (4,096 points at most, under any batch_size): the stream gathers them.
        chunks = self._read(dataset, reader, schema, plan, area, form)
        return PointStream(schema, Closing(chunks, reader.close if reader is not None else lambda: None))

    def _read(
        self,
        dataset: str,
        reader: VersionReader | None,
        schema: PointSchema,
        plan: list[tuple[BlockRow, IntArray | None]],
        area: Area | None,
        form: StreamForm,
    ) -> Generator[Chunk, None, None]:
        if reader is None:  # created, never loaded: no points
            return
        self.open_cursors += 1
        try:
            section = SECTIONS[form.format, form.coding]
            # Only the columns' types matter to read a block's message back.
            arrow_schema = schema.arrow(dataset=dataset, geometry=area.kind) if area is not None else None

            def edge(block: BlockRow, parts: IntArray) -> Chunk | None:
                assert area is not None and arrow_schema is not None
                batch, message, mask = self._test_block(reader, block, parts, area, arrow_schema)
                n = int(mask.sum())
                if not n:
                    return None
                if form.format == Format.ARROW:
                    data = arrow.batch_message(batch.filter(pa.array(mask))) if n < block.n else message
                else:
                    lines = reader.read(Section.NDJSON, block.written.extents[Section.NDJSON], block.seq)
                    data = ndjson.select_lines(lines, ndjson.line_offsets(lines), mask)
                return Chunk(n, data)

            for block, tested in _tested(plan, edge):
                self.blocks_read += 1
                if tested is _WHOLE:
                    data = reader.read(section, block.written.extents[section], block.seq)
                    crc = block.written.ndjson_crc if form.format == Format.NDJSON else block.written.arrow_crc
                    size = block.written.extents[PLAIN[form.format]].size
                    yield Chunk(block.n, data, form.coding, size, crc)
                elif tested is not None:
                    yield tested  # type: ignore[misc]
        finally:
            reader.close()
            self.open_cursors -= 1

    def _test_block(
        self, reader: VersionReader, block: BlockRow, parts: IntArray, area: Area, arrow_schema: pa.Schema
    ) -> tuple[pa.RecordBatch, bytes, BoolArray]:
        """Return a block on an area's edge as a record batch, its message, and the mask of its
        points inside the area."""
        message = reader.read(Section.ARROW, block.written.extents[Section.ARROW], block.seq)
        batch = arrow.read_batch(message, arrow_schema)
        xs = batch.column(1).to_numpy(zero_copy_only=True)
        ys = batch.column(2).to_numpy(zero_copy_only=True)
        return batch, message, area.contains_xy(xs, ys, parts)

    def count_points(self, dataset: str, area: Area | None) -> int:
        # Blocks wholly inside are counted from the index; only the blocks on the area's edge
        # are read (their Arrow section).
        if area is None:
            return self.count(dataset)
        reader, schema, plan = self._plan(dataset, area, StreamForm(Format.ARROW))
        if reader is None:
            return 0
        try:
            arrow_schema = schema.arrow(dataset=dataset, geometry=area.kind)

            def edge(block: BlockRow, parts: IntArray) -> int:
                self.blocks_read += 1
                return int(self._test_block(reader, block, parts, area, arrow_schema)[2].sum())

            total = 0
            for block, found in _tested(plan, edge):
                total += block.n if found is _WHOLE else int(found)  # type: ignore[call-overload]
            return total
        finally:
            reader.close()

    def overview(self, dataset: str, grid: Grid) -> IntArray:
        # Counted from the version's grid file (built now if the version predates them), over
        # the blocks whose boxes meet the bbox.
        for _attempt in range(_OPEN_ATTEMPTS):
            with snapshot(self.index) as conn:
                row = self.index.dataset(dataset, conn)
                blocks = self.index.blocks(dataset, conn, [Section.ARROW]) if row.version else []
            if row.version is None or not blocks:
                return np.zeros((grid.height, grid.width), dtype=np.int64)
            directory = self.data_dir / row.version
            try:
                fine = self._grid(dataset, directory, row.schema, row.bounds, blocks)
            except FileNotFoundError:
                continue  # replaced meanwhile: the next snapshot names the new version
            min_x, min_y, max_x, max_y = grid.bbox
            ranges: list[tuple[int, int]] = []
            start = 0
            for block in blocks:
                bx0, by0, bx1, by1 = block.box
                if bx1 >= min_x and bx0 <= max_x and by1 >= min_y and by0 <= max_y:
                    if ranges and ranges[-1][1] == start:
                        ranges[-1] = (ranges[-1][0], start + block.n)
                    else:
                        ranges.append((start, start + block.n))
                start += block.n
            return fine.histogram(grid, ranges)
        raise DatasetNotFound(f"the files of dataset {dataset!r} are missing; import it again")

    def _grid(
        self, dataset: str, directory: Path, schema: PointSchema, bounds: Bounds | None, blocks: list[BlockRow]
    ) -> FineGrid:
        """Return the version's grid file, writing it first from the Arrow section if it has none."""
        with contextlib.suppress(FileNotFoundError):
            return open_grid(directory / GRID, dataset)
        assert bounds is not None
        arrow_schema = schema.arrow(dataset=dataset, geometry="planar")
        reader = VersionReader(directory, dataset)
        writer = GridWriter(directory, sum(b.n for b in blocks), bounds)
        try:
            for block in blocks:
                batch = arrow.read_batch(
                    reader.read(Section.ARROW, block.written.extents[Section.ARROW], block.seq), arrow_schema
                )
                writer.add(batch.column(1).to_numpy(zero_copy_only=True), batch.column(2).to_numpy(zero_copy_only=True))
            writer.finish()
        finally:
            writer.close()
            reader.close()
        return open_grid(directory / GRID, dataset)


# A block wholly inside: read as it is, not tested.
_WHOLE = object()


def _tested(
    plan: list[tuple[BlockRow, IntArray | None]], test: Callable[[BlockRow, IntArray], T]
) -> Generator[tuple[BlockRow, T | object], None, None]:
    """Yield each block of the plan with _WHOLE (wholly inside) or what `test` returned for it
    (a block on the edge), in order. (Testing blocks ahead on other threads measured slower
    on 2 cores: the tests are many small numpy steps that hold the GIL between them.)"""
    for block, parts in plan:
        yield block, _WHOLE if parts is None else test(block, parts)


def _block_batch(block: StagedBlock, arrow_schema: pa.Schema, schema: PointSchema) -> pa.RecordBatch:
    """Return a block's points as a record batch (decoding its lines when they hold more than ids)."""
    if block.ids is not None:
        return record_batch(arrow_schema, schema, block.ids, block.xs, block.ys, None)
    records = [_DECODER.decode(line) for line in block.lines.splitlines()]
    return records_batch(arrow_schema, schema, records)
