"""The MongoDB point store: a collection per dataset, a 2d or 2dsphere index, `$geoWithin` queries.

Each point is one document `{"id": …, "pt": [x, y], …properties}` (`pt` is a legacy coordinate
pair, which both index kinds accept), so a projection without `_id` is already the stream's line.
An import fills a scratch collection, builds its index, then renames it over the dataset's: the
points appear all at once, and a failed import leaves only a scratch collection that is dropped.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Generator, Iterable
from typing import TYPE_CHECKING, Any

import msgspec

from points import arrow
from points.batches import Bounds, Chunk, Format, PointBatch, StreamForm
from points.geometry import Area
from points.schema import PointSchema, records_batch
from points.stores.base import (
    PLAIN_NDJSON,
    DatasetExists,
    DatasetNotFound,
    GeometryKind,
    PointStore,
    PointStream,
    StoreError,
    StoreUnavailable,
)
from points.stores.mongo.queries import index_spec, keep_inside, within_filter

if TYPE_CHECKING:
    from pymongo.collection import Collection
    from pymongo.database import Database

META = "pointsite_datasets"
_ENCODER = msgspec.json.Encoder()


def collection_name(dataset: str) -> str:
    """Return the name of the collection holding the dataset's points."""
    return f"points.{dataset}"


def _documents(batch: PointBatch) -> list[dict[str, Any]]:
    ids = batch.ids.tolist() if hasattr(batch.ids, "tolist") else list(batch.ids)
    xs, ys = batch.xs.tolist(), batch.ys.tolist()
    if batch.properties is None:
        return [{"id": i, "pt": [x, y]} for i, x, y in zip(ids, xs, ys, strict=True)]
    return [{"id": i, "pt": [x, y], **p} for i, x, y, p in zip(ids, xs, ys, batch.properties, strict=True)]


class MongoStore(PointStore):
    """Points in MongoDB (a single server, a replica set or a sharded cluster)."""

    schemes = ("mongodb", "mongodb+srv")

    def __init__(
        self,
        url: str,
        *,
        server_selection_timeout_ms: int = 5000,
        max_time_ms: int = 120_000,
        socket_timeout_ms: int = 120_000,
    ) -> None:
        import pymongo
        from pymongo.errors import ConfigurationError, InvalidURI
        from pymongo.uri_parser import parse_uri

        try:
            database = parse_uri(url).get("database")
        except (InvalidURI, ConfigurationError, ValueError) as exc:
            raise StoreError(f"POINTS_STORE_URL is not a usable MongoDB URL: {exc}") from None
        if not database:
            raise StoreError("a mongodb:// store URL must name its database, e.g. mongodb://localhost:27017/pointsite")
        self.client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(
            url,
            serverSelectionTimeoutMS=server_selection_timeout_ms,
            socketTimeoutMS=socket_timeout_ms or None,
            appname="pointsite",
            connect=False,
        )
        self.db: Database[dict[str, Any]] = self.client[database]
        self.max_time_ms = max_time_ms

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
            )
        except ImportError:  # pragma: no cover - used without Django
            return cls(url)

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        from pymongo.errors import PyMongoError

        try:
            return fn(*args, **kwargs)
        except PyMongoError as exc:
            detail = exc.__class__.__name__
            write_errors = getattr(exc, "details", None) or {}
            if isinstance(write_errors, dict) and write_errors.get("writeErrors"):
                # Say which document and why (e.g. a duplicate key), not just the error's class.
                detail += f" ({str(write_errors['writeErrors'][0].get('errmsg', ''))[:200]})"
            raise StoreUnavailable(f"MongoDB failed to {what}: {detail}") from exc

    def _meta(self, dataset: str) -> dict[str, Any]:
        doc = self._call("read dataset metadata", self.db[META].find_one, {"_id": dataset})
        if doc is None:
            raise DatasetNotFound(f"the point store has no dataset {dataset!r}")
        return dict(doc)

    def _points(self, dataset: str) -> Collection[dict[str, Any]]:
        return self.db[collection_name(dataset)]

    def create(self, dataset: str, *, geometry: GeometryKind) -> None:
        from pymongo.errors import DuplicateKeyError

        try:
            self._call(
                "create the dataset",
                self.db[META].insert_one,
                {"_id": dataset, "geometry": geometry, "count": 0, "bounds": None, "loaded": False},
            )
        except StoreUnavailable as exc:
            if isinstance(exc.__cause__, DuplicateKeyError):
                raise DatasetExists(f"the point store already has a dataset {dataset!r}") from None
            raise

    def drop(self, dataset: str) -> None:
        # Scratch collections of imports that were killed go too: no orphans.
        prefix = f"{collection_name(dataset)}.importing-"
        names = self._call(
            "list collections", self.db.list_collection_names, filter={"name": {"$regex": f"^{re.escape(prefix)}"}}
        )
        for name in names:
            self._call("drop the dataset", self.db.drop_collection, name)
        self._call("drop the dataset", self._points(dataset).drop)
        self._call("drop the dataset", self.db[META].delete_one, {"_id": dataset})

    def replace(self, source: str, target: str) -> None:
        meta = self._meta(source)
        points = self._points(source)
        if self._call("list collections", self.db.list_collection_names, filter={"name": points.name}):
            self._call("publish the points", points.rename, collection_name(target), dropTarget=True)
        else:  # an empty dataset has no collection
            self._call("drop the old points", self._points(target).drop)
        meta["_id"] = target
        self._call("record the dataset", self.db[META].replace_one, {"_id": target}, meta, upsert=True)
        self._call("record the dataset", self.db[META].delete_one, {"_id": source})

    def names(self) -> list[str]:
        return sorted(str(d["_id"]) for d in self._call("list datasets", self.db[META].find, {}, {"_id": 1}))

    def exists(self, dataset: str) -> bool:
        return self._call("read dataset metadata", self.db[META].find_one, {"_id": dataset}) is not None

    def count(self, dataset: str) -> int:
        return int(self._meta(dataset)["count"])

    def bounds(self, dataset: str) -> Bounds | None:
        b = self._meta(dataset)["bounds"]
        return None if b is None else (float(b[0]), float(b[1]), float(b[2]), float(b[3]))

    def size(self, dataset: str) -> int | None:
        stats = self._call("read collection statistics", self.db.command, "collStats", collection_name(dataset))
        return int(stats.get("storageSize", 0)) + int(stats.get("totalIndexSize", 0))

    def insert(self, dataset: str, batches: Iterable[PointBatch]) -> int:
        meta = self._meta(dataset)
        if meta["loaded"]:
            raise StoreError(f"dataset {dataset!r} already has its points; drop and create it again to reload")
        scratch = self.db[f"{collection_name(dataset)}.importing-{uuid.uuid4().hex[:12]}"]
        count = 0
        schema = PointSchema()
        lo = [float("inf"), float("inf")]
        hi = [float("-inf"), float("-inf")]
        try:
            for batch in batches:
                if not len(batch):
                    continue
                schema.observe(batch)
                self._call("insert points", scratch.insert_many, _documents(batch), ordered=False)
                count += len(batch)
                lo = [min(lo[0], float(batch.xs.min())), min(lo[1], float(batch.ys.min()))]
                hi = [max(hi[0], float(batch.xs.max())), max(hi[1], float(batch.ys.max()))]
            bounds: Bounds | None = (lo[0], lo[1], hi[0], hi[1]) if count else None
            keys, options = index_spec(meta["geometry"], bounds)
            self._call("build the spatial index", scratch.create_index, keys, **options)
            if count:
                self._call("publish the points", scratch.rename, collection_name(dataset), dropTarget=True)
            else:
                self._call("clean up an empty import", scratch.drop)
            self._call(
                "record the dataset",
                self.db[META].update_one,
                {"_id": dataset},
                {
                    "$set": {
                        "count": count,
                        "bounds": list(bounds) if bounds else None,
                        "schema": schema.final().to_json(),
                        "loaded": True,
                    }
                },
            )
        except BaseException:
            self._call("clean up a failed import", scratch.drop)
            raise
        return count

    def schema(self, dataset: str) -> PointSchema:
        return PointSchema.from_json(self._meta(dataset).get("schema"))

    def open_points(
        self, dataset: str, area: Area | None, *, form: StreamForm = PLAIN_NDJSON, batch_size: int = 10_000
    ) -> PointStream:
        # One metadata read gives the schema and the geometry the query is built for.
        meta = self._meta(dataset)
        if area is not None and meta["geometry"] != area.kind:
            raise StoreError(f"dataset {dataset!r} is {meta['geometry']}, the area is {area.kind}")
        query = {} if area is None else within_filter(area)
        chunks = self._iter(dataset, meta, query, area, form, batch_size)
        return PointStream(PointSchema.from_json(meta.get("schema")), chunks, meta.get("count"))

    def _iter(
        self,
        dataset: str,
        meta: dict[str, Any],
        query: dict[str, Any],
        area: Area | None,
        form: StreamForm,
        batch_size: int,
    ) -> Generator[Chunk, None, None]:
        import bson

        # Compressed on the fly by the stream: MongoDB keeps no compressed copy of a stream.
        point_schema = PointSchema.from_json(meta.get("schema"))
        arrow_schema = point_schema.arrow(dataset=dataset, geometry=meta["geometry"])

        cursor = self._points(dataset).find_raw_batches(query, {"_id": 0}, batch_size=batch_size)
        if self.max_time_ms:
            cursor = cursor.max_time_ms(self.max_time_ms)
        self.open_cursors += 1
        try:
            while True:
                raw = self._call("read points", next, cursor, None)
                if raw is None:
                    return
                docs = bson.decode_all(raw)
                if area is not None:
                    docs = keep_inside(docs, area)
                if not docs:
                    continue
                if form.format == Format.ARROW:
                    yield Chunk(len(docs), arrow.batch_message(records_batch(arrow_schema, point_schema, docs)))
                else:
                    yield Chunk(len(docs), _ENCODER.encode_lines(docs))
        finally:
            # Closing kills the server-side cursor too, when a client leaves early.
            cursor.close()
            self.open_cursors -= 1

    def close(self) -> None:
        self.client.close()
