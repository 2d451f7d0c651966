"""The MongoDB store on the deployments it is used on: a standalone server, a replica set and a
sharded cluster (the GitHub workflow starts each, for MongoDB 7.0 and 8.0, and says which in
MONGODB_TOPOLOGY). What only a real server can show: a re-import stays sharded, a stream reads on
through a re-import, a secondary read never sees a version older than its metadata, an import lives
through a failover, and a replaced version is dropped once nothing reads it.

Each test runs the real store (points.stores.open_store) against a database of its own, and
checks what it did through a client of its own (config.collections, the collections listed).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import numpy as np
import pymongo
import pytest
from pymongo.errors import AutoReconnect

from points.batches import Chunk, PointBatch
from points.datasets import dataset_import
from points.models import Dataset
from points.ndjson import decode_lines
from points.stores import open_store
from points.stores.mongo import MongoStore
from tests.conftest import MONGODB_TOPOLOGIES, MONGODB_TOPOLOGY, MONGODB_URI, _mongo_url, mongo_topology, random_batches

# How a sharded deployment shards every version (POINTS_MONGO_SHARD_KEY), and the document it makes.
SHARD_KEY = "_id:hashed"
SHARD_KEY_DOCUMENT = {"_id": "hashed"}
# Where the store records a replaced version until it drops it (the store's layout).
RETIRED = "pointsite_retired"
BOUNDS = (0.0, 0.0, 1000.0, 1000.0)


@dataclass
class Server:
    """The deployment MONGODB_URI names, with a database of the test's own."""

    #: the store URL of the test's database
    url: str
    database: str
    #: a client of the test's own, to check what the store did behind its back
    client: pymongo.MongoClient[dict[str, Any]]
    stores: list[MongoStore] = field(default_factory=list)

    def open(self, **options: str) -> MongoStore:
        """Return the real store for the test's database, as POINTS_STORE_URL opens it (with the
        Django settings as they are now), with `options` written in its URL."""
        url = self.url
        if options:
            url += ("&" if "?" in url else "?") + urlencode(options)
        store = open_store(url)
        assert isinstance(store, MongoStore)
        self.stores.append(store)
        return store

    def collections(self) -> set[str]:
        return set(self.client[self.database].list_collection_names())

    def retired(self, name: str) -> dict[str, Any] | None:
        """Return the store's record of version `name` retired, if it keeps one."""
        return self.client[self.database][RETIRED].find_one({"_id": name})

    def primary(self) -> str:
        """Return the host:port of the replica set's primary (waiting for one, as pymongo does)."""
        return str(self.client.admin.command("hello")["me"])


@pytest.fixture
def server(settings: Any) -> Iterator[Server]:
    """Yield the deployment with a fresh database, dropped afterwards; on a sharded cluster the
    store shards every version, as a sharded deployment is configured to."""
    if MONGODB_TOPOLOGY == "sharded":
        settings.POINTS_MONGO_SHARD_KEY = SHARD_KEY
    url = _mongo_url()
    database = urlsplit(url).path.lstrip("/")
    # Longer than an election, so the checks after a failover wait for the new primary.
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(MONGODB_URI, serverSelectionTimeoutMS=60_000)
    opened = Server(url, database, client)
    try:
        yield opened
    finally:
        for store in opened.stores:
            store.close()
        client.drop_database(database)
        client.close()


def batches_of(n: int, *, seed: int, first_id: int = 0, batch: int = 5000) -> list[PointBatch]:
    """Return `n` random points with ids first_id … first_id + n - 1, in batches."""
    return [
        PointBatch(np.asarray(b.ids) + first_id, b.xs, b.ys) for b in random_batches(n, BOUNDS, seed=seed, batch=batch)
    ]


def publish(store: MongoStore, name: str, batches: Iterable[PointBatch]) -> int:
    """Make `batches` the points of dataset `name` as an import does (points.datasets.dataset_fill:
    one load, a new version published over the old); return how many points it holds."""
    return store.load(name, batches, geometry="planar").count


def ids_of(chunks: Iterable[Chunk]) -> list[int]:
    """Return the ids of the points in NDJSON chunks, in stream order."""
    ids: list[int] = []
    for chunk in chunks:
        lines = decode_lines(chunk.data)
        assert len(lines) == chunk.count
        ids.extend(int(line["id"]) for line in lines)
    return ids


@mongo_topology("sharded")
@pytest.mark.django_db(transaction=True)
def test_a_reimport_keeps_the_dataset_sharded(server: Server) -> None:
    store = server.open()
    versions: list[str] = []
    for seed, n in ((1, 20_000), (2, 30_000)):
        dataset_import(name="sharded", batches=batches_of(n, seed=seed), replace=True, store=store)
        assert Dataset.objects.get(name="sharded").count == n
        meta = store._meta("sharded")
        version = meta["collection"]
        entry = server.client.config.collections.find_one({"_id": f"{server.database}.{version}"})
        assert entry is not None, f"import {len(versions) + 1} published {version}, which is not sharded"
        assert entry["key"] == SHARD_KEY_DOCUMENT and not entry.get("unsplittable"), entry
        # Sharded before it was loaded, by a hashed key: both shards hold points.
        per_shard = server.client[server.database][version].aggregate([{"$collStats": {"count": {}}}])
        assert len({row["shard"] for row in per_shard if row["count"]}) == 2
        assert meta["count"] == n and len(ids_of(store.iter_all("sharded"))) == n
        versions.append(version)
    first, second = versions
    assert first != second
    retired = server.retired(first)
    assert first not in server.collections() or (retired is not None and retired["dataset"] == "sharded"), (
        f"the first version {first} is neither dropped nor retired"
    )


@mongo_topology(*MONGODB_TOPOLOGIES)
@pytest.mark.django_db(transaction=True)
def test_a_stream_reads_on_through_a_reimport(server: Server) -> None:
    # The whole import (points.datasets), whose sweeps of what dead imports and replacements left
    # must leave the version a stream reads alone.
    store = server.open()
    dataset_import(name="live", batches=batches_of(5000, seed=3), replace=True, store=store)
    chunks = store.iter_all("live", batch_size=100)
    try:
        before = ids_of([next(chunks)])
        dataset_import(name="live", batches=batches_of(3000, seed=4, first_id=1_000_000), replace=True, store=store)
        after = ids_of(chunks)
    finally:
        chunks.close()
    assert len(before) < 5000 and after, "the re-import came after the stream was read"
    # Every point of the version the stream began with, exactly once, and nothing of the new one.
    assert sorted(before + after) == list(range(5000))
    assert sorted(ids_of(store.iter_all("live", batch_size=1000))) == list(range(1_000_000, 1_003_000))


@mongo_topology("replset", "sharded")
def test_a_secondary_read_sees_what_was_just_published(server: Server) -> None:
    store = server.open(readPreference="secondary")
    assert store.client.read_preference.mode == pymongo.ReadPreference.SECONDARY.mode
    for round_ in range(20):
        n, first_id = 2000 + 97 * round_, round_ * 100_000
        assert publish(store, "fresh", batches_of(n, seed=round_, first_id=first_id, batch=500)) == n
        # At once: the version the metadata names, never an older one (or one not replicated yet).
        stream = store.open_points("fresh", None, batch_size=500)
        ids = ids_of(stream.chunks)
        assert stream.count == n, f"publish {round_ + 1}: the stream says {stream.count} points, {n} were imported"
        assert sorted(ids) == list(range(first_id, first_id + n)), (
            f"publish {round_ + 1}: read {len(ids)} points, not the {n} just imported"
        )


@mongo_topology(*MONGODB_TOPOLOGIES)
def test_a_retired_version_is_dropped_once_no_stream_reads_it(server: Server) -> None:
    store = server.open()
    publish(store, "old", batches_of(2500, seed=5))
    first = store._meta("old")["collection"]
    publish(store, "old", batches_of(1000, seed=6, first_id=10_000))
    assert store._meta("old")["collection"] not in (None, first)
    retired = server.retired(first)
    assert retired is not None and retired["dataset"] == "old"
    # Kept 30 s (a stream that resolved it just before the replace may not have opened its cursor).
    assert store.sweep_retired(now=datetime.now(UTC)) == []
    assert first in server.collections()
    assert store.sweep_retired(now=datetime.now(UTC) + timedelta(seconds=31)) == [first]
    assert first not in server.collections()
    assert server.retired(first) is None
    assert sorted(ids_of(store.iter_all("old"))) == list(range(10_000, 11_000))


@mongo_topology(*MONGODB_TOPOLOGIES)
def test_a_retired_version_a_stream_reads_stays_until_the_grace_period(server: Server, settings: Any) -> None:
    settings.POINTS_MONGO_RETIRED_GRACE_S = 3600
    store = server.open()
    publish(store, "read", batches_of(2500, seed=7))
    first = store._meta("read")["collection"]
    chunks = store.iter_all("read", batch_size=100)
    try:
        read = ids_of([next(chunks)])
        publish(store, "read", batches_of(1000, seed=8, first_id=10_000))
        # Its cursor is open (idle between two batches): the version stays, and the stream reads on.
        assert store.sweep_retired(now=datetime.now(UTC) + timedelta(seconds=31)) == []
        assert first in server.collections()
        more = ids_of([next(chunks)])
        assert more and len(set(read + more)) == len(read + more) and set(more) <= set(range(2500))
        # After the grace period it goes all the same.
        assert store.sweep_retired(now=datetime.now(UTC) + timedelta(seconds=3601)) == [first]
        assert first not in server.collections()
    finally:
        chunks.close()


@mongo_topology("replset")
def test_an_import_lives_through_a_failover(server: Server, settings: Any) -> None:
    store = server.open()
    total = 300_000
    batches = batches_of(total, seed=9)
    midway = threading.Event()
    stepped_down = threading.Event()
    # Seconds the store took over each batch once the primary was stepped down.
    waits: list[float] = []
    outcome: dict[str, Any] = {}

    def feed() -> Iterator[PointBatch]:
        for i, batch in enumerate(batches):
            if i == len(batches) // 3:
                midway.set()
            # The step-down lands inside the import, however fast it runs.
            if i == len(batches) - 1 and not stepped_down.wait(120):
                raise RuntimeError("the test never stepped the primary down")
            handed = time.monotonic()
            yield batch
            if stepped_down.is_set():
                waits.append(time.monotonic() - handed)

    def load() -> None:
        try:
            outcome["count"] = store.load("failover", feed(), geometry="planar").count
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            midway.set()

    thread = threading.Thread(target=load, name="import", daemon=True)
    thread.start()
    try:
        assert midway.wait(300), "the import never got a third of the way in 5 minutes"
        assert "error" not in outcome, f"the import failed before the failover: {outcome.get('error')!r}"
        before = server.primary()
        # The primary may drop the connection as it steps down (NotPrimaryError is an AutoReconnect).
        with contextlib.suppress(AutoReconnect):
            server.client.admin.command("replSetStepDown", 20, force=True)
    finally:
        stepped_down.set()
        thread.join(600)
    assert not thread.is_alive(), "the import still runs 10 minutes after the step-down"
    assert "error" not in outcome, f"the import failed in the failover: {outcome['error']!r}"
    assert server.primary() != before, "no other member became primary: there was no failover"
    limit = settings.POINTS_MONGO_SERVER_SELECTION_TIMEOUT_MS / 1000
    assert waits, "no batch was written after the step-down"
    assert max(waits) < limit, f"a batch took {max(waits):.1f} s, longer than server selection may wait ({limit:.0f} s)"
    assert outcome["count"] == total and store.count("failover") == total
    ids = ids_of(store.iter_all("failover"))
    assert len(ids) == total and sorted(ids) == list(range(total)), "points were lost or written twice"
