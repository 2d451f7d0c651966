"""The data commands: generate_points, import_points, delete_dataset, ensure_demo_datasets."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django_tasks_db.models import DBTaskResult

from points.datasets import dataset_prepare
from points.jobs import holding_lock
from points.models import Dataset, DatasetStatus, ImportJob
from points.ndjson import decode_lines
from points.stores import get_store
from points.stores.base import PointBatch

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


def stream_ids(name: str) -> list:
    return sorted(r["id"] for c in get_store().iter_all(name) for r in decode_lines(c.data))


def test_generate_grid_is_the_original_demo() -> None:
    out = io.StringIO()
    call_command("generate_points", "g", "--grid", "4x3", stdout=out)
    assert "12 points" in out.getvalue()
    rows = sorted((r for c in get_store().iter_all("g") for r in decode_lines(c.data)), key=lambda r: r["id"])
    assert [r["pt"] for r in rows] == [[x, y] for x in range(4) for y in range(3)]
    dataset = Dataset.objects.get(name="g")
    assert dataset.status == DatasetStatus.READY and dataset.count == 12 and dataset.bounds == [0, 0, 3, 2]


def test_generate_random_is_reproducible_and_within_bounds() -> None:
    call_command("generate_points", "r1", "--random", "5000", "--bounds", "10,20,30,40", "--seed", "5")
    call_command("generate_points", "r2", "--random", "5000", "--bounds", "10,20,30,40", "--seed", "5")
    a = [r for c in get_store().iter_all("r1") for r in decode_lines(c.data)]
    b = [r for c in get_store().iter_all("r2") for r in decode_lines(c.data)]
    assert a == b and len(a) == 5000
    assert all(10 <= r["pt"][0] <= 30 and 20 <= r["pt"][1] <= 40 for r in a)


def test_generate_clusters_and_spherical() -> None:
    call_command("generate_points", "c", "--random", "3000", "--clusters", "4", "--seed", "1")
    assert Dataset.objects.get(name="c").count == 3000
    call_command("generate_points", "s", "--random", "3000", "--spherical", "--seed", "1")
    s = Dataset.objects.get(name="s")
    assert s.geometry == "spherical" and s.min_x is not None and s.max_y is not None
    assert s.min_x >= -180 and s.max_y <= 90


def test_generate_on_land_puts_lonlat_points_on_natural_earths_land() -> None:
    import shapely

    from points import land

    out = io.StringIO()
    call_command("generate_points", "w", "--land", "20000", "--seed", "4", stdout=out)
    assert "20,000 points (20,000 lon/lat points on land)" in out.getvalue()
    dataset = Dataset.objects.get(name="w")
    assert dataset.geometry == "spherical" and dataset.count == 20000
    xy = np.array([r["pt"] for c in get_store().iter_all("w") for r in decode_lines(c.data)])
    assert (np.abs(xy[:, 0]) <= 180).all() and (np.abs(xy[:, 1]) <= 90).all()
    # On the land the map draws, or in a cell next to it (the near-coast allowance): none at sea.
    mask = land.land_mask()
    row, col = mask.cell_of(xy[:, 0], xy[:, 1])
    assert mask.coast[row, col].all()
    on_land = shapely.contains_xy(land.land_polygons(), xy[:, 0], xy[:, 1])
    assert on_land.mean() > 0.9
    # Over the world, not in one place: every inhabited continent has some (by rough boxes).
    continents = {"Europe": (-10, 35, 40, 70), "Africa": (-18, -35, 50, 35), "Americas": (-170, -55, -35, 70),
                  "Asia": (60, 0, 150, 70), "Australia": (112, -44, 154, -10)}  # fmt: skip
    for name, (w, s_, e, n) in continents.items():
        inside = (xy[:, 0] >= w) & (xy[:, 0] <= e) & (xy[:, 1] >= s_) & (xy[:, 1] <= n)
        assert inside.sum() > 100, name
    # The same seed, the same points.
    call_command("generate_points", "w2", "--land", "20000", "--seed", "4", stdout=io.StringIO())
    again = np.array([r["pt"] for c in get_store().iter_all("w2") for r in decode_lines(c.data)])
    assert np.array_equal(np.sort(xy, axis=0), np.sort(again, axis=0))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["x", "--land", "10", "--bounds", "0,0,1,1"], "takes no --bounds"),
        (["x", "--land", "10", "--clusters", "0"], "positive number"),
        (["x", "--grid", "0x5"], "positive sizes"),
        (["x", "--grid", "ab"], "WIDTHxHEIGHT"),
        (["x", "--random", "10", "--bounds", "1,2,3"], "4 numbers"),
        (["x", "--random", "10", "--bounds", "5,0,1,1"], "minx < maxx"),
        (["x", "--random", "10", "--spherical", "--bounds", "0,0,200,10"], "must lie within longitude in"),
        (["Bad Name", "--grid", "2x2"], "lowercase letters"),
    ],
)
def test_generate_refuses_bad_arguments(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("generate_points", *args)


def test_existing_dataset_needs_replace() -> None:
    call_command("generate_points", "g", "--grid", "2x2")
    with pytest.raises(CommandError, match="exists"):
        call_command("generate_points", "g", "--grid", "3x3")
    call_command("generate_points", "g", "--grid", "3x3", "--replace")
    assert stream_ids("g") == list(range(9))


def test_import_csv_and_delete(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("id,x,y,name\n1,0,0,a\n2,5,5,b\n")
    call_command("import_points", "csv1", str(path))
    assert stream_ids("csv1") == [1, 2]
    call_command("delete_dataset", "csv1")
    assert not Dataset.objects.filter(name="csv1").exists()
    assert not get_store().exists("csv1")
    with pytest.raises(CommandError, match="no dataset"):
        call_command("delete_dataset", "csv1")


def test_a_bad_file_fails_the_dataset_with_the_line_and_keeps_no_points(tmp_path: Path) -> None:
    path = tmp_path / "bad.ndjson"
    path.write_text('{"pt": [1, 2]}\n' * 100 + '{"pt": [1, "x"]}\n')
    with pytest.raises(CommandError, match="line 101: y is not a number"):
        call_command("import_points", "bad", str(path))
    dataset = Dataset.objects.get(name="bad")
    assert dataset.status == DatasetStatus.FAILED and "line 101" in dataset.status_message
    assert not get_store().exists("bad")
    # Fixed, the same import runs again and gives exactly the file's points.
    path.write_text('{"pt": [1, 2]}\n' * 100)
    call_command("import_points", "bad", str(path))
    assert stream_ids("bad") == list(range(100))


def test_import_geojson_spherical(tmp_path: Path) -> None:
    path = tmp_path / "p.geojson"
    path.write_text(
        json.dumps(
            {
                "type": "FeatureCollection",
                "features": [
                    {
                        "type": "Feature",
                        "geometry": {"type": "Point", "coordinates": [10, 20]},
                        "properties": {"k": "v"},
                    }
                ],
            }
        )
    )
    call_command("import_points", "geo", str(path), "--spherical")
    assert Dataset.objects.get(name="geo").geometry == "spherical"


def test_import_guesses_the_kind_of_a_new_dataset_and_keeps_an_existing_ones(tmp_path: Path) -> None:
    lonlat = tmp_path / "towns.csv"
    lonlat.write_text("name,Lon,lat\nOslo,10.75,59.91\nLima,-77.04,-12.05\n")
    planar = tmp_path / "plan.csv"
    planar.write_text("x,y\n500,300\n")
    out = io.StringIO()
    call_command("import_points", "cli-towns", str(lonlat), stdout=out)
    assert Dataset.objects.get(name="cli-towns").geometry == "spherical"
    assert "importing as lon/lat (" in out.getvalue() and "“Lon”" in out.getvalue()
    call_command("import_points", "plan", str(planar), stdout=io.StringIO())
    assert Dataset.objects.get(name="plan").geometry == "planar"
    # Imported again from a file with x/y names: the dataset keeps its kind, unless told otherwise.
    xy = tmp_path / "xy.csv"
    xy.write_text("x,y\n10,50\n")
    call_command("import_points", "cli-towns", str(xy), "--replace", stdout=io.StringIO())
    assert Dataset.objects.get(name="cli-towns").geometry == "spherical"
    call_command("import_points", "cli-towns", str(xy), "--replace", "--planar", stdout=io.StringIO())
    assert Dataset.objects.get(name="cli-towns").geometry == "planar"
    with pytest.raises(CommandError, match="not allowed with argument"):
        call_command("import_points", "cli-towns", str(xy), "--planar", "--spherical")


def test_import_missing_file() -> None:
    with pytest.raises(CommandError, match="No such file"):
        call_command("import_points", "m", "/nonexistent/file.csv")


def test_ensure_demo_datasets_creates_what_is_missing_once() -> None:
    out = io.StringIO()
    call_command("ensure_demo_datasets", stdout=out)
    assert Dataset.objects.get(name="grid").count == 2500
    assert Dataset.objects.get(name="random-500k").count == 500_000
    assert Dataset.objects.get(name="clusters-500k").count == 500_000
    assert Dataset.objects.get(name="world-200k").geometry == "spherical"
    # The 5M demo is queued for the worker (which runs none here), not made in this process.
    big = Dataset.objects.get(name="clusters-5m")
    assert big.status == DatasetStatus.IMPORTING and big.job == ImportJob.QUEUED and big.count == 0
    [task] = DBTaskResult.objects.filter(task_path="points.tasks.generate")
    assert str(task.id) == big.task_id and task.status == "READY"
    assert task.args_kwargs["kwargs"]["spec"]["points"] == 5_000_000
    assert task.args_kwargs["kwargs"]["token"] == big.import_token
    out = io.StringIO()
    call_command("ensure_demo_datasets", stdout=out)
    assert out.getvalue() == ""
    assert DBTaskResult.objects.filter(task_path="points.tasks.generate").count() == 1  # not queued twice
    assert Dataset.objects.get(name="clusters-5m").task_id == big.task_id


def test_ensure_demo_datasets_queues_the_big_demo_again_once_its_import_died(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from points.management.commands import ensure_demo_datasets

    monkeypatch.setattr(ensure_demo_datasets, "DEMOS", [])  # only the queued demo, not the 1.2 M made here
    call_command("ensure_demo_datasets", stdout=io.StringIO())
    first = Dataset.objects.get(name="clusters-5m")
    DBTaskResult.objects.filter(id=first.task_id).delete()  # its task is gone: the import is dead
    call_command("ensure_demo_datasets", stdout=io.StringIO())
    again = Dataset.objects.get(name="clusters-5m")
    assert again.job == ImportJob.QUEUED and again.task_id not in ("", first.task_id)
    assert DBTaskResult.objects.filter(task_path="points.tasks.generate", status="READY").count() == 1


def test_production_settings_pass_check_deploy(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "POINTSITE_PRODUCTION": "1",
        "DJANGO_SECRET_KEY": "x" * 60 + "Yz1!",
        "DJANGO_ALLOWED_HOSTS": "points.example.org",
        "POINTSITE_VAR_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_without_a_secret_key_fails_clearly(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SECRET_KEY"}
    env.update({"POINTSITE_PRODUCTION": "1", "POINTSITE_VAR_DIR": str(tmp_path)})
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_clusters_stay_inside_their_bounds_without_piling_on_the_edges() -> None:
    call_command(
        "generate_points", "cl", "--random", "20000", "--clusters", "3", "--bounds", "0,0,10,10", "--seed", "3"
    )
    pts = [r["pt"] for c in get_store().iter_all("cl") for r in decode_lines(c.data)]
    assert len(pts) == 20_000
    assert all(0 <= x <= 10 and 0 <= y <= 10 for x, y in pts)
    on_edges = sum(1 for x, y in pts if x in (0.0, 10.0) or y in (0.0, 10.0))
    assert on_edges == 0


def test_a_failed_replace_keeps_the_previous_points(tmp_path: Path) -> None:
    call_command("generate_points", "keep", "--grid", "10x10")
    bad = tmp_path / "bad.csv"
    bad.write_text("x,y\n1,2\n3,oops\n")
    with pytest.raises(CommandError, match="line 3"):
        call_command("import_points", "keep", str(bad), "--replace")
    dataset = Dataset.objects.get(name="keep")
    assert dataset.status == DatasetStatus.READY and dataset.count == 100
    assert "the last import failed" in dataset.status_message and "line 3" in dataset.status_message
    assert stream_ids("keep") == list(range(100))
    assert [n for n in get_store().names() if n.startswith("keep")] == ["keep"]  # no scratch left


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("first_to_publish", ["newer", "older"])
def test_two_imports_of_one_name_at_once_end_consistent(first_to_publish: str) -> None:
    """Two imports of one name load at once; only the one that owns the dataset (the newer)
    publishes, whichever reaches its publish first, and the other leaves nothing behind. The
    order is forced: the import that publishes second holds its source open, half read, until
    the other has finished."""
    import threading

    from django.db import connection

    from points import generators
    from points.datasets import DatasetError, dataset_fill, dataset_prepare
    from points.stores.embedded.store import EmbeddedStore

    older = dataset_prepare(name="race")
    newer = dataset_prepare(name="race", replace=True)  # takes the dataset over
    sizes = {"older": 300, "newer": 200}
    loading, other_done = threading.Event(), threading.Event()
    outcomes: dict[str, object] = {}

    def held(size: int) -> Iterator[PointBatch]:
        batches = iter(generators.grid(size, size))
        yield next(batches)
        loading.set()  # its version is being written
        if not other_done.wait(120):
            raise AssertionError("the other import never finished")
        yield from batches

    def run(label: str, batches: Iterable[PointBatch]) -> None:
        try:
            outcomes[label] = dataset_fill(older if label == "older" else newer, batches).count
        except DatasetError as exc:
            outcomes[label] = exc
        finally:
            connection.close()

    second = "older" if first_to_publish == "newer" else "newer"
    thread = threading.Thread(target=run, args=(second, held(sizes[second])))
    thread.start()
    try:
        assert loading.wait(120), "the import holding its source never started loading"
        run(first_to_publish, generators.grid(sizes[first_to_publish], sizes[first_to_publish]))
    finally:
        other_done.set()
        thread.join(120)
    assert not thread.is_alive()
    lost = outcomes["older"]
    assert isinstance(lost, DatasetError) and "deleted or imported again while this import ran" in str(lost)
    assert outcomes["newer"] == 40_000
    dataset = Dataset.objects.get(name="race")
    assert dataset.status == DatasetStatus.READY and dataset.count == 40_000 and dataset.job == ImportJob.NONE
    assert stream_ids("race") == list(range(40_000))
    store = get_store()
    assert isinstance(store, EmbeddedStore)
    # Nothing of the losing import's version: no files, no lock, no staging file.
    served = store.index.dataset("race").version
    assert [p.name for p in store.data_dir.iterdir() if p.name.startswith("race")] == [served]


def test_an_import_sweeps_the_scratch_datasets_the_two_step_imports_of_old_left() -> None:
    from points.stores.embedded.store import EmbeddedStore

    call_command("generate_points", "dead", "--grid", "3x3")
    call_command("generate_points", "scratch", "--grid", "2x2")
    call_command("generate_points", "running", "--grid", "2x2")
    store = get_store()
    assert isinstance(store, EmbeddedStore)
    # What a killed import of the code before single-step loads left: a dataset `name~token`
    # with its own version (made here as that code's replace made names: by renaming the rows).
    version = store.index.dataset("scratch").version
    assert version is not None
    conn = store.index.conn
    conn.execute("UPDATE datasets SET name = 'dead~0123456789ab' WHERE name = 'scratch'")
    conn.execute("UPDATE blocks SET dataset = 'dead~0123456789ab' WHERE dataset = 'scratch'")
    Dataset.objects.filter(name="scratch").delete()
    # One an import of that code still runs (during an upgrade) is kept: its token is live.
    running = dataset_prepare(name="running", replace=True)
    alive = f"running~{running.import_token[:12]}"
    conn.execute("UPDATE datasets SET name = ? WHERE name = 'running'", (alive,))
    conn.execute("UPDATE blocks SET dataset = ? WHERE dataset = 'running'", (alive,))
    assert {"dead~0123456789ab", alive} <= set(store.names()) and (store.data_dir / version).is_dir()
    with holding_lock(running.import_token):
        call_command("generate_points", "other", "--grid", "2x2")  # an import sweeps as it starts
    assert "dead~0123456789ab" not in store.names() and not (store.data_dir / version).exists()
    assert alive in store.names()
    assert stream_ids("dead") == list(range(9)) and stream_ids("other") == list(range(4))


def test_deleting_a_dataset_removes_its_points() -> None:
    call_command("generate_points", "dead", "--grid", "3x3")
    store = get_store()
    call_command("delete_dataset", "dead")
    assert "dead" not in store.names() and not Dataset.objects.filter(name="dead").exists()


def test_spherical_data_out_of_range_is_refused() -> None:
    with pytest.raises(CommandError, match="longitude in \\[-180, 180\\]"):
        call_command("generate_points", "sgrid", "--grid", "400x100", "--spherical")
    assert Dataset.objects.get(name="sgrid").status == DatasetStatus.FAILED


def test_a_wrong_store_url_is_reported_by_the_checks_and_stops_the_server(tmp_path: Path) -> None:
    env = {**os.environ, "POINTS_STORE_URL": "postgres://db/points", "POINTSITE_VAR_DIR": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0 and "points.E001" in result.stderr and "sqlite://, mongodb://" in result.stderr
    result = subprocess.run(
        [sys.executable, "-c", "import pointsite.wsgi"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode != 0 and "POINTS_STORE_URL scheme 'postgres://' is unknown" in result.stderr
