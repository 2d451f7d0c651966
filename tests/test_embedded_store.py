"""The embedded store's own mechanics: out-of-core Z-order staging, atomic visibility."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from points.geometry import parse_area
from points.ndjson import decode_lines
from points.rules import GeometryKind
from points.stores import UnknownStoreScheme, open_store
from points.stores.base import DatasetNotFound, PointBatch, StoreError
from points.stores.embedded.blockfile import BLOCK_POINTS
from points.stores.embedded.staging import Staging
from points.stores.embedded.store import EmbeddedStore
from tests.conftest import random_batches


def read_all(store: EmbeddedStore, name: str) -> list[dict]:
    return [r for c in store.iter_all(name) for r in decode_lines(c.data)]


def test_out_of_core_staging_gives_the_same_points_as_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batches = random_batches(50_000, (0, 0, 100, 100), seed=3, batch=3000)
    props = [PointBatch([f"p{i}" for i in range(5)], np.arange(5.0), np.arange(5.0), [{"k": i} for i in range(5)])]
    in_memory = EmbeddedStore(tmp_path / "a.sqlite3")
    in_memory.load("d", batches + props, geometry="planar")
    monkeypatch.setattr(Staging, "GROUP_POINTS", 7000)
    monkeypatch.setattr(Staging, "BUCKET_POINTS", 1000)
    spilled = EmbeddedStore(tmp_path / "b.sqlite3")
    spilled.load("d", batches + props, geometry="planar")
    a, b = read_all(in_memory, "d"), read_all(spilled, "d")
    assert len(a) == len(b) == 50_005
    key = lambda r: str(r["id"])  # noqa: E731
    assert sorted(a, key=key) == sorted(b, key=key)
    area = parse_area(
        {"type": "Polygon", "coordinates": [[[10, 10], [60, 20], [40, 70], [10, 10]]]}, kind=GeometryKind.PLANAR
    )
    ids_a = sorted(str(r["id"]) for c in in_memory.iter_within("d", area) for r in decode_lines(c.data))
    ids_b = sorted(str(r["id"]) for c in spilled.iter_within("d", area) for r in decode_lines(c.data))
    assert ids_a == ids_b and len(ids_a) > 1000
    # Only the two data files are left: no scratch file.
    for store in (in_memory, spilled):
        assert [p.name.split(".")[0] for p in store.data_dir.iterdir()] == ["d"]


def test_points_stream_in_z_order_blocks(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "z.sqlite3")
    store.load("d", random_batches(200_000, (0, 0, 1, 1), seed=5, batch=50_000), geometry="planar")
    first_block = [r["pt"] for r in decode_lines(next(store.iter_all("d", batch_size=1)).data)]
    xs, ys = zip(*first_block, strict=True)
    # The first 2% of a Z-order lie in the first 1/16 of the square, not all over it.
    assert (max(xs) - min(xs)) * (max(ys) - min(ys)) < 0.1


def test_a_failed_load_leaves_no_points_and_no_scratch(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "f.sqlite3")

    def failing() -> Iterator[PointBatch]:
        yield from random_batches(10_000, (0, 0, 1, 1), seed=1)
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        store.load("d", failing(), geometry="planar")
    with pytest.raises(DatasetNotFound):
        read_all(store, "d")
    assert list(store.data_dir.iterdir()) == []
    # A replacement that fails keeps the old version, and its files alone.
    store.load("d", random_batches(100, (0, 0, 1, 1), seed=2), geometry="planar")
    [version] = list(store.data_dir.iterdir())
    with pytest.raises(OSError, match="disk full"):
        store.load("d", failing(), geometry="planar")
    assert list(store.data_dir.iterdir()) == [version] and len(read_all(store, "d")) == 100


def test_readers_see_the_old_snapshot_while_a_stream_is_open(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "s.sqlite3")
    store.load("d", random_batches(30_000, (0, 0, 1, 1), seed=2), geometry="planar")
    chunks = store.iter_all("d", batch_size=1000)
    seen = next(chunks).count
    store.drop("d")  # deleting while a stream is read must not break the stream
    seen += sum(c.count for c in chunks)
    assert seen == 30_000
    assert not store.exists("d")
    assert list(store.data_dir.iterdir()) == []


def test_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(UnknownStoreScheme, match=r"sqlite://.*mongodb://"):
        open_store("redis://localhost/0")


def test_sqlite_url_paths(tmp_path: Path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/x/points.sqlite3")
    assert isinstance(store, EmbeddedStore)
    assert store.path == tmp_path / "x" / "points.sqlite3"


def test_orphan_files_go_at_once_unless_their_insert_still_holds_its_lock(tmp_path: Path) -> None:
    import fcntl

    store = EmbeddedStore(tmp_path / "o.sqlite3")
    store.load("d", random_batches(100, (0, 0, 1, 1), seed=1), geometry="planar")
    orphan, running = store.data_dir / "gone.0123", store.data_dir / "running.4567"
    staging, running_staging = (
        store.data_dir / ".staging-gone.0123-ab12.sqlite3",
        store.data_dir / ".staging-running.4567-cd34.sqlite3",
    )
    for path in (orphan, running, staging, running_staging):
        path.write_bytes(b"x")
    (store.data_dir / "gone.0123.lock").touch()  # what a killed insert leaves: its lock file, unlocked
    held = os.open(store.data_dir / "running.4567.lock", os.O_CREAT | os.O_RDWR)
    fcntl.flock(held, fcntl.LOCK_EX)  # an insert still running (here: this test holds its lock)
    try:
        EmbeddedStore(tmp_path / "o.sqlite3")
        assert not orphan.exists() and not staging.exists() and not (store.data_dir / "gone.0123.lock").exists()
        assert running.exists() and running_staging.exists()
    finally:
        os.close(held)
    store.remove_orphans()
    assert not running.exists() and not running_staging.exists()
    assert sum(c.count for c in store.iter_all("d")) == 100


def test_a_file_of_another_layout_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE datasets (name TEXT PRIMARY KEY)")
    with pytest.raises(StoreError, match="written by another version of pointsite"):
        EmbeddedStore(path)


def test_skewed_data_is_sorted_in_bounded_pieces(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One far outlier puts every other point on one Z-order code: the sort must still be cut up."""
    from points.stores.embedded.staging import Piece

    monkeypatch.setattr(Staging, "GROUP_POINTS", 5000)
    monkeypatch.setattr(Staging, "BUCKET_POINTS", 1000)
    largest = [0]
    original = Piece.take

    def take(self: Piece, order: np.ndarray) -> Piece:
        largest[0] = max(largest[0], len(order))
        return original(self, order)

    monkeypatch.setattr(Piece, "take", take)
    rng = np.random.default_rng(4)
    xs, ys = rng.uniform(0, 1e-6, 60_000), rng.uniform(0, 1e-6, 60_000)
    xs[0] = ys[0] = 1e6
    store = EmbeddedStore(tmp_path / "skew.sqlite3")
    store.load(
        "d",
        [PointBatch(np.arange(i, i + 3000), xs[i : i + 3000], ys[i : i + 3000]) for i in range(0, 60_000, 3000)],
        geometry="planar",
    )
    assert largest[0] <= 2 * 5000 + BLOCK_POINTS
    assert sorted(r["id"] for r in read_all(store, "d")) == list(range(60_000))


@pytest.mark.parametrize("section", ["ndjson", "ndjson.zst", "arrow.deflate"])
def test_a_damaged_block_ends_the_stream_with_an_error_never_with_wrong_points(tmp_path: Path, section: str) -> None:
    from points.batches import Coding, Format, StreamForm
    from points.streams import frame_stream
    from tests.stream_client import read_body

    store = EmbeddedStore(tmp_path / "d.sqlite3")
    store.load("d", random_batches(20_000, (0, 0, 1, 1), seed=8), geometry="planar")
    [version] = list(store.data_dir.iterdir())
    path = version / section
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit, in the middle of some block
    path.write_bytes(bytes(data))
    fmt, coding = {"ndjson": ("ndjson", "identity"), "ndjson.zst": ("ndjson", "zstd")}.get(section, ("arrow", "gzip"))
    form = StreamForm(Format(fmt), Coding(coding))
    schema = store.schema("d").arrow(dataset="d", geometry="planar")
    body = b"".join(frame_stream(store.iter_all("d", form=form), form=form, schema=schema))
    outcome = read_body(body, fmt, coding)
    assert outcome.ended == "error"
    assert outcome.message.startswith("dataset 'd' is damaged (block ")
    assert len(outcome.points) < 20_000


def _open_files(directory: Path) -> list[str]:
    """Return the files under `directory` this process holds open."""
    found = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith(str(directory)):
                found.append(target)
    return found


def test_a_stream_keeps_the_schema_and_points_of_one_version_across_a_replacement(tmp_path: Path) -> None:
    from points import arrow
    from points.batches import Format, StreamForm
    from points.schema import ColumnType
    from points.streams import decode

    store = EmbeddedStore(tmp_path / "v.sqlite3")
    store.load("d", [PointBatch(np.arange(3), np.arange(3.0), np.arange(3.0))], geometry="planar")
    opened = store.open_points("d", None, form=StreamForm(Format.ARROW))
    # A re-import with string ids and a property publishes before the stream is read.
    store.load("d", [PointBatch(["a", "b"], np.zeros(2), np.zeros(2), [{"p": 1}, {"p": 2}])], geometry="planar")
    assert store.schema("d").id == ColumnType.UTF8
    assert opened.schema.id == ColumnType.INT64 and not opened.schema.properties
    schema = opened.schema.arrow(dataset="d", geometry="planar")
    rows = [r for c in opened.chunks for b in arrow.read_batches(decode(c), schema) for r in b.to_pylist()]
    assert rows == [{"id": i, "x": float(i), "y": float(i)} for i in range(3)]


def test_a_version_replaced_between_the_snapshot_and_the_open_is_read_in_its_new_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from points.stores.embedded import blockfile

    store = EmbeddedStore(tmp_path / "r.sqlite3")
    store.load("d", [PointBatch(np.array([1]), np.zeros(1), np.zeros(1))], geometry="planar")
    real_open = blockfile.VersionReader.open

    def replaced_first(self: blockfile.VersionReader, section: blockfile.Section) -> None:
        # The first open comes after the snapshot named the old version: a real re-import
        # publishes and removes it right then.
        monkeypatch.setattr(blockfile.VersionReader, "open", real_open)
        store.load("d", [PointBatch(np.array([2, 3]), np.zeros(2), np.zeros(2))], geometry="planar")
        real_open(self, section)

    monkeypatch.setattr(blockfile.VersionReader, "open", replaced_first)
    assert sorted(r["id"] for c in store.iter_all("d") for r in decode_lines(c.data)) == [2, 3]


def test_missing_files_are_reported_as_such(tmp_path: Path) -> None:
    import shutil

    store = EmbeddedStore(tmp_path / "m.sqlite3")
    store.load("d", [PointBatch(np.array([1]), np.zeros(1), np.zeros(1))], geometry="planar")
    for version in store.data_dir.iterdir():
        shutil.rmtree(version)
    with pytest.raises(DatasetNotFound, match="the files of dataset 'd' are missing"):
        store.iter_all("d")


def test_closing_a_stream_before_reading_it_releases_its_files(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "c.sqlite3")
    store.load("d", random_batches(10_000, (0, 0, 1, 1), seed=1), geometry="planar")
    area = parse_area(
        {"type": "Polygon", "coordinates": [[[0, 0], [0.5, 0], [0.5, 0.5], [0, 0]]]}, kind=GeometryKind.PLANAR
    )
    for _ in range(20):
        store.iter_all("d").close()
        store.iter_within("d", area).close()
    assert _open_files(store.data_dir) == []
    chunks = store.iter_all("d")
    assert len(_open_files(store.data_dir)) >= 1  # open from the call on, before the first chunk
    chunks.close()
    assert _open_files(store.data_dir) == [] and store.open_cursors == 0


# --- pruning, counts from the index, the grid file ------------------------------------------


def test_queries_read_only_the_blocks_they_need(tmp_path: Path) -> None:
    """A small polygon reads a few of the dataset's blocks; its count reads only those on its
    edge. (Fails if the classification stopped pruning: every block would be read.)"""
    store = EmbeddedStore(tmp_path / "p.sqlite3")
    store.load("d", random_batches(200_000, (0, 0, 1000, 1000), seed=2, batch=50_000), geometry="planar")
    blocks = -(-200_000 // BLOCK_POINTS)
    corner = parse_area(
        {"type": "Polygon", "coordinates": [[[0, 0], [400, 0], [400, 400], [0, 400], [0, 0]]]}, kind=GeometryKind.PLANAR
    )
    before = store.blocks_read
    streamed = sum(c.count for c in store.iter_within("d", corner))
    read = store.blocks_read - before
    assert 0 < read <= blocks // 3, (read, blocks)
    before = store.blocks_read
    assert store.count_points("d", corner) == streamed
    assert store.blocks_read - before < read  # the blocks wholly inside were counted, not read
    whole = parse_area(
        {"type": "Polygon", "coordinates": [[[-1, -1], [1001, -1], [1001, 1001], [-1, 1001], [-1, -1]]]},
        kind=GeometryKind.PLANAR,
    )
    before = store.blocks_read
    assert store.count_points("d", whole) == 200_000
    assert store.blocks_read == before  # every block wholly inside: nothing read


def test_a_polygon_query_reads_only_the_blocks_its_area_touches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The blocks a query reads from the version's files are those whose boxes meet its area,
    found here from the index's rows by a plain box overlap: fewer than all of them. (Without
    the pruning of the plan every block would be read.)"""
    from points.batches import Format, StreamForm
    from points.stores.embedded import blockfile
    from points.stores.embedded.index import snapshot

    store = EmbeddedStore(tmp_path / "q.sqlite3")
    store.load("d", random_batches(300_000, (0, 0, 1000, 1000), seed=7, batch=50_000), geometry="planar")
    with snapshot(store.index) as conn:
        blocks = store.index.blocks("d", conn)
    boxes = np.array([b.box for b in blocks])
    x0, y0, x1, y1 = 120.0, 610.0, 455.0, 830.0
    touching = {
        b.seq
        for b, (bx0, by0, bx1, by1) in zip(blocks, boxes, strict=True)
        if bx1 >= x0 and bx0 <= x1 and by1 >= y0 and by0 <= y1
    }
    assert 0 < len(touching) < len(blocks) // 3
    read: list[tuple[blockfile.Section, int]] = []
    real_read = blockfile.VersionReader.read

    def counted(self: blockfile.VersionReader, section: blockfile.Section, extent: blockfile.Extent, seq: int) -> bytes:
        read.append((section, seq))
        return real_read(self, section, extent, seq)

    monkeypatch.setattr(blockfile.VersionReader, "read", counted)
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    area = parse_area({"type": "Polygon", "coordinates": [ring]}, kind=GeometryKind.PLANAR)
    streamed = sum(c.count for c in store.iter_within("d", area, form=StreamForm(Format.ARROW)))
    xs = np.concatenate([b.xs for b in random_batches(300_000, (0, 0, 1000, 1000), seed=7, batch=50_000)])
    ys = np.concatenate([b.ys for b in random_batches(300_000, (0, 0, 1000, 1000), seed=7, batch=50_000)])
    assert streamed == int(((xs >= x0) & (xs <= x1) & (ys >= y0) & (ys <= y1)).sum())
    # Each block its area touches is read once (an Arrow stream tests the edge blocks on their
    # Arrow messages), no other block at all.
    assert sorted(seq for _, seq in read) == sorted(touching)
    # An NDJSON stream reads no more blocks than those (the edge blocks' coordinates come
    # from the grid file; those with no point inside are not read).
    read.clear()
    assert sum(c.count for c in store.iter_within("d", area)) == streamed
    assert read and {seq for _, seq in read} <= touching


def test_the_default_count_and_overview_agree_with_the_embedded_ones(tmp_path: Path) -> None:
    """The base class's count and overview (what the MongoDB store runs) against the embedded
    store's own, on the same data."""
    from points.overview import Grid
    from points.stores.base import PointStore

    store = EmbeddedStore(tmp_path / "b.sqlite3")
    store.load("d", random_batches(30_000, (0, 0, 100, 100), seed=4), geometry="planar")
    area = parse_area(
        {"type": "Polygon", "coordinates": [[[10, 10], [80, 5], [50, 90], [10, 10]]]}, kind=GeometryKind.PLANAR
    )
    assert PointStore.count_points(store, "d", area) == store.count_points("d", area) > 5_000
    grid = Grid((5.0, 5.0, 95.5, 70.25), 33, 17)
    assert (PointStore.overview(store, "d", grid) == store.overview("d", grid)).all()


def test_an_overview_builds_a_missing_grid_file_and_refuses_a_damaged_one(tmp_path: Path) -> None:
    from points.overview import Grid
    from points.stores.embedded.blockfile import DamagedBlock
    from points.stores.embedded.grid import NAME

    store = EmbeddedStore(tmp_path / "g.sqlite3")
    store.load("d", random_batches(20_000, (0, 0, 1, 1), seed=6), geometry="planar")
    [version] = list(store.data_dir.iterdir())
    grid = Grid((0.0, 0.0, 1.0, 1.0), 10, 10)
    first = store.overview("d", grid)
    assert first.sum() == 20_000
    # A version written before grid files existed gets one at its first overview (another grid
    # than the one above: the grids counted last are kept).
    (version / NAME).unlink()
    again = store.overview("d", Grid((0.0, 0.0, 1.0, 1.0), 5, 5))
    assert (again == first.reshape(5, 2, 5, 2).sum(axis=(1, 3))).all()
    assert (version / NAME).stat().st_size == 128 + 20 * 20_000
    data = bytearray((version / NAME).read_bytes())
    data[128 + 16 * 20_000 + 1] ^= 0x40  # one fine cell
    (version / NAME).write_bytes(bytes(data))
    with pytest.raises(DamagedBlock, match="grid file"):
        store.overview("d", Grid((0.0, 0.0, 1.0, 1.0), 3, 3))
