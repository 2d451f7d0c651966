"""Imports in progress, for real: processes killed with SIGKILL mid-import (the import command, the
task worker), a replacement served while it runs, and a failure injected between the store's
publish and the metadata update. The killed ones run as separate processes on their own
throwaway database and store, as in production."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.db import connection
from django.test import Client

from points import datasets, generators
from points.models import Dataset, DatasetStatus
from points.ndjson import decode_lines
from points.stores import get_store
from points.stores.base import Loaded, PublishGuard

ROOT = Path(__file__).resolve().parent.parent
# Check what a request answers, in a process of its own (the real Django stack, its own DB connection).
FETCH = """
import json, sys
from django.test import Client
response = Client(HTTP_HOST="localhost").get(sys.argv[1])
body = b"".join(response.streaming_content) if response.streaming else response.content
lines = body.splitlines()
print(json.dumps({"status": response.status_code, "header": response.get("X-Dataset-Count"),
                  "points": max(len(lines) - 1, 0), "last": lines[-1].decode() if lines else ""}))
"""


class Site:
    """A throwaway pointsite: its own var folder, metadata database and point store."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = {
            **os.environ,
            "POINTSITE_VAR_DIR": str(root),
            "DATABASE_URL": f"sqlite:///{root / 'db.sqlite3'}",
            "POINTS_STORE_URL": f"sqlite:///{root / 'points.sqlite3'}",
            "DJANGO_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
        self.manage("migrate", "--noinput")

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True, check=check
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def fetch(self, path: str) -> dict[str, Any]:
        out = self.manage("shell", "-c", FETCH.replace("sys.argv[1]", repr(path)))
        result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
        return result

    def row(self, name: str) -> dict[str, Any]:
        with sqlite3.connect(self.root / "db.sqlite3", timeout=30) as conn:
            conn.row_factory = sqlite3.Row
            found = conn.execute("SELECT * FROM points_dataset WHERE name = ?", (name,)).fetchone()
        return dict(found) if found else {}

    def wait_running(self, name: str, process: subprocess.Popen[str], timeout: float = 60.0) -> None:
        """Wait until the dataset's import runs and has written to the store (staging files)."""
        deadline = time.monotonic() + timeout
        blocks = self.root / "points.sqlite3.blocks"
        while time.monotonic() < deadline:
            row = self.row(name)
            if row.get("job") == "running" and blocks.is_dir() and any(blocks.glob(".staging-*")):
                return
            assert process.poll() is None, f"the import ended early: {process.stderr.read() if process.stderr else ''}"
            time.sleep(0.05)
        raise AssertionError(f"the import of {name!r} never got going: {self.row(name)}")

    def leftovers(self) -> list[str]:
        """Return files in the store's folder, the uploads and lock folders that no dataset serves."""
        blocks = self.root / "points.sqlite3.blocks"
        with sqlite3.connect(self.root / "points.sqlite3") as conn:
            served = {r[0] for r in conn.execute("SELECT version FROM datasets WHERE version IS NOT NULL")}
            names = [r[0] for r in conn.execute("SELECT name FROM datasets")]
        left = [p.name for p in blocks.iterdir() if p.name not in served]
        left += [f"store dataset {n}" for n in names if "~" in n]  # scratch datasets of the imports of old
        for folder in (self.root / "uploads", self.root / "imports"):
            if folder.is_dir():
                left += [p.name for p in folder.iterdir() if p.is_file()]
        return left


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    yield Site(tmp_path)


def _kill(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)


def test_a_replacement_serves_the_old_points_and_a_killed_one_leaves_them_served(site: Site) -> None:
    site.manage("generate_points", "keep", "--grid", "50x50")
    replacing = site.start("generate_points", "keep", "--random", "4000000", "--seed", "3", "--replace")
    try:
        site.wait_running("keep", replacing)
        # While the replacement runs, the dataset is ready and streams its previous points in full.
        during = site.fetch("/api/datasets/keep/points")
        assert during["status"] == 200 and during["points"] == 2500
        assert json.loads(during["last"]) == {"end": True, "count": 2500} and during["header"] == "2500"
        assert site.row("keep")["status"] == "ready"
    finally:
        _kill(replacing)
    # Killed: the old points are served at once, and the dataset no longer says it is importing.
    after = site.fetch("/api/datasets/keep/points")
    assert after["status"] == 200 and json.loads(after["last"]) == {"end": True, "count": 2500}
    listed = {d["name"]: d for d in json.loads(site.fetch("/api/datasets")["last"])}
    assert listed["keep"]["status"] == "ready" and listed["keep"]["importing"] is False
    row = site.row("keep")
    assert row["job"] == "" and row["status"] == "ready" and "stopped" in row["status_message"]
    # What the killed import left (its unpublished version, staging files, its lock) goes when the next
    # worker (or import) starts.
    assert site.leftovers()
    site.manage("db_worker", "--batch", "--no-startup-delay", "--no-reload")
    assert site.leftovers() == []
    assert site.fetch("/api/datasets/keep/points")["points"] == 2500


def test_a_killed_worker_fails_a_new_dataset_at_once_and_its_task_at_the_next_start(site: Site) -> None:
    site.manage("generate_points", "other", "--grid", "5x5")  # a store with a dataset served
    uploads = site.root / "uploads"
    uploads.mkdir(exist_ok=True)
    rng = np.random.default_rng(1)
    source = site.root / "big.csv"
    np.savetxt(source, rng.uniform(0, 1000, (3_000_000, 2)), fmt="%.6f", delimiter=",", header="x,y", comments="")
    # What the admin's upload does: prepare the dataset, keep the file under its token, queue the task.
    queue = f"""
import shutil
from points.datasets import dataset_prepare
from points.models import Dataset, ImportJob
from points import tasks
d = dataset_prepare(name="fresh", job=ImportJob.QUEUED)
saved = "{uploads}/" + d.import_token + ".csv"
shutil.copy("{source}", saved)
options = dict(format="csv", geometry="planar", x_column=None, y_column=None, skip_bad_rows=False)
r = tasks.import_upload.enqueue(dataset_id=d.pk, token=d.import_token, path=saved, options=options)
Dataset.objects.filter(pk=d.pk).update(task_id=str(r.id))
"""
    site.manage("shell", "-c", queue)
    assert site.fetch("/api/datasets/fresh/points")["status"] == 409  # queued: nothing to serve yet
    worker = site.start("db_worker", "--no-startup-delay", "--no-reload", "--interval", "0.1")
    try:
        site.wait_running("fresh", worker)
    finally:
        _kill(worker)
    # The worker is gone: the very next request settles the dataset as failed, with the reason.
    answer = site.fetch("/api/datasets/fresh/points")
    assert answer["status"] == 409 and "stopped" in answer["last"] and "import it again" in answer["last"]
    row = site.row("fresh")
    assert row["status"] == "failed" and row["job"] == ""
    assert any(name.endswith(".csv") for name in site.leftovers())
    # The next worker marks the task failed (not retried) and removes the upload and what it loaded.
    site.manage("db_worker", "--batch", "--no-startup-delay", "--no-reload")
    with sqlite3.connect(site.root / "db.sqlite3") as conn:
        status, error = conn.execute(
            "SELECT status, exception_class_path FROM django_tasks_database_dbtaskresult"
        ).fetchone()
    assert status == "FAILED" and error.endswith("ImportStopped")
    assert site.leftovers() == []


def test_a_killed_import_command_is_settled_by_the_next_request(site: Site) -> None:
    importing = site.start("generate_points", "new", "--random", "4000000")
    try:
        site.wait_running("new", importing)
        assert site.fetch("/api/datasets/new/points")["status"] == 409
    finally:
        _kill(importing)
    answer = site.fetch("/api/datasets/new/points")
    assert answer["status"] == 409 and "failed to import" in answer["last"]
    # ...and it may be imported again straight away, without --replace.
    site.manage("generate_points", "new", "--grid", "3x3")
    assert site.fetch("/api/datasets/new/points")["points"] == 9


# --- one source of truth: a failure between the store's publish and the metadata update -----------


def _served(client: Client, name: str) -> tuple[str, int, int]:
    response: Any = client.get(f"/api/datasets/{name}/points")
    lines = list(decode_lines(b"".join(response.streaming_content)))
    end = lines[-1]
    return response["X-Dataset-Count"], end["count"], len(lines) - 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("where", ["metadata update", "after the store's publish"])
def test_a_failed_publish_leaves_metadata_and_points_in_agreement(monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    client = Client()
    datasets.dataset_import(name="agree", batches=generators.grid(10, 10))
    store = get_store()
    if where == "metadata update":
        # The metadata database fails on the publish's update (Django's own hook into its queries).
        def fail_publish(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
            if sql.startswith('UPDATE "points_dataset" SET "geometry"'):
                raise RuntimeError("injected: the metadata database failed")
            return execute(sql, params, many, context)

        wrapper = connection.execute_wrapper(fail_publish)
    else:
        real_load = store.load

        def publish_then_fail(
            dataset: str, batches: Any, *, geometry: Any, publish_guard: PublishGuard | None = None
        ) -> Loaded:
            assert publish_guard is not None

            @contextlib.contextmanager
            def guard(loaded: Loaded) -> Iterator[None]:
                with publish_guard(loaded):
                    yield  # the store publishes here, inside the metadata's transaction
                    raise RuntimeError("injected: the metadata commit failed after the store published")

            return real_load(dataset, batches, geometry=geometry, publish_guard=guard)

        monkeypatch.setattr(store, "load", publish_then_fail)
        wrapper = contextlib.nullcontext()
    with wrapper, pytest.raises(RuntimeError, match="injected"):
        datasets.dataset_import(name="agree", batches=generators.grid(3, 3), replace=True)
    monkeypatch.undo()
    header, end, lines = _served(client, "agree")
    listed = {d["name"]: d for d in client.get("/api/datasets").json()}["agree"]
    assert int(header) == end == lines == listed["count"] == Dataset.objects.get(name="agree").count
    assert end == (100 if where == "metadata update" else 9)
    assert Dataset.objects.get(name="agree").status == DatasetStatus.READY


def test_a_full_disk_during_an_import_is_one_clear_error_and_keeps_the_old_points(tmp_path: Path) -> None:
    """The store on a real 3 MB filesystem (a tmpfs in a mount namespace of the test's own), which
    a 300,000-row import overflows while staging."""
    if not shutil.which("unshare"):
        pytest.fail("util-linux's unshare is needed to give the store a small filesystem of its own")
    store_dir = tmp_path / "store"
    store_dir.mkdir()
    source = tmp_path / "big.csv"
    rng = np.random.default_rng(2)
    np.savetxt(source, rng.uniform(0, 1000, (300_000, 2)), fmt="%.6f", delimiter=",", header="x,y", comments="")
    env = {
        **os.environ,
        "POINTSITE_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "POINTS_STORE_URL": f"sqlite:///{store_dir / 'points.sqlite3'}",
        "DJANGO_LOG_LEVEL": "CRITICAL",
    }
    manage = f"{sys.executable} manage.py"
    fetch = tmp_path / "fetch.py"
    fetch.write_text(FETCH.replace("sys.argv[1]", "'/api/datasets/keep/points'"))
    script = f"""
set -e
mount -t tmpfs -o size=3m tmpfs {store_dir}
{manage} migrate -v0
{manage} generate_points keep --grid 10x10 > /dev/null
set +e
{manage} import_points keep {source} --replace 2> {tmp_path / "stderr"}
echo "rc=$?"
{manage} shell -c "$(cat {fetch})"
ls -A {store_dir / "points.sqlite3.blocks"}
"""
    run = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )
    assert "rc=1" in run.stdout, run.stdout + run.stderr
    error = (tmp_path / "stderr").read_text().strip().splitlines()
    assert error == [
        f"CommandError: {source}: the disk of the point store ({store_dir / 'points.sqlite3.blocks'}) is full; "
        "nothing of this import was kept"
    ]
    after = run.stdout.split("rc=1", 1)[1].strip().splitlines()
    answer = next(i for i, line in enumerate(after) if line.startswith("{"))
    served = json.loads(after[answer])
    assert served["status"] == 200 and json.loads(served["last"]) == {"end": True, "count": 100}
    # Only the served version is left on the full disk: no staging file, no unpublished version.
    left = after[answer + 1 :]
    assert len(left) == 1 and left[0].startswith("keep"), left
