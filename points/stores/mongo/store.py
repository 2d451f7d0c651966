"""The MongoDB point store: a collection per version of a dataset, a 2d or 2dsphere index, `$geoWithin`.

Each point is one document `{"id": …, "pt": [x, y], …properties}` (`pt` is a legacy coordinate
pair, which both index kinds accept), so a projection without `_id` is already the stream's line.

Versions, never renames. Every load claims a new collection `points.<dataset>.<12 hex>` in the
dataset's metadata (`pointsite_datasets`, one document per dataset: its `collection`, count,
bounds, schema, and `loading`, the claims of the loads writing versions, each
`{"name": <version>, "beat": <UTC time>}`; the document is made by the first load's claim,
unpublished until that load publishes). While it runs, the load refreshes its claim's `beat`
(every CLAIM_BEAT_S, from a thread): a claim not refreshed for CLAIM_STALE_S is a killed load's,
and the orphan sweep gives it up, drops its version and deletes a document no load published.
The load fills its version (sharded first when
POINTS_MONGO_SHARD_KEY is set, so a re-import keeps the dataset sharded), builds its index, then
publishes it: one majority write of that document naming it as `collection`. The previous
version is *retired* (`pointsite_retired`) and dropped once no cursor reads it (at
least RETIRED_MIN_AGE after, at most POINTS_MONGO_RETIRED_GRACE_S), so a stream open across a
replacement reads its own version to the end. Readers resolve the collection per request from the
primary (majority read concern) in a causally consistent session that the points cursor uses too:
with a secondary read preference, the secondary waits until it has what the metadata names.

Datasets can also be *attached* over a collection the user already has (points.stores.mongo.attach):
the store reads it through a projection that shapes its documents as stream lines, and never
writes to it or drops it.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
import time
import uuid
import warnings
from collections.abc import Generator, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import numpy as np
import pyarrow as pa

from points import arrow
from points.batches import Bounds, Chunk, Format, PointBatch, StreamForm
from points.geometry import Area
from points.schema import PointSchema, records_batch
from points.stores.base import (
    PLAIN_NDJSON,
    DatasetNotFound,
    GeometryKind,
    Loaded,
    PointStore,
    PointStream,
    PublishGuard,
    StoreError,
    StoreMisconfigured,
)
from points.stores.mongo.errors import handled, reason, store_error
from points.stores.mongo.queries import Query, index_spec, keep, within_queries
from points.stores.mongo.values import CODEC_OPTIONS, ENCODER

if TYPE_CHECKING:
    from pymongo.client_session import ClientSession
    from pymongo.collection import Collection

logger = logging.getLogger(__name__)

META = "pointsite_datasets"
RETIRED = "pointsite_retired"
#: a retired version is kept at least this long: a stream that resolved it just before the
#: replacement was published opens its cursor within this time
RETIRED_MIN_AGE = timedelta(seconds=30)
#: streams open this often sweep the retired versions at most (per process)
SWEEP_EVERY = 60.0
# The collections this store makes: versions (points.<dataset>.<12 hex>) and the scratch
# collections of the layout before versions (points.<dataset>.importing-<12 hex>).
_OWN_COLLECTION = re.compile(r"^points\..+\.(importing-)?[0-9a-f]{12}$")
# Publishes tried when another load of the dataset publishes between our read and our write.
_PUBLISH_ATTEMPTS = 5
# Claims tried when another first load of the dataset makes its document at the same moment.
_CLAIM_ATTEMPTS = 5
# The BSON types of `loading` in the layout before claims had beats (not an array of claims).
_OLD_CLAIM = ("string", "null")
#: a running load refreshes its claim's `beat` this often (seconds)
CLAIM_BEAT_S = 30.0
#: a claim whose `beat` is older than this (seconds) is a killed load's (SIGKILL and the OOM killer
#: skip its clean-up): far longer than a live load's heartbeat ever pauses (a failover, a busy
#: host), and than the clocks of the hosts writing and sweeping may differ
CLAIM_STALE_S = 600.0


def collection_name(dataset: str) -> str:
    """Return the name of the collection the layout before versions kept the dataset's points in
    (metadata without a `collection` field still names it)."""
    return f"points.{dataset}"


def version_name(dataset: str) -> str:
    """Return the name of a new version's collection of `dataset`."""
    return f"points.{dataset}.{uuid.uuid4().hex[:12]}"


def active_collection(meta: dict[str, Any]) -> str | None:
    """Return the name of the collection the metadata `meta` says holds the dataset's points in the
    store's database (None: no points, or an attached dataset, which lives elsewhere)."""
    if meta.get("attached"):
        return None
    if "collection" in meta:
        return meta["collection"]
    return collection_name(meta["_id"]) if meta.get("loaded") and meta.get("count") else None


def parse_shard_key(text: str) -> dict[str, Any]:
    """Return the shard key document POINTS_MONGO_SHARD_KEY describes (`field[:hashed|1][,…]`)."""
    key: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        field, _, kind = item.partition(":")
        kind = kind.strip() or "1"
        if not field.strip() or kind not in ("hashed", "1"):
            raise StoreMisconfigured(
                f"POINTS_MONGO_SHARD_KEY must be field[:hashed|1][,field[:1]…], e.g. _id:hashed; got {text!r}"
            )
        key[field.strip()] = "hashed" if kind == "hashed" else 1
    return key


def url_options(url: str) -> set[str]:
    """Return the (lower-cased) names of the options written in a MongoDB URL, read without DNS."""
    return {name.lower() for name, _ in parse_qsl(urlsplit(url).query, keep_blank_values=True)}


def new_meta(dataset: str, geometry: GeometryKind) -> dict[str, Any]:
    """Return the metadata document of a dataset no load has published yet (no points, no version)."""
    return {"_id": dataset, "geometry": geometry, "count": 0, "bounds": None, "loaded": False, "collection": None}


def loading(meta: dict[str, Any]) -> list[str]:
    """Return the versions `meta` says loads are writing: the names of its claims (a plain string
    in the layout before single-step loads, which loaded one at a time)."""
    claimed = meta.get("loading")
    if not claimed:
        return []
    if isinstance(claimed, str):
        return [claimed]
    return [str(c["name"]) if isinstance(c, dict) else str(c) for c in claimed]


def claim(dataset: str, name: str, geometry: GeometryKind, now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the (filter, update) of the upsert claiming version `name` for a load, its first
    beat at `now`: it is named before it exists, so no orphan sweep drops it. The first load of a
    dataset makes its document (unpublished: readers find no dataset). Several loads of a dataset
    may run at once (each claims its own version). Not matched, so the upsert's insert fails on
    the _id: an attached dataset's document (not the store's to load), and one whose `loading` is
    the older layout's string or null, which $addToSet refuses (MongoStore._claim clears it and
    claims again)."""
    unpublished = {k: v for k, v in new_meta(dataset, geometry).items() if k != "_id"}
    return {"_id": dataset, "attached": {"$exists": False}, "loading": {"$not": {"$type": [*_OLD_CLAIM]}}}, {
        "$addToSet": {"loading": {"name": name, "beat": now}},
        "$setOnInsert": unpublished,
    }


def heartbeat(dataset: str, name: str, now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the (filter, update) refreshing the claim on version `name` to `now` (matching
    nothing once the claim is given up or the dataset dropped)."""
    return {"_id": dataset, "loading.name": name}, {"$set": {"loading.$.beat": now}}


def stale_claims(cutoff: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the (filter, update) of the update_many giving up every claim not refreshed since
    `cutoff` (a claim refreshed meanwhile is no longer older, so it stays)."""
    return {"loading.beat": {"$lt": cutoff}}, {"$pull": {"loading": {"beat": {"$lt": cutoff}}}}


def old_layout_claims(dataset: str | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the (filter, update) clearing the claims of the layout before claims had beats (a
    plain string `loading`, or null, of `dataset` or of every dataset): no process of this layout
    writes one, so its load is not running (its version, if no metadata names it, is then an
    orphan)."""
    where: dict[str, Any] = {"loading": {"$type": [*_OLD_CLAIM]}}
    return ({"_id": dataset, **where} if dataset is not None else where), {"$unset": {"loading": ""}}


def published(
    dataset: str,
    name: str,
    current: str | None,
    count: int,
    bounds: Bounds | None,
    schema: PointSchema,
    geometry: GeometryKind,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the (filter, update) making the loaded version `name` the dataset's, in one write:
    only while the load still holds its claim (a drop, or the sweep giving up a stale claim,
    meanwhile wins) and the document still names `current` as its collection (the version this
    publish retires; another load publishing meanwhile makes it try again)."""
    return {"_id": dataset, "loading.name": name, "collection": current}, {
        "$set": {
            "collection": name if count else None,
            "geometry": geometry,
            "count": count,
            "bounds": list(bounds) if bounds else None,
            "schema": schema.to_json(),
            "loaded": True,
        },
        "$pull": {"loading": {"name": name}},
    }


def unclaimed(dataset: str, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the (filter, update) giving up a failed load's claim (after it, no publish of
    `name` can apply: its filter needs the claim)."""
    return {"_id": dataset, "loading.name": name}, {"$pull": {"loading": {"name": name}}}


def never_published(dataset: str | None = None) -> dict[str, Any]:
    """Return the filter of a dataset's document (of `dataset`, or any) while no load published it
    and none claims it: what a failed first load deletes, and the sweep after a killed one's claim
    is given up. (A first load's claim makes the document already claimed, in one write.)"""
    unclaimed_doc = {"loaded": False, "$or": [{"loading": {"$size": 0}}, {"loading": {"$exists": False}}]}
    return {"_id": dataset, **unclaimed_doc} if dataset is not None else unclaimed_doc


def retirement(name: str, dataset: str, now: datetime) -> dict[str, Any]:
    """Return the document recording that version `name` of `dataset` was replaced at `now`."""
    return {"_id": name, "dataset": dataset, "retired_at": now}


def shard_command(database: str, name: str, key: dict[str, Any]) -> dict[str, Any]:
    """Return the command sharding a new version's collection before it is loaded."""
    return {"shardCollection": f"{database}.{name}", "key": key}


def cursors_pipeline(namespace: str) -> list[dict[str, Any]]:
    """Return the aggregation (on the admin database) finding a cursor or operation reading
    `namespace` ("db.collection"), idle cursors between two batches included, of every user (the
    web and worker processes may log in as different ones; without the `inprog` privilege it
    fails, and the version is kept for the grace period)."""
    return [{"$currentOp": {"idleCursors": True, "allUsers": True}}, {"$match": {"ns": namespace}}, {"$limit": 1}]


# Errors of a primary stepping down or going away (InterruptedDueToReplStateChange,
# NotWritablePrimary, PrimarySteppedDown, NotPrimaryNoSecondaryOk, ShutdownInProgress,
# InterruptedAtShutdown): the operation may succeed on the next primary.
_FAILOVER_CODES = frozenset({11602, 10107, 189, 13435, 91, 11600})

#: the aggregation giving a collection's sizes (a row per shard of a sharded one)
COLLSTATS_PIPELINE: list[dict[str, Any]] = [{"$collStats": {"storageStats": {}}}]


def _documents(batch: PointBatch) -> list[dict[str, Any]]:
    ids = batch.ids.tolist() if hasattr(batch.ids, "tolist") else list(batch.ids)
    xs, ys = batch.xs.tolist(), batch.ys.tolist()
    if batch.properties is None:
        return [{"id": i, "pt": [x, y]} for i, x, y in zip(ids, xs, ys, strict=True)]
    return [{"id": i, "pt": [x, y], **p} for i, x, y, p in zip(ids, xs, ys, batch.properties, strict=True)]


class MongoStore(PointStore):
    """Points in MongoDB (a single server, a replica set or a sharded cluster)."""

    def __init__(
        self,
        url: str,
        *,
        server_selection_timeout_ms: int = 30_000,
        max_time_ms: int = 120_000,
        socket_timeout_ms: int = 120_000,
        index_timeout_s: float = 7200.0,
        shard_key: str = "",
        retired_grace_s: float = 3600.0,
    ) -> None:
        import pymongo
        from pymongo.errors import ConfigurationError, InvalidURI
        from pymongo.read_concern import ReadConcern
        from pymongo.write_concern import WriteConcern

        super().__init__()
        # Options written in the URL win over the settings (pymongo would let keywords win).
        written = url_options(url)
        options: dict[str, Any] = {"appname": "pointsite", "connect": False}
        if "serverselectiontimeoutms" not in written:
            options["serverSelectionTimeoutMS"] = server_selection_timeout_ms
        if "sockettimeoutms" not in written:
            options["socketTimeoutMS"] = socket_timeout_ms or None
        try:
            # connect=False: no thread, no connection and (pymongo 4.20) no DNS lookup of a
            # mongodb+srv:// host until the first operation, so checks and commands stay offline.
            # pymongo only warns of an option value it ignores: that is an error here.
            with warnings.catch_warnings():
                warnings.simplefilter("error", UserWarning)
                self.client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(url, **options)
        except (InvalidURI, ConfigurationError, ValueError, TypeError, UserWarning) as exc:
            raise StoreMisconfigured(f"POINTS_STORE_URL is not a usable MongoDB URL: {exc}") from None
        self._url, self._options = url, options
        self._long_client: pymongo.MongoClient[dict[str, Any]] | None = None
        try:
            self.db = self.client.get_default_database()
        except ConfigurationError:
            self.client.close()
            raise StoreMisconfigured(
                "a mongodb:// store URL must name its database, e.g. mongodb://localhost:27017/pointsite"
            ) from None
        self.shard_key = parse_shard_key(shard_key)
        self.max_time_ms = max_time_ms
        self.index_timeout_s = index_timeout_s
        #: the bound of index builds and whole-collection aggregations, in ms (their maxTimeMS)
        self.long_ms = max(int(index_timeout_s * 1000), 1)
        self.retired_grace = timedelta(seconds=retired_grace_s)
        #: seconds between two refreshes of a running load's claim (CLAIM_BEAT_S)
        self.claim_beat_s = CLAIM_BEAT_S
        majority = ReadConcern("majority")
        # The metadata is read from the primary and written to a majority: what a reader sees
        # published cannot be rolled back, and names a version that exists.
        self.meta = self.db.get_collection(
            META,
            read_preference=pymongo.ReadPreference.PRIMARY,
            read_concern=majority,
            write_concern=WriteConcern("majority"),
        )
        # The primary's own view (local read concern), for a failed load to tell whether its
        # publish applied: a write not yet majority-committed is seen too, so it errs on keeping.
        self._meta_local = self.meta.with_options(read_concern=ReadConcern("local"))
        self.retired = self.db.get_collection(
            RETIRED,
            codec_options=self.db.codec_options.with_options(tz_aware=True, tzinfo=UTC),
            read_preference=pymongo.ReadPreference.PRIMARY,
            write_concern=WriteConcern("majority"),
        )
        self._read_concern = majority
        self._majority = WriteConcern("majority")
        self._sharding_enabled = False
        self._last_sweep = time.monotonic()
        self._sweep_lock = threading.Lock()
        self._long_lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str) -> MongoStore:
        """Return a store for `url`, with the timeouts from Django settings when configured."""
        try:
            from django.conf import settings

            return cls(
                url,
                server_selection_timeout_ms=settings.POINTS_MONGO_SERVER_SELECTION_TIMEOUT_MS,
                max_time_ms=settings.POINTS_MONGO_MAX_TIME_MS,
                socket_timeout_ms=settings.POINTS_MONGO_SOCKET_TIMEOUT_MS,
                index_timeout_s=settings.POINTS_MONGO_INDEX_TIMEOUT_S,
                shard_key=settings.POINTS_MONGO_SHARD_KEY,
                retired_grace_s=settings.POINTS_MONGO_RETIRED_GRACE_S,
            )
        except ImportError:  # pragma: no cover - used without Django
            return cls(url)

    # --- calling MongoDB ------------------------------------------------------------------

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Return fn(*args, **kwargs); raise what MongoDB (or bson) refuses as a StoreError saying
        what the store was doing and MongoDB's reason."""
        try:
            return fn(*args, **kwargs)
        except handled() as exc:
            raise store_error(what, exc) from exc

    def _quietly(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> None:
        """Call fn as _call does, logging a failure instead of raising it (clean-ups that must not
        hide the error that caused them)."""
        try:
            self._call(what, fn, *args, **kwargs)
        except StoreError as exc:
            logger.warning("%s", exc)

    def _found(self, what: str, collection: Collection[dict[str, Any]], *args: Any) -> list[dict[str, Any]]:
        """Return every document find(*args) gives (read inside _call: a cursor fails as it is read)."""
        return self._call(what, lambda: list(collection.find(*args)))

    def _meta(self, dataset: str, session: ClientSession | None = None) -> dict[str, Any]:
        doc = self._call("read dataset metadata", self.meta.find_one, {"_id": dataset}, session=session)
        if doc is None or doc.get("loaded") is False:  # no load published it yet
            raise DatasetNotFound(f"the point store has no dataset {dataset!r}")
        return dict(doc)

    def _collection_of(self, meta: dict[str, Any]) -> Collection[dict[str, Any]]:
        """Return the collection holding the points `meta` names (the store's database, or an
        attached collection's), read with majority read concern."""
        attached = meta.get("attached")
        if attached:
            database = self.client[attached["db"]]
            name = attached["collection"]
        else:
            database, name = self.db, active_collection(meta) or collection_name(meta["_id"])
        return database.get_collection(name, read_concern=self._read_concern)

    def _named(self) -> set[str]:
        """Return the collections some metadata names: active versions and those being loaded."""
        names: set[str] = set()
        for meta in self._found(
            "list datasets", self.meta, {}, {"collection": 1, "loading": 1, "loaded": 1, "count": 1, "attached": 1}
        ):
            names.update(n for n in (active_collection(meta), *loading(meta)) if n)
        return names

    def _referenced(self) -> set[str]:
        """Return the collections some metadata names, and the retired ones."""
        # The metadata first, then the retired set: a publish records the version it replaces as
        # retired before it stops naming it, so a version unnamed after the first read was
        # retired before the second (the other order could miss one read by a stream).
        named = self._named()
        retired = self._found("list retired versions", self.retired, {}, {"_id": 1})
        return named | {str(r["_id"]) for r in retired}

    # --- the contract ---------------------------------------------------------------------

    def drop(self, dataset: str) -> None:
        # Deleted and read in one operation: a publish came before it (its version is what the
        # document returned names, and is dropped) or finds no document (its load drops its own).
        meta = self._call("drop the dataset", self.meta.find_one_and_delete, {"_id": dataset})
        if meta is None:
            return
        # An attached dataset's collection is the user's: only its registration goes.
        named = self._named()
        for name in {active_collection(meta), *loading(meta)} - {None}:
            if name not in named:  # (an old scratch dataset whose version another dataset now names)
                self._call("drop the dataset's points", self.db.drop_collection, name)
        self._sweep_quietly()

    def names(self) -> list[str]:
        return sorted(str(d["_id"]) for d in self._found("list datasets", self.meta, {}, {"_id": 1}))

    def exists(self, dataset: str) -> bool:
        published = {"_id": dataset, "loaded": {"$ne": False}}
        return self._call("read dataset metadata", self.meta.find_one, published, {"_id": 1}) is not None

    def count(self, dataset: str) -> int:
        return int(self._meta(dataset)["count"])

    def bounds(self, dataset: str) -> Bounds | None:
        b = self._meta(dataset)["bounds"]
        return None if b is None else (float(b[0]), float(b[1]), float(b[2]), float(b[3]))

    def size(self, dataset: str) -> int | None:
        from pymongo.errors import OperationFailure

        meta = self._meta(dataset)
        if not meta.get("attached") and active_collection(meta) is None:
            return 0
        try:
            # $collStats: the collStats command is deprecated; a sharded collection gives a row per shard.
            rows = self._collection_of(meta).aggregate(COLLSTATS_PIPELINE)
            total = 0
            for row in rows:
                stats = row.get("storageStats", {})
                total += int(stats.get("storageSize", 0)) + int(stats.get("totalIndexSize", 0))
            return total
        except OperationFailure as exc:
            if exc.code == 26:  # NamespaceNotFound: swept meanwhile
                return 0
            raise store_error("read collection statistics", exc) from exc
        except handled() as exc:
            raise store_error("read collection statistics", exc) from exc

    def _shard(self, name: str) -> None:
        if not self._sharding_enabled:
            self._call("enable sharding", self.client.admin.command, "enableSharding", self.db.name)
            self._sharding_enabled = True
        self._call(
            "shard the new points' collection",
            self.client.admin.command,
            shard_command(self.db.name, name, self.shard_key),
        )

    def _load(
        self, dataset: str, batches: Iterable[PointBatch], *, geometry: GeometryKind, publish_guard: PublishGuard
    ) -> Loaded:
        name = version_name(dataset)
        self._claim(dataset, name, geometry)
        # Points acknowledged by a majority: a failover cannot roll back what the count says.
        points = self.db.get_collection(name, write_concern=self._majority)
        count = 0
        schema = PointSchema()
        lo = [float("inf"), float("inf")]
        hi = [float("-inf"), float("-inf")]
        publishing = done = False
        try:
            with self._heartbeat(dataset, name):
                if self.shard_key:
                    self._shard(name)
                for batch in batches:
                    if not len(batch):
                        continue
                    schema.observe(batch)
                    self._call("insert points", points.insert_many, _documents(batch), ordered=False)
                    count += len(batch)
                    lo = [min(lo[0], float(np.min(batch.xs))), min(lo[1], float(np.min(batch.ys)))]
                    hi = [max(hi[0], float(np.max(batch.xs))), max(hi[1], float(np.max(batch.ys)))]
                bounds: Bounds | None = (lo[0], lo[1], hi[0], hi[1]) if count else None
                if count:
                    keys, options = index_spec(geometry, bounds)
                    # The build returns once committed (on a replica set, on every voting member):
                    # bounded by its own timeout, not the socket's.
                    self._build_index(points, keys, options)
                else:
                    self._call("clean up an empty import", points.drop)
                loaded = Loaded(count, bounds)
                with publish_guard(loaded):
                    publishing = True
                    self._publish(dataset, name, loaded, schema.final(), geometry)
                    done = True
        except BaseException:
            if not done:  # (a guard failing once the version is published leaves it served)
                self._give_up(dataset, name, points, publishing=publishing)
            raise
        finally:
            if done:
                self._sweep_quietly()
        return loaded

    def _claim(self, dataset: str, name: str, geometry: GeometryKind) -> None:
        """Claim version `name` of `dataset` for a load (see `claim`).

        Two first loads of a dataset may claim at once: both upserts miss, one insert makes the
        document and the other's fails on the _id (MongoDB retries such an upsert itself only when
        its filter is the _id alone, which ours is not); that one reads the document and claims
        again. The filter also misses an attached dataset's document (refused) and one whose
        `loading` is the older layout's string or null (cleared, as remove_orphans does, then
        claimed)."""
        from pymongo.errors import DuplicateKeyError

        for _attempt in range(_CLAIM_ATTEMPTS):
            try:
                self.meta.update_one(*claim(dataset, name, geometry, datetime.now(UTC)), upsert=True)
                return
            except DuplicateKeyError:
                pass
            except handled() as exc:
                raise store_error("prepare the import", exc) from exc
            meta = self._call("read dataset metadata", self.meta.find_one, {"_id": dataset})
            if meta is not None and meta.get("attached"):
                raise StoreError(f"dataset {dataset!r} is attached to a collection: its points cannot be loaded")
            if meta is not None and "loading" in meta and not isinstance(meta["loading"], list):
                self._call("clear an old import's claim", self.meta.update_one, *old_layout_claims(dataset))
        raise StoreError(
            f"dataset {dataset!r} could not be claimed for loading, other imports kept changing it; load it again"
        )

    @contextlib.contextmanager
    def _heartbeat(self, dataset: str, name: str) -> Iterator[threading.Thread]:
        """Refresh the claim on version `name` every `claim_beat_s` while the block runs, from a
        daemon thread (the load itself may sit minutes in one insert or index build), so
        remove_orphans tells a running load's claim from a killed one's. A refresh that fails is
        logged, not raised: the next may pass, and a claim goes stale only after CLAIM_STALE_S.
        The thread is told to stop as the block ends; a refresh it sends after the claim is
        given up matches nothing."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(self.claim_beat_s):
                self._quietly(
                    "refresh the import's claim", self.meta.update_one, *heartbeat(dataset, name, datetime.now(UTC))
                )

        thread = threading.Thread(target=beat, name=f"pointsite claim {name}", daemon=True)
        thread.start()
        try:
            yield thread
        finally:
            stop.set()

    def _give_up(self, dataset: str, name: str, points: Collection[dict[str, Any]], *, publishing: bool) -> None:
        """Undo a load that failed: give up its claim, drop its version, and delete the dataset's
        document if no load published it and none claims it (a failed first load). Clean-up
        failures are logged: the error that caused them is the one raised.

        Once the publishing write was sent (`publishing`), its outcome may be unknown: it applied,
        yet the client raised (a write concern error, a connection lost before the reply). The
        claim is given up first, so that write cannot apply afterwards (its filter needs the
        claim), then the primary's metadata read: a version it names is served, and kept. When
        that cannot be told, the version is kept too, for remove_orphans: it drops the version if
        no metadata names it once its claim is gone (given up here, or stale, no longer refreshed)."""
        try:
            self._call("give up the import's claim", self.meta.update_one, *unclaimed(dataset, name))
            if publishing:
                meta = self._call("read dataset metadata", self._meta_local.find_one, {"_id": dataset})
                if meta is not None and meta.get("collection") == name:
                    logger.warning("dataset %r: its publish of %s raised, yet applied: it is served", dataset, name)
                    return
        except StoreError as exc:
            if publishing:
                logger.warning("%s; %s is kept until its claim goes stale (was it published? cannot tell)", exc, name)
                return
            logger.warning("%s", exc)
        self._quietly("clean up a failed import", points.drop)
        self._quietly("clean up a failed import", self.meta.delete_one, never_published(dataset))

    def _publish(self, dataset: str, name: str, loaded: Loaded, schema: PointSchema, geometry: GeometryKind) -> None:
        """Name the loaded version `name` as the dataset's in one majority write, retiring the
        version it names now (retired first, so no orphan sweep takes it for an orphan)."""
        for _attempt in range(_PUBLISH_ATTEMPTS):
            meta = self._call("read dataset metadata", self.meta.find_one, {"_id": dataset})
            if meta is None or name not in loading(meta):
                raise StoreError(
                    f"dataset {dataset!r} was dropped while its points were loaded (or this load's claim "
                    f"was not refreshed for {CLAIM_STALE_S:.0f} s and the sweep gave it up); load it again"
                )
            current = meta.get("collection")
            retiring = active_collection(meta)
            if retiring:
                self._call(
                    "retire the old points",
                    self.retired.replace_one,
                    {"_id": retiring},
                    retirement(retiring, dataset, datetime.now(UTC)),
                    upsert=True,
                )
            done = self._call(
                "publish the points",
                self.meta.update_one,
                *published(dataset, name, current, loaded.count, loaded.bounds, schema, geometry),
            )
            if done.matched_count:
                return
            # Another load published (or a drop came) between the read and the write: read again.
            # (A version retired above that is still named stays: the sweep drops no named one.)
        raise StoreError(f"dataset {dataset!r} was published by other imports while this one tried; load it again")

    def long_running(self, points: Collection[dict[str, Any]]) -> Collection[dict[str, Any]]:
        """Return `points` as seen by the client for long operations (index builds, aggregations
        over a whole collection): its sockets wait up to POINTS_MONGO_INDEX_TIMEOUT_S (plus a
        minute) instead of POINTS_MONGO_SOCKET_TIMEOUT_MS, and each such operation is sent with
        that bound as its maxTimeMS. Finding a server stays bound by the usual timeout (under
        pymongo.timeout() it would wait the whole bound for one)."""
        import pymongo

        with self._long_lock:
            if self._long_client is None:
                options = {**self._options, "socketTimeoutMS": self.long_ms + 60_000}
                self._long_client = pymongo.MongoClient(self._url, **options)
        return self._long_client[points.database.name].get_collection(
            points.name, write_concern=points.write_concern, read_concern=points.read_concern
        )

    def _build_index(self, points: Collection[dict[str, Any]], keys: Any, options: dict[str, Any]) -> str:
        """Build a spatial index of `points` and return its name. The build returns once
        committed (on a replica set, on every voting member), bounded by POINTS_MONGO_INDEX_TIMEOUT_S,
        not by the socket timeout. pymongo never retries createIndexes; a failover during the
        build is retried once on the new primary (the same index spec again waits for the build
        already running there, or returns at once)."""
        from pymongo.errors import ConnectionFailure, NotPrimaryError, OperationFailure

        building = self.long_running(points)
        for attempt in (1, 2):
            try:
                return str(building.create_index(keys, maxTimeMS=self.long_ms, **options))
            except (ConnectionFailure, NotPrimaryError, OperationFailure) as exc:
                retry = attempt == 1 and (
                    isinstance(exc, (ConnectionFailure, NotPrimaryError))
                    or bool(exc.has_error_label("RetryableWriteError"))
                    or exc.code in _FAILOVER_CODES
                )
                if not retry:
                    raise store_error("build the spatial index", exc) from exc
                logger.warning("the index build of %s was interrupted (%s); asking again", points.name, exc)
            except handled() as exc:
                raise store_error("build the spatial index", exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover - the second attempt returns or raises

    def schema(self, dataset: str) -> PointSchema:
        return PointSchema.from_json(self._meta(dataset).get("schema"))

    def attach(self, dataset: str, **options: Any) -> dict[str, Any]:
        """Register `dataset` over an existing collection (see points.stores.mongo.attach)."""
        from points.stores.mongo import attach

        return attach.attach(self, dataset, **options)

    def refresh(self, dataset: str) -> dict[str, Any]:
        """Compute an attached dataset's count, bounds and schema again."""
        from points.stores.mongo import attach

        return attach.refresh(self, dataset)

    # --- reading ------------------------------------------------------------------------

    def open_points(
        self, dataset: str, area: Area | None, *, form: StreamForm = PLAIN_NDJSON, batch_size: int = 10_000
    ) -> PointStream:
        self._maybe_sweep()
        session = self._call("start a session", self.client.start_session, causal_consistency=True)
        try:
            # One metadata read names the version, its schema and the geometry the query is for.
            meta = self._meta(dataset, session)
            if area is not None and meta["geometry"] != area.kind:
                raise StoreError(f"dataset {dataset!r} is {meta['geometry']}, the area is {area.kind}")
            point_schema = PointSchema.from_json(meta.get("schema"))
            chunks = self._iter(dataset, meta, point_schema, area, form, batch_size, session)
        except BaseException:
            session.end_session()
            raise
        return PointStream(point_schema, chunks, meta.get("count"))

    def _plan(self, meta: dict[str, Any], point_schema: PointSchema, area: Area | None) -> tuple[list[Query], Any]:
        """Return the queries a stream runs in turn, and their projection."""
        attached = meta.get("attached")
        if not attached:
            return ([Query({}, None, None)] if area is None else within_queries(area)), {"_id": 0}
        from points.stores.mongo.attach import location_filter, stream_projection

        usable = location_filter(attached)
        if area is None:
            queries = [Query(usable, None, None)]
        else:
            queries = [
                Query({**usable, **q.filter}, q.parts, q.exclude)
                for q in within_queries(area, field=attached["location_field"])
            ]
        return queries, stream_projection(attached, point_schema)

    def _iter(
        self,
        dataset: str,
        meta: dict[str, Any],
        point_schema: PointSchema,
        area: Area | None,
        form: StreamForm,
        batch_size: int,
        session: ClientSession,
    ) -> Generator[Chunk, None, None]:
        import bson
        import pymongo

        try:
            if not meta.get("attached") and active_collection(meta) is None:
                return  # an empty dataset has no collection
            # Compressed on the fly by the stream: MongoDB keeps no compressed copy of a stream.
            arrow_schema = point_schema.arrow(dataset=dataset, geometry=meta["geometry"])
            points = self._collection_of(meta)
            queries, projection = self._plan(meta, point_schema, area)
            with self._cursor():
                for query in queries:
                    for raw in self._batches(points, query.filter, projection, batch_size, session):
                        docs = self._call("decode points", bson.decode_all, raw, CODEC_OPTIONS)
                        if area is not None:
                            docs = keep(docs, area, query)
                        if not docs:
                            continue
                        yield self._chunk(dataset, meta, docs, form, arrow_schema, point_schema)
            if not meta.get("attached"):
                # A version dropped before (or between) this stream's cursors reads as empty: say
                # so rather than end as if complete. Version names are never used again, so one
                # that exists now existed for every query. (From the primary: a lagging secondary
                # may not list a version just published.)
                primary = self.db.with_options(read_preference=pymongo.ReadPreference.PRIMARY)
                found = self._call(
                    "check the points' collection", primary.list_collection_names, filter={"name": points.name}
                )
                if not found:
                    raise StoreError(
                        f"dataset {dataset!r} was replaced or deleted while this stream read it; ask again"
                    )
        finally:
            session.end_session()

    @staticmethod
    def _chunk(
        dataset: str,
        meta: dict[str, Any],
        docs: list[dict[str, Any]],
        form: StreamForm,
        arrow_schema: pa.Schema,
        point_schema: PointSchema,
    ) -> Chunk:
        """Return the documents as one chunk of the stream's format; raise StoreError naming the
        dataset when a document does not fit (an attached collection written to since its schema
        was learnt: a value of another type, or of a BSON type JSON has no word for)."""
        try:
            if form.format == Format.ARROW:
                return Chunk(len(docs), arrow.batch_message(records_batch(arrow_schema, point_schema, docs)))
            return Chunk(len(docs), ENCODER.encode_lines(docs))
        except (pa.ArrowException, ValueError, TypeError, OverflowError, KeyError, IndexError) as exc:
            advice = (
                f"refresh it (manage.py attach_collection {dataset} --refresh)"
                if meta.get("attached")
                else "check_points may say more"
            )
            raise StoreError(
                f"dataset {dataset!r} holds a point its streams cannot write ({reason(exc)}); {advice}"
            ) from exc

    def _batches(
        self,
        points: Collection[dict[str, Any]],
        query: dict[str, Any],
        projection: Any,
        batch_size: int,
        session: ClientSession,
    ) -> Iterator[bytes]:
        """Yield the raw BSON batches of one query's cursor."""
        cursor = points.find_raw_batches(query, projection, batch_size=batch_size, session=session)
        if self.max_time_ms:
            cursor = cursor.max_time_ms(self.max_time_ms)
        try:
            while True:
                raw = self._call("read points", next, cursor, None)
                if raw is None:
                    return
                yield raw
        finally:
            # Closing kills the server-side cursor too, when a client leaves early.
            cursor.close()

    # --- what imports and replacements leave behind -------------------------------------

    def _cursors_open(self, name: str) -> bool | None:
        """Return whether some cursor reads collection `name` now (None: cannot tell)."""
        import pymongo

        if self.client.read_preference.mode != pymongo.ReadPreference.PRIMARY.mode:
            return None  # cursors on secondaries do not show on the primary
        try:
            ops = self.client.admin.aggregate(cursors_pipeline(f"{self.db.name}.{name}"))
            return any(True for _ in ops)
        except handled() as exc:
            logger.info("cannot tell whether %s is read (%s); it is kept for the grace period", name, exc)
            return None

    def sweep_retired(self, now: datetime | None = None) -> list[str]:
        """Drop the retired versions no stream reads any more: at least RETIRED_MIN_AGE old with no
        cursor on them, or older than the grace period regardless (a stream still reading one
        then ends with an error line, never as if complete). Return the names dropped."""
        now = now or datetime.now(UTC)
        dropped = []
        named = self._named()
        for entry in self._found("list retired versions", self.retired, {}):
            name, age = str(entry["_id"]), now - entry["retired_at"]
            if age < RETIRED_MIN_AGE or (age < self.retired_grace and self._cursors_open(name) is not False):
                continue
            if name not in named:  # unless published again meanwhile
                self._call("drop a retired version", self.db.drop_collection, name)
            # Only this record: a newer retirement of the same version (written meanwhile) stays.
            self._call(
                "forget a retired version", self.retired.delete_one, {"_id": name, "retired_at": entry["retired_at"]}
            )
            dropped.append(name)
        return dropped

    def _sweep_quietly(self) -> None:
        self._last_sweep = time.monotonic()
        try:
            self.sweep_retired()
        except StoreError as exc:
            logger.warning("retired versions not swept: %s", exc)

    def _maybe_sweep(self) -> None:
        """Sweep the retired versions now and then as streams open (a quiet store sweeps too)."""
        if time.monotonic() - self._last_sweep < SWEEP_EVERY or not self._sweep_lock.acquire(blocking=False):
            return
        try:
            self._sweep_quietly()
        finally:
            self._sweep_lock.release()

    def remove_orphans(self, now: datetime | None = None) -> None:
        """Remove what killed loads left, then the retired versions no stream reads.

        A load that dies by SIGKILL or the OOM killer skips its clean-up: its claim stays, no
        longer refreshed. Claims not refreshed for CLAIM_STALE_S are given up, as are the older
        layout's (a `loading` string, one load at a time and no heartbeat: no process of this
        layout writes one, so its load is not running); then the documents no load published and
        none claims (killed first loads) are deleted; then the collections of this store's that
        no metadata names and that are not retired (versions of killed loads) are dropped."""
        now = now or datetime.now(UTC)
        self._call("clear old imports' claims", self.meta.update_many, *old_layout_claims())
        cutoff = now - timedelta(seconds=CLAIM_STALE_S)
        self._call("give up the claims of dead imports", self.meta.update_many, *stale_claims(cutoff))
        self._call("delete datasets no import published", self.meta.delete_many, never_published())
        # Listed before the metadata is read: a version an import starts meanwhile is named in
        # its dataset's metadata (`loading`) before its collection exists.
        listed = self._call(
            "list collections", self.db.list_collection_names, filter={"name": {"$regex": r"^points\."}}
        )
        keep_names = self._referenced()
        for name in listed:
            if _OWN_COLLECTION.match(name) and name not in keep_names:
                logger.info("dropping %s, left by an import that died", name)
                self._call("drop a dead import's points", self.db.drop_collection, name)
        self.sweep_retired(now)

    def close(self) -> None:
        self.client.close()
        if self._long_client is not None:
            self._long_client.close()
