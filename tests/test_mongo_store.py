"""The MongoDB store's own documents, options and error messages, without a server: the versioned
publish (what each write sends), how the URL and the settings combine, and what users read when
MongoDB refuses (see tests/test_stores_contract.py for the same store against a real server)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from points.rules import GeometryKind
from points.schema import PointSchema
from points.stores.base import DatasetNotFound, StoreError, StoreUnavailable
from points.stores.mongo.errors import store_error
from points.stores.mongo.store import (
    CLAIM_BEAT_S,
    CLAIM_STALE_S,
    COLLSTATS_PIPELINE,
    MongoStore,
    active_collection,
    claim,
    cursors_pipeline,
    heartbeat,
    loading,
    never_published,
    new_meta,
    old_layout_claims,
    parse_shard_key,
    published,
    retirement,
    shard_command,
    stale_claims,
    unclaimed,
    url_options,
    version_name,
)
from tests.conftest import MONGODB_TOPOLOGIES, mongo_topology

NOW = datetime(2026, 12, 4, 3, 0, tzinfo=UTC)


def test_a_dataset_starts_without_a_version() -> None:
    assert new_meta("grid", GeometryKind.PLANAR) == {
        "_id": "grid",
        "geometry": "planar",
        "count": 0,
        "bounds": None,
        "loaded": False,
        "collection": None,
    }


def test_each_load_claims_a_new_version_named_before_it_exists() -> None:
    first, second = version_name("grid"), version_name("grid")
    assert first != second and first.startswith("points.grid.") and len(first) == len("points.grid.") + 12
    # An upsert: the first load of a dataset makes its document, unpublished. Not matched (the
    # upsert's insert then fails on its _id): an attached dataset's, the older layout's string or null.
    assert claim("grid", first, GeometryKind.PLANAR, NOW) == (
        {"_id": "grid", "attached": {"$exists": False}, "loading": {"$not": {"$type": ["string", "null"]}}},
        {
            "$addToSet": {"loading": {"name": first, "beat": NOW}},
            "$setOnInsert": {"geometry": "planar", "count": 0, "bounds": None, "loaded": False, "collection": None},
        },
    )
    claims = [{"name": first, "beat": NOW}, {"name": second, "beat": NOW}]
    assert loading({"_id": "grid", "loading": claims}) == [first, second]
    assert loading({"_id": "grid~abc", "loading": first}) == [first]  # the layout before: one at a time
    assert loading({"_id": "grid", "loading": []}) == loading({"_id": "grid"}) == []


def test_a_running_load_refreshes_its_claim_and_the_sweep_gives_up_stale_ones() -> None:
    name = "points.grid.0123456789ab"
    later = NOW + timedelta(seconds=CLAIM_BEAT_S)
    # Only that claim's beat (the positional $ is the claim the filter matched).
    assert heartbeat("grid", name, later) == (
        {"_id": "grid", "loading.name": name},
        {"$set": {"loading.$.beat": later}},
    )
    # Ten minutes without a beat: far longer than a live load's heartbeat pauses.
    assert CLAIM_STALE_S >= 10 * CLAIM_BEAT_S
    cutoff = NOW - timedelta(seconds=CLAIM_STALE_S)
    assert stale_claims(cutoff) == (
        {"loading.beat": {"$lt": cutoff}},
        {"$pull": {"loading": {"beat": {"$lt": cutoff}}}},
    )
    # The layout before beats: one string (or null), cleared by the sweep (every dataset) or a claim.
    assert old_layout_claims() == ({"loading": {"$type": ["string", "null"]}}, {"$unset": {"loading": ""}})
    assert old_layout_claims("grid") == (
        {"_id": "grid", "loading": {"$type": ["string", "null"]}},
        {"$unset": {"loading": ""}},
    )


def test_publishing_a_version_is_one_write_only_while_the_load_owns_it() -> None:
    schema = PointSchema()
    old, new = "points.grid.aaaaaaaaaaaa", "points.grid.0123456789ab"
    filter_, update = published("grid", new, old, 2500, (0.0, 0.0, 49.0, 49.0), schema, GeometryKind.SPHERICAL)
    # Only while the load holds its claim, and the version it retired is still the one named.
    assert filter_ == {"_id": "grid", "loading.name": new, "collection": old}
    assert update == {
        "$set": {
            "collection": new,
            "geometry": "spherical",
            "count": 2500,
            "bounds": [0.0, 0.0, 49.0, 49.0],
            "schema": {"id": "int64", "properties": [], "stats": {}},
            "loaded": True,
        },
        "$pull": {"loading": {"name": new}},
    }
    # An empty load keeps no collection; a first one publishes over no collection.
    filter_, update = published("e", "points.e.0123456789ab", None, 0, None, schema, GeometryKind.PLANAR)
    assert filter_["collection"] is None and update["$set"]["collection"] is None
    now = datetime(2026, 12, 4, tzinfo=UTC)
    assert retirement(old, "grid", now) == {"_id": old, "dataset": "grid", "retired_at": now}


def test_a_failed_load_gives_up_its_claim_and_a_document_nothing_published() -> None:
    assert unclaimed("grid", "points.grid.0123456789ab") == (
        {"_id": "grid", "loading.name": "points.grid.0123456789ab"},
        {"$pull": {"loading": {"name": "points.grid.0123456789ab"}}},
    )
    assert never_published("grid") == {
        "_id": "grid",
        "loaded": False,
        "$or": [{"loading": {"$size": 0}}, {"loading": {"$exists": False}}],
    }
    # What the sweep deletes once killed first loads' claims are given up: any such document.
    assert never_published() == {
        "loaded": False,
        "$or": [{"loading": {"$size": 0}}, {"loading": {"$exists": False}}],
    }


def test_the_active_collection_of_each_kind_of_metadata() -> None:
    assert active_collection({"_id": "a", "collection": "points.a.0123456789ab", "loaded": True}) == (
        "points.a.0123456789ab"
    )
    assert active_collection({"_id": "a", "collection": None, "loaded": True, "count": 0}) is None
    assert active_collection({"_id": "a", "loaded": True, "count": 3}) == "points.a"  # before versions
    assert active_collection({"_id": "a", "loaded": False, "count": 0}) is None
    attached = {"_id": "a", "collection": None, "attached": {"db": "legacy", "collection": "coords"}}
    assert active_collection(attached) is None  # not the store's to drop


def test_server_documents_for_sharding_sizes_and_open_cursors() -> None:
    assert parse_shard_key("_id:hashed") == {"_id": "hashed"}
    assert parse_shard_key("id, pt_cell:1") == {"id": 1, "pt_cell": 1}
    assert parse_shard_key("") == {}
    for bad in ("id:-1", ":hashed", "id:2dsphere"):
        with pytest.raises(StoreError, match="POINTS_MONGO_SHARD_KEY must be"):
            parse_shard_key(bad)
    assert shard_command("pointsite", "points.grid.0123456789ab", {"_id": "hashed"}) == {
        "shardCollection": "pointsite.points.grid.0123456789ab",
        "key": {"_id": "hashed"},
    }
    assert next(iter(shard_command("d", "c", {"id": 1}))) == "shardCollection"  # the command name comes first
    assert cursors_pipeline("pointsite.points.grid.0123456789ab") == [
        {"$currentOp": {"idleCursors": True, "allUsers": True}},
        {"$match": {"ns": "pointsite.points.grid.0123456789ab"}},
        {"$limit": 1},
    ]
    assert COLLSTATS_PIPELINE == [{"$collStats": {"storageStats": {}}}]


# --- the URL and the settings ---------------------------------------------------------------


def test_options_written_in_the_url_win_over_the_settings() -> None:
    assert url_options("mongodb://h/db?serverSelectionTimeoutMS=1234&replicaSet=rs0") == {
        "serverselectiontimeoutms",
        "replicaset",
    }
    written = MongoStore(
        "mongodb://h/db?serverSelectionTimeoutMS=1234&socketTimeoutMS=0", server_selection_timeout_ms=9
    )
    assert written.client.options.server_selection_timeout == 1.234
    assert written.client.options.pool_options.socket_timeout is None
    defaults = MongoStore("mongodb://h/db")
    # Longer than an election (~12 s): a failover delays requests rather than failing them.
    assert defaults.client.options.server_selection_timeout == 30
    assert defaults.client.options.pool_options.socket_timeout == 120
    assert defaults.db.name == "db"


def test_a_url_without_a_database_is_refused_with_an_example() -> None:
    with pytest.raises(StoreError, match=r"must name its database, e\.g\. mongodb://localhost:27017/pointsite"):
        MongoStore("mongodb://localhost:27017")
    with pytest.raises(StoreError, match="not a usable MongoDB URL"):
        MongoStore("mongodb://localhost:27017/db?w=notanumber&journal=maybe")


def test_srv_urls_are_not_resolved_when_the_store_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    import dns.resolver

    asked: list[Any] = []

    def resolve(*args: Any, **kwargs: Any) -> Any:
        asked.append(args)
        raise AssertionError("DNS was asked while the store was being built")

    monkeypatch.setattr(dns.resolver, "resolve", resolve)
    store = MongoStore("mongodb+srv://cluster0.example.invalid/pointsite")
    assert store.db.name == "pointsite" and asked == []
    store.close()


def test_manage_py_check_stays_offline_with_an_srv_url(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import dns.resolver
    from django.core.management import call_command

    def resolve(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("manage.py check asked DNS")

    monkeypatch.setattr(dns.resolver, "resolve", resolve)
    settings.POINTS_STORE_URL = "mongodb+srv://cluster0.example.invalid/pointsite"
    call_command("check", "--fail-level", "ERROR")


# --- what users read when MongoDB refuses ---------------------------------------------------


def test_mongodbs_reason_is_kept() -> None:
    from pymongo.errors import BulkWriteError, OperationFailure

    refused = OperationFailure(
        "not authorized",
        code=13,
        details={
            "codeName": "Unauthorized",
            "errmsg": "not authorized on pointsite to execute command { insert: … }",
            "code": 13,
        },
    )
    error = store_error("insert points", refused)
    assert type(error) is StoreError  # asking again will not help: not a 503
    assert (
        str(error)
        == "MongoDB failed to insert points: Unauthorized: not authorized on pointsite to execute command { insert: … }"
    )
    duplicate = BulkWriteError(
        {
            "writeErrors": [
                {"index": 0, "code": 11000, "errmsg": "E11000 duplicate key error collection: x index: id_1"}
            ]
            * 3
        }
    )
    assert str(store_error("insert points", duplicate)) == (
        "MongoDB failed to insert points: E11000 duplicate key error collection: x index: id_1 [code 11000] (and 2 more)"
    )
    interrupted = OperationFailure(
        "x", code=11602, details={"codeName": "InterruptedDueToReplStateChange", "errmsg": "operation was interrupted"}
    )
    assert isinstance(store_error("read points", interrupted), StoreUnavailable)
    long = OperationFailure("x", code=2, details={"codeName": "BadValue", "errmsg": "y" * 5000})
    assert len(str(store_error("read points", long))) < 400


def test_bson_refusals_are_store_errors_with_their_reason() -> None:
    import bson.errors
    from pymongo.errors import DocumentTooLarge

    too_large = store_error("insert points", DocumentTooLarge("BSON document too large (17825792 bytes)"))
    assert type(too_large) is StoreError
    assert "16 MiB" in str(too_large) and "17825792 bytes" in str(too_large)
    nul = store_error("insert points", bson.errors.InvalidDocument("key 'a\\x00b' must not contain null character"))
    assert type(nul) is StoreError and "null character" in str(nul)
    assert "cannot be decoded" in str(store_error("decode points", bson.errors.InvalidBSON("bad eoo")))


def test_a_server_out_of_reach_is_unavailable_and_says_where() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = MongoStore(f"mongodb://127.0.0.1:{port}/pointsite", server_selection_timeout_ms=300)
    try:
        with pytest.raises(StoreUnavailable) as caught:
            store.count("grid")
        message = str(caught.value)
        assert message.startswith(
            f"MongoDB failed to read dataset metadata: no server could be reached (127.0.0.1:{port}"
        )
        assert "Topology Description" not in message and len(message) < 400
    finally:
        store.close()


class _Logged(logging.Handler):
    """Keep the messages logged, and say when the first comes (a thread's log, waited for)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        self.seen.set()


def test_the_heartbeat_logs_a_failed_refresh_and_stops_with_its_block() -> None:
    with socket.socket() as sock:  # a server gone: nothing listens where it was
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = MongoStore(f"mongodb://127.0.0.1:{port}/pointsite", server_selection_timeout_ms=50)
    store.claim_beat_s = 0.01
    logged = _Logged()
    log = logging.getLogger("points.stores.mongo.store")
    log.addHandler(logged)
    try:
        with store._heartbeat("grid", "points.grid.0123456789ab") as thread:
            assert thread.daemon and thread.is_alive()
            # The refresh fails: said in the log, never raised into the load.
            assert logged.seen.wait(30), "the heartbeat never tried to refresh the claim"
        thread.join(30)
        assert not thread.is_alive(), "the heartbeat outlived its load"
    finally:
        log.removeHandler(logged)
        store.close()
    assert logged.messages[0].startswith(
        f"MongoDB failed to refresh the import's claim: no server could be reached (127.0.0.1:{port}"
    )


# --- against a real server (MONGODB_URI; the GitHub workflow) --------------------------------


@pytest.fixture
def mongo_store() -> Any:
    from tests.conftest import MONGODB_URI, _mongo_url

    if not MONGODB_URI:
        pytest.skip("MONGODB_URI is not set: no MongoDB server to test against")
    url = _mongo_url()
    store = MongoStore(url)
    yield store
    store.client.drop_database(store.db.name)
    store.close()


@pytest.mark.mongo
def test_what_a_dead_import_left_is_swept_and_nothing_else(mongo_store: MongoStore) -> None:
    from tests.conftest import grid_batches

    store = mongo_store
    store.load("grid", grid_batches(), geometry="planar")
    active = store._meta("grid")["collection"]
    # A version no metadata names (its load was killed after it gave up its claim), one of the
    # layout before versions, one a load is writing now, and a collection not ours.
    orphan, old_scratch, claimed, foreign = (
        "points.grid.0123456789ab",
        "points.grid.importing-0123456789ab",
        "points.other.abcdefabcdef",
        "points_notes",
    )
    for name in (orphan, old_scratch, claimed, foreign):
        store.db[name].insert_one({"id": 1, "pt": [0, 0]})
    store.meta.update_one(*claim("other", claimed, GeometryKind.PLANAR, datetime.now(UTC)), upsert=True)
    # A dataset a first load is writing is not there yet for readers.
    assert not store.exists("other") and "other" in store.names()
    with pytest.raises(DatasetNotFound):
        store.iter_all("other")
    store.remove_orphans()
    left = set(store.db.list_collection_names())
    assert orphan not in left and old_scratch not in left
    assert {active, claimed, foreign} <= left


@pytest.mark.mongo
def test_a_replacement_publishes_in_one_write_and_retires_the_old_version(mongo_store: MongoStore) -> None:
    import contextlib

    from tests.conftest import grid_batches

    store = mongo_store
    store.load("grid", grid_batches(), geometry="planar")
    old = store._meta("grid")["collection"]
    seen: list[dict[str, Any]] = []

    @contextlib.contextmanager
    def guard(loaded: Any) -> Any:
        meta = store.meta.find_one({"_id": "grid"})
        assert meta is not None
        seen.append(meta)  # the new version is claimed, loaded and indexed; the old one served
        yield

    store.load("grid", grid_batches(20, 20), geometry="planar", publish_guard=guard)
    [before] = seen
    [claimed] = loading(before)
    [entry] = before["loading"]
    assert isinstance(entry["beat"], datetime)  # its claim, refreshed while the load runs
    assert before["collection"] == old and claimed in store.db.list_collection_names()
    meta = store._meta("grid")
    assert meta["collection"] == claimed and meta["count"] == 400 and meta["loading"] == []
    retired = store.retired.find_one({"_id": old})
    assert retired is not None and retired["dataset"] == "grid"
    assert sum(c.count for c in store.iter_all("grid")) == 400


@pytest.mark.mongo
def test_dropping_the_name_an_old_scratch_dataset_left_keeps_the_published_version(mongo_store: MongoStore) -> None:
    from tests.conftest import grid_batches

    store = mongo_store
    store.load("grid", grid_batches(), geometry="planar")
    # The two-step import of old published by pointing `grid` at its scratch dataset's version;
    # the scratch name's delete was not written (the process died in between).
    store.meta.insert_one({**store._meta("grid"), "_id": "grid~abc"})
    store.drop("grid~abc")  # what the sweep does with a name no dataset may have
    assert store.count("grid") == 2500 and sum(c.count for c in store.iter_all("grid")) == 2500


@pytest.mark.mongo
def test_a_version_gone_before_the_cursor_opened_is_an_error_not_an_empty_end(mongo_store: MongoStore) -> None:
    from tests.conftest import grid_batches

    store = mongo_store
    store.load("grid", grid_batches(), geometry="planar")
    chunks = store.iter_all("grid")  # the version is resolved; its cursor opens on the first read
    store.db.drop_collection(store._meta("grid")["collection"])
    with pytest.raises(StoreError, match="was replaced or deleted while this stream read it"):
        list(chunks)


@pytest.mark.mongo
def test_integers_beyond_32_bits_stream_as_numbers(mongo_store: MongoStore) -> None:
    import numpy as np

    from points.batches import PointBatch
    from points.ndjson import decode_lines

    store = mongo_store
    ids = np.array([2**31, 2**53 + 1, 2**63 - 1], dtype=np.int64)
    props: list[dict[str, Any]] = [{"t": 1_733_270_400_000, "n": {"osm": 2**40}}, {"t": -(2**63)}, {"t": 7}]
    store.load("big", [PointBatch(ids, np.zeros(3), np.zeros(3), props)], geometry="planar")
    lines = [line for chunk in store.iter_all("big") for line in decode_lines(chunk.data)]
    assert sorted(lines, key=lambda r: r["id"]) == [
        {"id": 2**31, "pt": [0.0, 0.0], "t": 1_733_270_400_000, "n": {"osm": 2**40}},
        {"id": 2**53 + 1, "pt": [0.0, 0.0], "t": -(2**63)},
        {"id": 2**63 - 1, "pt": [0.0, 0.0], "t": 7},
    ]


def test_a_document_that_does_not_fit_its_schema_names_the_dataset() -> None:
    from points.batches import StreamForm
    from points.schema import ColumnType
    from points.stores.base import PLAIN_ARROW

    # Learnt at attach: `n` held integers; written since: a string.
    schema = PointSchema(ColumnType.INT64, {"n": ColumnType.INT64}, None)
    arrow_schema = schema.arrow(dataset="coords", geometry="planar")
    docs = [{"id": 1, "pt": [0.0, 0.0], "n": 3}, {"id": 2, "pt": [1.0, 1.0], "n": "three"}]
    attached = {"_id": "coords", "attached": {"db": "legacy", "collection": "coords"}}
    with pytest.raises(StoreError, match=r"dataset 'coords' holds a point its streams cannot write \(.+\); refresh it"):
        MongoStore._chunk("coords", attached, docs, PLAIN_ARROW, arrow_schema, schema)
    # NDJSON lines write what JSON can say; a value of no JSON kind is the same clear error.
    assert MongoStore._chunk("coords", attached, docs, StreamForm(), arrow_schema, schema).count == 2
    with pytest.raises(StoreError, match="cannot be sent as JSON"):
        MongoStore._chunk("coords", attached, [{"id": 1, "pt": [0, 0], "z": 1j}], StreamForm(), arrow_schema, schema)


def test_an_index_build_cut_by_a_failover_is_asked_once_more(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as sock:  # a primary gone: nothing listens where it was
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    store = MongoStore(f"mongodb://127.0.0.1:{port}/pointsite", server_selection_timeout_ms=200)
    try:
        with (
            caplog.at_level("WARNING", logger="points.stores.mongo.store"),
            pytest.raises(StoreUnavailable, match="MongoDB failed to build the spatial index: no server could be"),
        ):
            store._build_index(store.db["points.grid.0123456789ab"], [("pt", "2d")], {"name": "pt_2d"})
        retries = [r for r in caplog.records if "asking again" in r.getMessage()]
        assert len(retries) == 1  # once, not forever
    finally:
        store.close()


def _claim_at(store: MongoStore, dataset: str, beat: datetime) -> str:
    """Claim a version of `dataset` whose last beat was at `beat` and write a point to it, as a load
    killed (or running) at that moment left it; return the version's name."""
    name = version_name(dataset)
    store.meta.update_one(*claim(dataset, name, GeometryKind.PLANAR, beat), upsert=True)
    store.db[name].insert_one({"id": 1, "pt": [0, 0]})
    return name


@mongo_topology(*MONGODB_TOPOLOGIES)
def test_what_killed_loads_left_goes_once_their_claims_are_stale(mongo_store: MongoStore) -> None:
    from tests.conftest import grid_batches

    store = mongo_store
    store.load("grid", grid_batches(), geometry="planar")
    active = store._meta("grid")["collection"]
    now = datetime.now(UTC)
    stale = now - timedelta(seconds=CLAIM_STALE_S + 1)
    killed = _claim_at(store, "grid", stale)  # a replacement killed (SIGKILL, OOM) midway
    first = _claim_at(store, "first", stale)  # a first load killed: its document never published
    running = _claim_at(store, "running", now - timedelta(seconds=CLAIM_BEAT_S))  # a load still beating
    assert "first" in store.names() and not store.exists("first")
    store.remove_orphans()
    left = set(store.db.list_collection_names())
    assert killed not in left and first not in left
    assert {active, running} <= left
    meta = store.meta.find_one({"_id": "grid"})
    assert meta is not None and meta["loading"] == [] and meta["collection"] == active
    assert "first" not in store.names()  # (so the sweep finds no dataset to settle there)
    assert loading(store.meta.find_one({"_id": "running"}) or {}) == [running]
    assert sum(c.count for c in store.iter_all("grid")) == 2500


@mongo_topology(*MONGODB_TOPOLOGIES)
def test_the_heartbeat_keeps_a_running_loads_claim_fresh(mongo_store: MongoStore) -> None:
    from tests.conftest import grid_batches

    store = mongo_store
    store.claim_beat_s = 0.05
    seen: dict[str, Any] = {}

    def feed() -> Any:
        batches = list(grid_batches())
        yield batches[0]
        meta = store.meta.find_one({"_id": "beating"})
        assert meta is not None
        [entry] = meta["loading"]
        deadline = time.monotonic() + 30
        while True:  # the heartbeat thread writes while the load waits here for its next batch
            now = store.meta.find_one({"_id": "beating"})
            assert now is not None
            [refreshed] = now["loading"]
            if refreshed["beat"] > entry["beat"] or time.monotonic() > deadline:
                break
            time.sleep(0.01)
        seen.update(first=entry, refreshed=refreshed)
        store.remove_orphans()  # another import's sweep, as the load runs: its version is kept
        yield from batches[1:]

    assert store.load("beating", feed(), geometry="planar").count == 2500
    assert seen["refreshed"]["name"] == seen["first"]["name"]
    assert seen["refreshed"]["beat"] > seen["first"]["beat"], "the claim was never refreshed"
    meta = store._meta("beating")
    assert meta["collection"] == seen["first"]["name"] and meta["loading"] == []


@mongo_topology(*MONGODB_TOPOLOGIES)
def test_a_claim_of_the_layout_before_is_cleared(mongo_store: MongoStore) -> None:
    from tests.conftest import grid_batches

    store = mongo_store
    store.load("old", grid_batches(), geometry="planar")
    # An import of the layout before (one at a time, `loading` a string) died writing `scratch`.
    scratch = "points.old.0123456789ab"
    store.db[scratch].insert_one({"id": 1, "pt": [0, 0]})
    store.meta.update_one({"_id": "old"}, {"$set": {"loading": scratch}})
    # The claim's filter misses that document, its insert fails on the _id: it clears the string
    # and claims again (the path two first loads at once take too).
    assert store.load("old", grid_batches(20, 20), geometry="planar").count == 400
    meta = store._meta("old")
    assert meta["loading"] == [] and meta["count"] == 400
    store.meta.update_one({"_id": "old"}, {"$set": {"loading": None}})  # which $addToSet refuses too
    assert store.load("old", grid_batches(20, 20), geometry="planar").count == 400
    # Its version goes with the sweep, as does the string of a dataset it left unpublished.
    store.meta.insert_one({"_id": "older", "loaded": False, "count": 0, "collection": None, "loading": scratch})
    store.remove_orphans()
    assert scratch not in store.db.list_collection_names()
    assert "older" not in store.names()
    assert sum(c.count for c in store.iter_all("old")) == 400


@mongo_topology(*MONGODB_TOPOLOGIES)
def test_dropping_a_dataset_drops_the_versions_its_loads_claim(mongo_store: MongoStore) -> None:
    from tests.conftest import grid_batches

    store = mongo_store
    store.load("grid", grid_batches(), geometry="planar")
    active = store._meta("grid")["collection"]
    claimed = _claim_at(store, "grid", datetime.now(UTC))  # a replacement being loaded
    store.drop("grid")
    assert store.meta.find_one({"_id": "grid"}) is None
    left = set(store.db.list_collection_names())
    assert active not in left and claimed not in left
    store.drop("grid")  # nothing there: nothing done


@mongo_topology("replset", "sharded")
def test_a_publish_that_raised_yet_applied_stays_published(mongo_store: MongoStore) -> None:
    import contextlib

    import pymongo

    from tests.conftest import MONGODB_URI, grid_batches

    store = mongo_store
    store.claim_beat_s = 3600.0  # no refresh takes the failure meant for the publish
    admin: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(MONGODB_URI)
    claimed: list[str] = []

    @contextlib.contextmanager
    def unsure(loaded: Any) -> Any:
        meta = store.meta.find_one({"_id": "unsure"})
        assert meta is not None
        claimed.extend(loading(meta))
        # The next update the store sends applies, and its reply carries a write concern error
        # (as when the majority's acknowledgement times out); no retry: not a retryable code.
        admin.admin.command(
            {
                "configureFailPoint": "failCommand",
                "mode": {"times": 1},
                "data": {
                    "failCommands": ["update"],
                    "appName": "pointsite",
                    "writeConcernError": {"code": 64, "codeName": "WriteConcernFailed", "errmsg": "timed out"},
                },
            }
        )
        yield

    try:
        with pytest.raises(StoreError, match="MongoDB failed to publish the points: "):
            store.load("unsure", grid_batches(), geometry="planar", publish_guard=unsure)
    finally:
        admin.admin.command({"configureFailPoint": "failCommand", "mode": "off"})
        admin.close()
    # The clean-up saw the version published: it is served, whole, and no sweep takes it.
    [name] = claimed
    meta = store._meta("unsure")
    assert meta["collection"] == name and meta["loading"] == [] and meta["count"] == 2500
    store.remove_orphans()
    assert name in store.db.list_collection_names()
    assert sum(c.count for c in store.iter_all("unsure")) == 2500
