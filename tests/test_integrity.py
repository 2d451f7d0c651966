"""Integrity: damage is reported, never streamed as a complete answer.

Real embedded stores, real files damaged on disk (block bytes cut, overwritten, zeroed; index rows
deleted or moved; an empty section file; the grid file; the SQLite index file itself), read over
HTTP with Django's test client as a user would, and by `manage.py check_points`."""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client

from points import stores
from points.models import Dataset, DatasetStatus
from points.stores import get_store
from points.stores.base import PointBatch, StoreDamaged
from points.stores.embedded.grid import NAME as GRID
from points.stores.embedded.store import EmbeddedStore
from tests.conftest import random_batches
from tests.stream_client import read_body

ROOT = Path(__file__).resolve().parent.parent
N = 20_000
# Most of the unit square: blocks wholly inside, and blocks on its edges.
POLYGON = '{"type":"Polygon","coordinates":[[[0.05,0.05],[0.95,0.05],[0.95,0.95],[0.05,0.95],[0.05,0.05]]]}'
ACCEPT = {"ndjson": "application/x-ndjson", "arrow": "application/vnd.apache.arrow.stream"}


@pytest.fixture(autouse=True)
def _close_stores(tmp_path: Path) -> Iterator[None]:
    """Close the stores a test opened under tmp_path (get_store keeps them per URL)."""
    yield
    for url in list(stores._stores):
        if str(tmp_path) in url:
            stores._stores.pop(url).close()


def _make(tmp_path: Path, settings: Any, names: tuple[str, ...] = ("d",)) -> EmbeddedStore:
    """Serve a store of its own at tmp_path with `names`' points (N each), in the store and the DB."""
    path = tmp_path / "points.sqlite3"
    settings.POINTS_STORE_URL = f"sqlite:///{path}"
    store = get_store()
    assert isinstance(store, EmbeddedStore)
    for seed, name in enumerate(names):
        store.load(name, random_batches(N, (0, 0, 1, 1), seed=seed + 8), geometry="planar")
        bounds = store.bounds(name)
        assert bounds is not None
        Dataset.objects.create(
            name=name,
            status=DatasetStatus.READY,
            count=N,
            min_x=bounds[0],
            min_y=bounds[1],
            max_x=bounds[2],
            max_y=bounds[3],
        )
    return store


def _version(store: EmbeddedStore, name: str = "d") -> Path:
    [version] = store.index.conn.execute("SELECT version FROM datasets WHERE name = ?", (name,)).fetchone()
    return store.data_dir / version


def _extent(store: EmbeddedStore, section: str, seq: int) -> tuple[int, int]:
    column = section.replace(".", "_")
    row = store.index.conn.execute(
        f"SELECT {column}_pos, {column}_size FROM blocks WHERE dataset = 'd' AND seq = ?", (seq,)
    ).fetchone()
    return row[0], row[1]


def _middle(store: EmbeddedStore) -> int:
    return int(store.index.conn.execute("SELECT count(*) FROM blocks WHERE dataset = 'd'").fetchone()[0]) // 2


def _sql(store: EmbeddedStore, statement: str) -> None:
    """Change the index behind the store's back, as another process (or a person) would."""
    with sqlite3.connect(store.path) as conn:
        conn.execute(statement)


def _write_block(store: EmbeddedStore, fill: Callable[[int], bytes]) -> None:
    seq = _middle(store)
    for section in ("ndjson", "arrow"):
        pos, size = _extent(store, section, seq)
        with open(_version(store) / section, "r+b") as f:
            f.seek(pos)
            f.write(fill(size))


def _truncate_block(store: EmbeddedStore) -> None:
    for section in ("ndjson", "arrow"):
        pos, size = _extent(store, section, _middle(store))
        os.truncate(_version(store) / section, pos + size // 2)


def _empty_files(store: EmbeddedStore) -> None:
    for section in ("ndjson", "arrow"):
        os.truncate(_version(store) / section, 0)


def _delete_last_row_and_count(store: EmbeddedStore) -> None:
    last, n = store.index.conn.execute(
        "SELECT seq, n FROM blocks WHERE dataset = 'd' ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    _sql(store, f"DELETE FROM blocks WHERE dataset = 'd' AND seq = {last}")
    _sql(store, f"UPDATE datasets SET count = count - {n} WHERE name = 'd'")


DAMAGE: dict[str, Callable[[EmbeddedStore], None]] = {
    "a block truncated": _truncate_block,
    "a block overwritten": lambda store: _write_block(store, lambda size: np.random.default_rng(1).bytes(size)),
    "a block zeroed": lambda store: _write_block(store, lambda size: b"\0" * size),
    "a byte flipped": lambda store: _write_block(store, lambda size: b"#"),
    "zero-length files": _empty_files,
    "a block row deleted": lambda store: _sql(
        store, f"DELETE FROM blocks WHERE dataset = 'd' AND seq = {_middle(store)}"
    ),
    "the last row deleted, the count lowered": _delete_last_row_and_count,
    "an offset past the end": lambda store: _sql(
        store,
        f"UPDATE blocks SET ndjson_pos = ndjson_pos + 10000000, arrow_pos = arrow_pos + 10000000 WHERE dataset = 'd' AND seq = {_middle(store)}",
    ),
    "a block's point count changed": lambda store: _sql(
        store, "UPDATE blocks SET n = n - 1 WHERE dataset = 'd' AND seq = 0"
    ),
}


def _query(client: Client, fmt: str, polygon: bool) -> Any:
    if polygon:
        return client.post(
            "/api/datasets/d/points/within", POLYGON, content_type="application/json", HTTP_ACCEPT=ACCEPT[fmt]
        )
    return client.get("/api/datasets/d/points", HTTP_ACCEPT=ACCEPT[fmt])


@pytest.mark.django_db
@pytest.mark.parametrize("polygon", [False, True], ids=["all", "polygon"])
@pytest.mark.parametrize("fmt", ["ndjson", "arrow"])
@pytest.mark.parametrize("damage", list(DAMAGE))
def test_damaged_points_end_in_an_error_never_as_complete(
    client: Client, settings: Any, tmp_path: Path, damage: str, fmt: str, polygon: bool
) -> None:
    store = _make(tmp_path, settings)
    healthy = _query(client, fmt, polygon)
    assert read_body(b"".join(healthy.streaming_content), fmt, "identity").ended == "end"
    store.index._versions.clear()  # as a new process would (a version's rows are kept per process)
    DAMAGE[damage](store)
    response = _query(client, fmt, polygon)
    if response.status_code == 503:  # found before the first byte
        message = response.json()["error"]
    else:
        assert response.status_code == 200
        outcome = read_body(b"".join(response.streaming_content), fmt, "identity")
        assert outcome.ended == "error", (outcome.ended, len(outcome.points))
        assert len(outcome.points) < N
        message = outcome.message
    assert message.startswith("dataset 'd' is damaged (") and "import it again" in message
    assert str(tmp_path) not in message
    assert Dataset.objects.get(name="d").damage == message  # recorded for the admin


@pytest.mark.django_db
def test_damage_met_midway_ends_the_stream_with_the_error_marker(client: Client, settings: Any, tmp_path: Path) -> None:
    store = _make(tmp_path, settings)
    DAMAGE["a block zeroed"](store)
    for fmt in ("ndjson", "arrow"):
        response: Any = client.get("/api/datasets/d/points", HTTP_ACCEPT=ACCEPT[fmt])
        assert response.status_code == 200
        outcome = read_body(b"".join(response.streaming_content), fmt, "identity")
        assert outcome.ended == "error" and 0 < len(outcome.points) < N
        assert "is damaged (block " in outcome.message


@pytest.mark.django_db
@pytest.mark.parametrize("damage", ["a block row deleted", "a block's point count changed"])
def test_counts_and_overviews_of_damaged_rows_are_503s(
    client: Client, settings: Any, tmp_path: Path, damage: str
) -> None:
    store = _make(tmp_path, settings)
    DAMAGE[damage](store)
    for response in (
        client.get("/api/datasets/d/points/count"),
        client.post("/api/datasets/d/points/count", POLYGON, content_type="application/json"),
        client.get("/api/datasets/d/overview?width=10&height=10"),
    ):
        assert response.status_code == 503
        assert response.json()["error"].startswith("dataset 'd' is damaged (its ")


@pytest.mark.django_db
def test_a_damaged_grid_file_fails_counts_and_overviews_but_streams_read_the_arrow_section(
    client: Client, settings: Any, tmp_path: Path
) -> None:
    store = _make(tmp_path, settings)
    expected = client.post("/api/datasets/d/points/count", POLYGON, content_type="application/json").json()["count"]
    grid = _version(store) / GRID
    with open(grid, "r+b") as f:
        f.seek(128 + 8 * 100)
        f.write(b"\0" * 64)
    count = client.post("/api/datasets/d/points/count", POLYGON, content_type="application/json")
    assert count.status_code == 503 and "its grid file does not match its checksums" in count.json()["error"]
    assert client.get("/api/datasets/d/overview?width=8&height=8").status_code == 503
    for fmt in ("ndjson", "arrow"):
        outcome = read_body(b"".join(_query(client, fmt, polygon=True).streaming_content), fmt, "identity")
        assert outcome.ended == "end" and len(outcome.points) == expected
    # A grid file of another version's points (same digests, wrong count) is refused as well.
    os.truncate(grid, 0)
    assert client.get("/api/datasets/d/overview?width=9&height=9").status_code == 503


# --- check_points -----------------------------------------------------------------------------


def _check_points(*names: str) -> tuple[str, int]:
    out = io.StringIO()
    try:
        call_command("check_points", *names, stdout=out)
    except CommandError as exc:
        return out.getvalue(), exc.returncode
    return out.getvalue(), 0


@pytest.mark.django_db
@pytest.mark.parametrize("damage", [*DAMAGE, "the grid file", "a compressed section", "a block's CRC"])
def test_check_points_finds_every_damage(settings: Any, tmp_path: Path, damage: str) -> None:
    store = _make(tmp_path, settings, ("d", "e"))
    output, status = _check_points()
    assert status == 0 and output.splitlines() == ["point store: ok", "d: ok (20,000 points)", "e: ok (20,000 points)"]
    if damage == "the grid file":
        with open(_version(store) / GRID, "r+b") as f:
            f.seek(128 + 20 * N - 1)
            f.write(b"\x01")
    elif damage == "a compressed section":
        pos, _ = _extent(store, "arrow.zst", 3)
        with open(_version(store) / "arrow.zst", "r+b") as f:
            f.seek(pos + 5)
            f.write(b"\x00\x01")
    elif damage == "a block's CRC":
        _sql(store, "UPDATE blocks SET ndjson_crc = ndjson_crc + 1 WHERE dataset = 'd' AND seq = 1")
    else:
        DAMAGE[damage](store)
    output, status = _check_points()
    lines = output.splitlines()
    assert status == 1, output
    assert lines[0] == "point store: ok" and lines[2] == "e: ok (20,000 points)"
    assert lines[1].startswith("d: damaged: ")
    damage_text = Dataset.objects.get(name="d").damage
    assert damage_text and lines[1] == f"d: damaged: {damage_text}"
    assert Dataset.objects.get(name="e").damage == ""
    # Only the one named; a dataset that is fine again (imported anew) is cleared.
    assert _check_points("e") == ("point store: ok\ne: ok (20,000 points)\n", 0)
    store.drop("d")
    store.load("d", random_batches(N, (0, 0, 1, 1), seed=3), geometry="planar")
    assert _check_points("d")[1] == 0 and Dataset.objects.get(name="d").damage == ""


@pytest.mark.django_db
def test_check_points_refuses_unknown_names_and_skips_datasets_not_ready(settings: Any, tmp_path: Path) -> None:
    _make(tmp_path, settings)
    Dataset.objects.create(name="busy", status=DatasetStatus.IMPORTING)
    with pytest.raises(CommandError, match="no dataset named 'nope'"):
        call_command("check_points", "nope", stdout=io.StringIO())
    output, status = _check_points()
    assert status == 0 and "busy: not checked: it is importing" in output.splitlines()


def test_the_default_verify_reads_every_point(tmp_path: Path) -> None:
    """The base class's check (what MongoDB runs): a stream that fails, or yields fewer points
    than the count, is reported."""
    from points.stores.base import PointStore

    store = EmbeddedStore(tmp_path / "v.sqlite3")
    store.load("d", random_batches(N, (0, 0, 1, 1), seed=8), geometry="planar")
    assert PointStore.verify(store, "d") == []
    DAMAGE["a block zeroed"](store)
    [problem] = PointStore.verify(store, "d")
    assert problem.startswith("dataset 'd' is damaged (block ")


# --- the SQLite index file --------------------------------------------------------------------


def _damage_page(path: Path, page: int, data: bytes | None = None) -> None:
    with open(path, "r+b") as f:
        f.seek(page * 4096)
        f.write(data if data is not None else np.random.default_rng(page).bytes(4096))


def _restart() -> None:
    """Forget the process's open stores, as a restarted server would have none."""
    stores._stores.clear()


def _checkpointed(store: EmbeddedStore) -> Path:
    """Fold the WAL into the index file and close it: its bytes on disk are all there is."""
    store.index.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return store.path


@pytest.mark.django_db
def test_a_damaged_index_page_is_a_503_with_a_message_for_the_datasets_it_holds(
    client: Client, settings: Any, tmp_path: Path
) -> None:
    store = _make(tmp_path, settings, ("a", "b", "c"))
    path = _checkpointed(store)
    pages = path.stat().st_size // 4096
    _damage_page(path, pages // 2)
    _restart()
    reopened = get_store()
    assert isinstance(reopened, EmbeddedStore)
    assert reopened.verify_store(quick=True)  # SQLite's check sees it
    statuses = {}
    for name in ("a", "b", "c"):
        response: Any = client.get(f"/api/datasets/{name}/points")
        statuses[name] = response.status_code
        if response.status_code == 503:
            message = response.json()["error"]
            assert "the point store's index (points.sqlite3" in message and "is damaged" in message
            assert str(tmp_path) not in message
        else:
            assert response.status_code == 200
            assert read_body(b"".join(response.streaming_content), "ndjson", "identity").ended == "end"
    assert 503 in statuses.values()
    assert client.get("/api/datasets").status_code == 200  # the list comes from Django's DB
    # Nothing of a damaged index is taken for orphans: every version's files are still there.
    assert len([p for p in reopened.data_dir.iterdir() if p.is_dir()]) == 3


@pytest.mark.django_db
@pytest.mark.parametrize("damage", ["header", "truncated"])
def test_an_unreadable_index_is_a_503_per_request_not_a_dead_server(
    client: Client, settings: Any, tmp_path: Path, damage: str
) -> None:
    store = _make(tmp_path, settings)
    path = _checkpointed(store)
    if damage == "header":
        _damage_page(path, 0, b"this is no SQLite file" * 20)
    else:
        os.truncate(path, path.stat().st_size // 2)
    with pytest.raises(StoreDamaged, match=r"the point store's index \(points.sqlite3\) is damaged"):
        EmbeddedStore(path)
    _restart()
    for response in (
        client.get("/api/datasets/d/points"),
        client.post("/api/datasets/d/points/within", POLYGON, content_type="application/json"),
        client.get("/api/datasets/d/points/count"),
        client.get("/api/datasets/d/overview"),
    ):
        assert response.status_code == 503
        message = response.json()["error"]
        assert message.startswith("dataset 'd' cannot be read: the point store's index (points.sqlite3) is damaged")
    assert client.get("/api/datasets").status_code == 200
    assert "is damaged" in Dataset.objects.get(name="d").damage


@pytest.mark.django_db
def test_an_emptied_index_is_damage_and_keeps_every_version(client: Client, settings: Any, tmp_path: Path) -> None:
    store = _make(tmp_path, settings, ("a", "b"))
    path = _checkpointed(store)
    os.truncate(path, 0)
    for _process in range(2):  # the second process sees the tables the first one made
        _restart()
        response = client.get("/api/datasets/a/points")
        assert response.status_code == 503
        assert "names no dataset, yet 2 dataset versions are stored beside it" in response.json()["error"]
    assert len([p for p in store.data_dir.iterdir() if p.is_dir()]) == 2


def _manage(tmp_path: Path, store_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "POINTS_STORE_URL": store_url, "POINTSITE_VAR_DIR": str(tmp_path / "var")}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False, timeout=120
    )


def test_with_a_damaged_index_the_server_boots_and_commands_say_so_in_one_line(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "points.sqlite3")
    store.load("d", [PointBatch(np.arange(3), np.zeros(3), np.zeros(3))], geometry="planar")
    path = _checkpointed(store)
    _damage_page(path, 0, b"garbage!" * 512)
    url = f"sqlite:///{path}"

    for module in ("pointsite.wsgi", "pointsite.asgi"):
        booted = _manage(tmp_path, url, "-c", f"import {module}")
        assert booted.returncode == 0, booted.stderr
        assert "Traceback" not in booted.stderr

    migrated = _manage(tmp_path, url, "manage.py", "migrate", "--no-input")
    assert migrated.returncode == 0, migrated.stderr
    checked = _manage(tmp_path, url, "manage.py", "check")
    assert checked.returncode == 0 and "Traceback" not in checked.stderr
    [warning] = [line for line in checked.stderr.splitlines() if "points.W001" in line]
    assert "the point store's index (points.sqlite3) is damaged: file is not a database" in warning

    report = _manage(tmp_path, url, "manage.py", "check_points")
    assert report.returncode == 1 and "Traceback" not in report.stderr + report.stdout
    assert report.stdout.startswith("point store: damaged: the point store's index (points.sqlite3) is damaged")
    assert len(report.stdout.splitlines()) == 1
    assert report.stderr.strip().splitlines()[-1] == "CommandError: the point store cannot be opened"
