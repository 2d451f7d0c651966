"""The data commands: generate_points, import_points, delete_dataset, ensure_demo_datasets."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from points.models import Dataset, DatasetStatus
from points.ndjson import decode_lines
from points.stores import get_store

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


def stream_ids(name: str) -> list:
    return sorted(r["id"] for c in get_store().iter_all(name) for r in decode_lines(c.ndjson))


def test_generate_grid_is_the_original_demo() -> None:
    out = io.StringIO()
    call_command("generate_points", "g", "--grid", "4x3", stdout=out)
    assert "12 points" in out.getvalue()
    rows = sorted((r for c in get_store().iter_all("g") for r in decode_lines(c.ndjson)), key=lambda r: r["id"])
    assert [r["pt"] for r in rows] == [[x, y] for x in range(4) for y in range(3)]
    dataset = Dataset.objects.get(name="g")
    assert dataset.status == DatasetStatus.READY and dataset.count == 12 and dataset.bounds == [0, 0, 3, 2]


def test_generate_random_is_reproducible_and_within_bounds() -> None:
    call_command("generate_points", "r1", "--random", "5000", "--bounds", "10,20,30,40", "--seed", "5")
    call_command("generate_points", "r2", "--random", "5000", "--bounds", "10,20,30,40", "--seed", "5")
    a = [r for c in get_store().iter_all("r1") for r in decode_lines(c.ndjson)]
    b = [r for c in get_store().iter_all("r2") for r in decode_lines(c.ndjson)]
    assert a == b and len(a) == 5000
    assert all(10 <= r["pt"][0] <= 30 and 20 <= r["pt"][1] <= 40 for r in a)


def test_generate_clusters_and_spherical() -> None:
    call_command("generate_points", "c", "--random", "3000", "--clusters", "4", "--seed", "1")
    assert Dataset.objects.get(name="c").count == 3000
    call_command("generate_points", "s", "--random", "3000", "--spherical", "--seed", "1")
    s = Dataset.objects.get(name="s")
    assert s.geometry == "spherical" and s.min_x >= -180 and s.max_y <= 90


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["x", "--grid", "0x5"], "positive sizes"),
        (["x", "--grid", "ab"], "WIDTHxHEIGHT"),
        (["x", "--random", "10", "--bounds", "1,2,3"], "4 numbers"),
        (["x", "--random", "10", "--bounds", "5,0,1,1"], "minx < maxx"),
        (["x", "--random", "10", "--spherical", "--bounds", "0,0,200,10"], "within -180,-90,180,90"),
        (["Bad Name", "--grid", "2x2"], "lowercase letters"),
    ],
)
def test_generate_refuses_bad_arguments(args: list[str], message: str) -> None:
    with (
        pytest.raises(CommandError, match=message)
        if message != "lowercase letters"
        else pytest.raises(Exception, match=message)
    ):
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
    out = io.StringIO()
    call_command("ensure_demo_datasets", stdout=out)
    assert out.getvalue() == ""


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
    pts = [r["pt"] for c in get_store().iter_all("cl") for r in decode_lines(c.ndjson)]
    assert len(pts) == 20_000
    assert all(0 <= x <= 10 and 0 <= y <= 10 for x, y in pts)
    on_edges = sum(1 for x, y in pts if x in (0.0, 10.0) or y in (0.0, 10.0))
    assert on_edges == 0
