"""Shared fixtures: a throwaway embedded store per test session, stores for the contract suite,
and small data factories."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import numpy as np
import pytest

from points.stores import open_store
from points.stores.base import PointBatch, PointStore

MONGODB_URI = os.environ.get("MONGODB_URI", "")
# What MONGODB_URI names (the workflow says): the topology tests run only where theirs is; the kinds, described.
MONGODB_TOPOLOGY = os.environ.get("MONGODB_TOPOLOGY", "")
MONGODB_TOPOLOGIES = {"standalone": "standalone server", "replset": "replica set", "sharded": "sharded cluster"}
_Test = TypeVar("_Test", bound=Callable[..., object])


def pytest_configure(config: pytest.Config) -> None:
    """Refuse a MONGODB_TOPOLOGY we do not know, rather than skip every topology test for it."""
    if MONGODB_TOPOLOGY and MONGODB_TOPOLOGY not in MONGODB_TOPOLOGIES:
        raise pytest.UsageError(
            f"MONGODB_TOPOLOGY={MONGODB_TOPOLOGY!r} is not one of {', '.join(MONGODB_TOPOLOGIES)} "
            "(it says what kind of MongoDB deployment MONGODB_URI names)"
        )


def mongo_topology(*topologies: str) -> Callable[[_Test], _Test]:
    """Mark a test as needing a MongoDB server (`-m mongo` selects it) of one of `topologies`;
    it is skipped, saying why, where MONGODB_URI and MONGODB_TOPOLOGY name no such server."""
    unknown = set(topologies) - set(MONGODB_TOPOLOGIES)
    if unknown or not topologies:
        raise ValueError(f"mongo_topology({', '.join(topologies)}): use some of {', '.join(MONGODB_TOPOLOGIES)}")
    if not MONGODB_URI:
        reason = "MONGODB_URI is not set: no MongoDB server to test against"
    elif MONGODB_TOPOLOGY not in topologies:
        kinds = " or ".join(MONGODB_TOPOLOGIES[t] for t in topologies)
        reason = (
            f"needs a MongoDB {kinds} (MONGODB_TOPOLOGY={'|'.join(topologies)}); "
            f"MONGODB_TOPOLOGY is {MONGODB_TOPOLOGY or 'not set'}"
        )
    else:
        reason = ""

    def mark(test: _Test) -> _Test:
        marked = pytest.mark.mongo(test)
        return pytest.mark.skip(reason=reason)(marked) if reason else marked

    return mark


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Remove the file test database and its WAL files (Django removes only the first, if any)."""
    from django.conf import settings

    name = settings.DATABASES["default"].get("TEST", {}).get("NAME")
    if name and str(name).endswith(".sqlite3"):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{name}{suffix}").unlink(missing_ok=True)


@pytest.fixture(autouse=True, scope="session")
def _session_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point POINTS_STORE_URL at a fresh SQLite file for the whole session, and the uploads and
    import locks at folders of its own (never var/: a sweep there would see another run's files)."""
    from django.conf import settings

    path = tmp_path_factory.mktemp("store") / "points.sqlite3"
    names = ("POINTS_STORE_URL", "POINTS_UPLOAD_DIR", "FILE_UPLOAD_TEMP_DIR", "POINTS_IMPORT_LOCK_DIR")
    old = {name: getattr(settings, name) for name in names}
    settings.POINTS_STORE_URL = f"sqlite:///{path}"
    settings.POINTS_UPLOAD_DIR = path.parent / "uploads"
    settings.FILE_UPLOAD_TEMP_DIR = str(path.parent / "uploads" / "incoming")
    Path(settings.FILE_UPLOAD_TEMP_DIR).mkdir(parents=True)
    settings.POINTS_IMPORT_LOCK_DIR = path.parent / "imports"
    yield path
    for name, value in old.items():
        setattr(settings, name, value)


def _mongo_url() -> str:
    # A database of its own per run, so runs never see each other's datasets.
    base = MONGODB_URI.rstrip("/")
    head, _, tail = base.partition("?")
    if head.count("/") > 2:
        head = head.rsplit("/", 1)[0]
    return f"{head}/pointsite_test_{uuid.uuid4().hex[:8]}" + (f"?{tail}" if tail else "")


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param(
            "mongodb",
            marks=[
                pytest.mark.mongo,
                pytest.mark.skipif(not MONGODB_URI, reason="MONGODB_URI is not set: no MongoDB server to test against"),
            ],
        ),
    ]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PointStore]:
    """Yield each point store in turn, empty; the contract suite runs once per store."""
    if request.param == "sqlite":
        opened = open_store(f"sqlite:///{tmp_path / 'contract.sqlite3'}")
        yield opened
        opened.close()
    else:
        url = _mongo_url()
        opened = open_store(url)
        yield opened
        opened.client.drop_database(url.rsplit("/", 1)[1].split("?")[0])  # type: ignore[attr-defined]
        opened.close()


def grid_batches(width: int = 50, height: int = 50, batch: int = 1000) -> list[PointBatch]:
    """Return the original demo grid (ids x-major) cut into batches."""
    ids = np.arange(width * height, dtype=np.int64)
    xs = (ids // height).astype(np.float64)
    ys = (ids % height).astype(np.float64)
    return [PointBatch(ids[s : s + batch], xs[s : s + batch], ys[s : s + batch]) for s in range(0, len(ids), batch)]


def random_batches(
    n: int, bounds: tuple[float, float, float, float], seed: int, batch: int = 5000, spherical: bool = False
) -> list[PointBatch]:
    """Return `n` uniform random points over `bounds` in batches."""
    rng = np.random.default_rng(seed)
    xs = rng.uniform(bounds[0], bounds[2], n)
    if spherical:
        lo, hi = np.sin(np.radians([bounds[1], bounds[3]]))
        ys = np.degrees(np.arcsin(rng.uniform(lo, hi, n)))
    else:
        ys = rng.uniform(bounds[1], bounds[3], n)
    ids = np.arange(n, dtype=np.int64)
    return [PointBatch(ids[s : s + batch], xs[s : s + batch], ys[s : s + batch]) for s in range(0, n, batch)]


def run_worker() -> None:
    """Run the task worker (`manage.py db_worker`, ours: settling dead imports first) until the
    queue is empty, in this process: the admin's imports and generations are its tasks."""
    from django.core.management import call_command

    call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", "--interval", "0", verbosity=0)
