"""Datasets attached over a MongoDB collection the user already has (`manage.py attach_collection`).

The original write-up's points lived in MongoDB (`db.coords`, documents `{"pt": [x, y], "id": n}`):
such a collection is served as it is, never copied and never written to. Its location field holds
legacy coordinate pairs (`[x, y]`) or GeoJSON Points (`{"type": "Point", "coordinates": [x, y]}`);
a planar dataset needs a `2d` index on it (pairs only: a 2d index holds nothing else), a spherical
one a `2dsphere` index. The index is found with listIndexes, or created only when asked.

A document is served when its location is *usable* (an array of exactly two numbers: int, long or
double; for Points, such an array as `coordinates` of an object whose `type` is "Point") and it
has an id (the id field present and not null; `_id` when no id field is named). The others are
counted, and said, never streamed. The count, the bounds and the property schema are computed on
the server at attach (and again by `refresh`), by aggregations over the whole collection (three
scans, a fourth for a missing 2d index's range, each bounded by POINTS_MONGO_INDEX_TIMEOUT_S, as
index builds are): count and bounds are then those of the collection at that moment, until the
next refresh.

A 2d index keys more than the served documents (see index_range_pipeline), and refuses to be
built when one of those lies outside its range: its range comes from all of them.

Ids are int64 when every id is an int, a long, or a double or decimal holding a whole number
within ±2^53 (mongosh writes every number as a double: the write-up's ids are 1.0, 2.0, …); the
stream's projection turns those into longs, so lines carry 1, not 1.0.

A find() projection shapes the served documents as stream lines, `{"id": …, "pt": [x, y], …}`.
Property names that a projection cannot name (with a ".", starting with "$", or empty) and those
taken by the line's own `id` and `pt` are left out, and said at attach.

The pure functions build the exact documents sent to the server (tests/test_attach.py asserts
them without a server); `attach` and `refresh` run them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from points.batches import Bounds
from points.rules import NAME_PATTERN, NAME_RULE
from points.schema import ColumnType, PointSchema, _merge
from points.stores.base import DatasetExists, DatasetNotFound, GeometryKind, StoreError
from points.stores.mongo.queries import index_spec

if TYPE_CHECKING:
    from pymongo.collection import Collection

    from points.stores.mongo.store import MongoStore

Location = Literal["pair", "point"]
#: the BSON types ($type names) a usable coordinate has (decimal is left out: it is no float)
NUMBERS = ["double", "int", "long"]
#: the BSON types a 2d index takes as a coordinate (MongoDB's isNumber)
KEYED_NUMBERS = [*NUMBERS, "decimal"]
#: the largest whole double or decimal id read as an int64 (beyond it a double is not exact)
EXACT_INT = 2**53
#: createIndexes refusals caused by a document the 2d index cannot hold: 13026 (a location that
#: starts with a number but is no pair of numbers), 13027 (one outside min..max), 13068 (a
#: single number), 16804 (an array or object of things that are not locations)
UNINDEXABLE = frozenset({13026, 13027, 13068, 16804})
#: each index kind a geometry is queried by
INDEX_KIND: dict[str, str] = {"planar": "2d", "spherical": "2dsphere"}
#: the words a location kind is said with
LOCATION_WORDS: dict[str, str] = {"pair": "[x, y] pairs", "point": "GeoJSON Points"}
_DB_FORBIDDEN = set('/\\. "$*<>:|?\x00')
# A property's BSON type → its column type (anything else, an object or an ObjectId say, is json).
_COLUMN_TYPES = {
    "int": ColumnType.INT64,
    "long": ColumnType.INT64,
    "double": ColumnType.FLOAT64,
    "string": ColumnType.UTF8,
    "bool": ColumnType.BOOL,
    "null": ColumnType.NULL,
    "undefined": ColumnType.NULL,
}


# --- what the user names ----------------------------------------------------------------


def parse_collection(text: str) -> tuple[str, str]:
    """Return (database, collection) of `DB.COLL` (the collection's name may hold dots; the
    database's may not); raise StoreError saying what is wrong."""
    db, dot, coll = text.partition(".")
    if not dot or not db or not coll:
        raise StoreError(f"--collection must be DATABASE.COLLECTION, e.g. mydb.coords; got {text!r}")
    bad = sorted(_DB_FORBIDDEN & set(db))
    if bad:
        raise StoreError(f"{db!r} is not a MongoDB database name: it may not contain {' '.join(map(repr, bad))}")
    if len(db.encode()) >= 64:
        raise StoreError(f"{db!r} is not a MongoDB database name: it must be shorter than 64 bytes")
    if "$" in coll or "\x00" in coll:
        raise StoreError(f"{coll!r} is not a MongoDB collection name: it may not contain '$'")
    if coll.startswith("system."):
        raise StoreError(f"{text!r} is one of MongoDB's system collections; attach a collection of yours")
    if len(text.encode()) > 255:
        raise StoreError(f"{text!r} is not a MongoDB namespace: DATABASE.COLLECTION is at most 255 bytes")
    return db, coll


def check_field(option: str, name: str) -> str:
    """Return `name` if it can be the location or id field (a top-level field: projections and
    indexes read it by path); raise StoreError naming `option` when not."""
    if not name or "." in name or name.startswith("$") or "\x00" in name:
        raise StoreError(f"{option} must name a top-level field (no '.', not starting with '$'); got {name!r}")
    return name


# --- the spatial index --------------------------------------------------------------------


def spatial_index(index_list: Iterable[Mapping[str, Any]], field: str, geometry: GeometryKind) -> str | None:
    """Return the name of the index (as listIndexes lists them) a `geometry` dataset can be queried
    by on `field`: a `2d` (planar) or `2dsphere` (spherical) index whose first key is `field`
    (a compound one counts). Partial and hidden indexes do not: the planner would not use them
    for every query. None when there is none."""
    kind = INDEX_KIND[geometry]
    for index in index_list:
        keys = list(dict(index.get("key") or {}).items())
        if not keys or keys[0] != (field, kind):
            continue
        if index.get("hidden") or "partialFilterExpression" in index:
            continue
        return str(index["name"])
    return None


def index_keys(
    field: str, geometry: GeometryKind, bounds: Bounds | None
) -> tuple[list[tuple[str, str]], dict[str, Any]]:
    """Return (keys, options) of the index --create-index builds on `field` (a 2d index's range
    from the bounds, as the store's own datasets get: queries.index_spec)."""
    kind = INDEX_KIND[geometry]
    _, options = index_spec(geometry, bounds)
    return [(field, kind)], {**options, "name": f"{field}_{kind}"}


def create_index_command(db: str, coll: str, field: str, geometry: GeometryKind, bounds: Bounds | None) -> str:
    """Return the mongosh command building the index --create-index would build."""
    keys, options = index_keys(field, geometry, bounds)
    spec = json.dumps(dict(keys))
    extra = {k: v for k, v in options.items() if k != "name"}
    target = f"db.getSiblingDB({json.dumps(db)}).getCollection({json.dumps(coll)})"
    return f"{target}.createIndex({spec}{', ' + json.dumps(extra) if extra else ''})"


def unindexable_message(attached: Mapping[str, Any], geometry: GeometryKind, bounds: Bounds | None, error: str) -> str:
    """Return what attach says when MongoDB refused to build the 2d index --create-index asked
    for (`error`, the store's message) because of a document it cannot hold, with the command
    building it with the range tried (`bounds`: index_range_pipeline's)."""
    db, coll, field = attached["db"], attached["collection"], attached["location_field"]
    return (
        f"{error}\nA 2d index keys every document whose {field!r} is an array or an object, served or not, "
        "and cannot be built while one of them is not a location it can hold: its first two values "
        "numbers, between the index's min and max. The range tried holds the locations the collection "
        "had at attach ([x, y, ...] arrays and {x: ..., y: ...} objects; not those written since, nor those "
        "in an array of locations). Correct or remove the documents that do not fit, or build the index "
        f"yourself with a range holding every location:\n  {create_index_command(db, coll, field, geometry, bounds)}\n"
        "then attach again without --create-index."
    )


def missing_index_message(
    index_list: Iterable[Mapping[str, Any]], attached: Mapping[str, Any], geometry: GeometryKind, bounds: Bounds | None
) -> str:
    """Return what attach says when the collection has no index a `geometry` dataset is queried by."""
    db, coll, field = attached["db"], attached["collection"], attached["location_field"]
    kind = INDEX_KIND[geometry]
    other: GeometryKind = GeometryKind.SPHERICAL if geometry == "planar" else GeometryKind.PLANAR
    found = spatial_index(index_list, field, other)
    if found is not None and (other == "spherical" or attached["location"] == "pair"):
        flag = "with --spherical" if other == "spherical" else "without --spherical"
        hint = f" (it has a {INDEX_KIND[other]} index on it, {found}: attach {flag} to use that one)"
    else:
        hint = ""
    return (
        f"{db}.{coll} has no {kind} index on {field!r}, which a {geometry} dataset is queried by{hint}. "
        f"Create it with\n  {create_index_command(db, coll, field, geometry, bounds)}\n"
        "or attach with --create-index to have it built now."
    )


# --- which documents are served, and as what ----------------------------------------------


def _pair(path: str) -> dict[str, Any]:
    """Return the expression true when the value at `path` is an array of exactly two numbers
    ($cond, not $and: $size and $arrayElemAt fail on what is not an array)."""
    return {
        "$cond": [
            {"$isArray": path},
            {
                "$and": [
                    {"$eq": [{"$size": path}, 2]},
                    {"$in": [{"$type": {"$arrayElemAt": [path, 0]}}, NUMBERS]},
                    {"$in": [{"$type": {"$arrayElemAt": [path, 1]}}, NUMBERS]},
                ]
            },
            False,
        ]
    }


def location_expression(field: str, location: Location) -> dict[str, Any]:
    """Return the expression true when the document's `field` is a usable location of that kind."""
    if location == "pair":
        return _pair(f"${field}")
    return {
        "$cond": [
            {"$eq": [{"$type": f"${field}"}, "object"]},
            {"$and": [{"$eq": [f"${field}.type", "Point"]}, _pair(f"${field}.coordinates")]},
            False,
        ]
    }


def _whole(path: str) -> dict[str, Any]:
    """Return the expression true when the value at `path` is a double or a decimal holding a
    whole number within ±EXACT_INT, which a long holds exactly ($cond: $mod fails on what is
    not a number; NaN and infinities are not whole: their $mod is NaN)."""
    return {
        "$cond": [
            {"$in": [{"$type": path}, ["double", "decimal"]]},
            {"$and": [{"$eq": [{"$mod": [path, 1]}, 0]}, {"$lte": [{"$abs": path}, EXACT_INT]}]},
            False,
        ]
    }


def id_expression(id_field: str | None) -> dict[str, Any]:
    """Return the expression true when the document has an id (present, not null)."""
    return {"$not": [{"$in": [{"$type": f"${id_field or '_id'}"}, ["missing", "null", "undefined"]]}]}


def location_filter(attached: Mapping[str, Any]) -> dict[str, Any]:
    """Return the query document selecting the documents an attached dataset serves: a usable
    location and an id. (One `$expr`: a stream's area query can be merged with it key by key.)"""
    return {
        "$expr": {
            "$and": [
                location_expression(attached["location_field"], attached["location"]),
                id_expression(attached["id_field"]),
            ]
        }
    }


def stream_projection(attached: Mapping[str, Any], schema: PointSchema) -> dict[str, Any]:
    """Return the find() projection returning the served documents shaped as stream lines:
    `{"id": …, "pt": [x, y], <each property of the schema>…}`. An int64 id held as a whole
    double or decimal is sent as a long (any other value as it is: one written since the schema
    was learnt then fails the stream's type check rather than being cut to a whole number)."""
    field = attached["location_field"]
    location = f"${field}" if attached["location"] == "pair" else f"${field}.coordinates"
    id_path = f"${attached['id_field'] or '_id'}"
    id_value: Any = id_path
    if schema.id == ColumnType.INT64:
        id_value = {"$cond": [_whole(id_path), {"$toLong": id_path}, id_path]}
    projection: dict[str, Any] = {"_id": 0, "id": id_value, "pt": location}
    projection.update((name, 1) for name in schema.properties)
    return projection


# --- what the aggregations count ------------------------------------------------------------


def count_pipeline(location_field: str, id_field: str | None) -> list[dict[str, Any]]:
    """Return the aggregation counting, in one pass, the collection's documents, those with a
    usable location of each kind, and of those the ones without an id."""
    pair, point = location_expression(location_field, "pair"), location_expression(location_field, "point")
    no_id = {"$not": [id_expression(id_field)]}

    def tally(condition: dict[str, Any]) -> dict[str, Any]:
        return {"$sum": {"$cond": [condition, 1, 0]}}

    return [
        {
            "$group": {
                "_id": None,
                "documents": {"$sum": 1},
                "pairs": tally(pair),
                "points": tally(point),
                "pairs_without_id": tally({"$and": [pair, no_id]}),
                "points_without_id": tally({"$and": [point, no_id]}),
            }
        }
    ]


COUNT_KEYS = ("documents", "pairs", "points", "pairs_without_id", "points_without_id")


def counts_of(rows: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Return count_pipeline's result as plain ints (all 0 for an empty collection: no row)."""
    row = next(iter(rows), None) or {}
    return {key: int(row.get(key, 0)) for key in COUNT_KEYS}


def choose_location(counts: Mapping[str, int], geometry: GeometryKind, what: str) -> Location:
    """Return which kind of location the dataset over collection `what` reads (the one most of
    its documents hold; only pairs for a planar one); raise StoreError when none is usable."""
    pairs, points = counts["pairs"], counts["points"]
    if geometry == "planar":
        if pairs:
            return "pair"
        if points:
            raise StoreError(
                f"the locations in {what} are GeoJSON Points ({points:,} documents): attach it with --spherical "
                "(a 2d index, which planar datasets are queried by, holds only [x, y] pairs)"
            )
    elif pairs or points:
        return "pair" if pairs >= points else "point"
    if not counts["documents"]:
        raise StoreError(f"{what} is empty: there is nothing to serve")
    raise StoreError(
        f"none of the {counts['documents']:,} documents of {what} has a usable location in that field: "
        'an array of two numbers [x, y], or a GeoJSON Point {"type": "Point", "coordinates": [x, y]}'
    )


def found_of(counts: Mapping[str, int], location: Location) -> dict[str, int]:
    """Return what the dataset serves of the collection: `count` documents, of `documents`; the
    others lack a usable location of its kind (`other_kind` of them hold the other kind) or an id."""
    other: Location = "point" if location == "pair" else "pair"
    located, without_id = counts[f"{location}s"], counts[f"{location}s_without_id"]
    return {
        "documents": counts["documents"],
        "count": located - without_id,
        "without_location": counts["documents"] - located,
        "other_kind": counts[f"{other}s"],
        "without_id": without_id,
    }


def _coordinate(attached: Mapping[str, Any], axis: int) -> dict[str, Any]:
    field = attached["location_field"]
    path = f"${field}" if attached["location"] == "pair" else f"${field}.coordinates"
    return {"$arrayElemAt": [path, axis]}


def bounds_pipeline(attached: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return the aggregation giving the served documents' least and greatest x and y."""
    x, y = _coordinate(attached, 0), _coordinate(attached, 1)
    return [
        {"$match": location_filter(attached)},
        {
            "$group": {
                "_id": None,
                "min_x": {"$min": x},
                "min_y": {"$min": y},
                "max_x": {"$max": x},
                "max_y": {"$max": y},
            }
        },
    ]


def index_range_pipeline(location_field: str) -> list[dict[str, Any]]:
    """Return the aggregation giving the least and greatest x and y of every document a 2d index
    on `location_field` keys as one location, served or not: those whose field is an array or an
    object whose first two values are numbers (int, long, double or decimal), so [x, y, z] arrays,
    {x: …, y: …} objects and documents without an id too. (A location holding arrays of locations,
    which a 2d index keys as several, is not looked into.) GeoJSON Points are no such location:
    they are queried by a 2dsphere index, which has no range."""
    path = f"${location_field}"
    values = {
        "$cond": [
            {"$isArray": path},
            path,
            {
                "$cond": [
                    {"$eq": [{"$type": path}, "object"]},
                    {"$map": {"input": {"$objectToArray": path}, "in": "$$this.v"}},
                    [],
                ]
            },
        ]
    }
    return [
        {"$project": {"_id": 0, "values": values}},
        {"$project": {"x": {"$arrayElemAt": ["$values", 0]}, "y": {"$arrayElemAt": ["$values", 1]}}},
        {
            "$match": {
                "$expr": {
                    "$and": [{"$in": [{"$type": "$x"}, KEYED_NUMBERS]}, {"$in": [{"$type": "$y"}, KEYED_NUMBERS]}]
                }
            }
        },
        {
            "$group": {
                "_id": None,
                "min_x": {"$min": "$x"},
                "min_y": {"$min": "$y"},
                "max_x": {"$max": "$x"},
                "max_y": {"$max": "$y"},
            }
        },
    ]


def _float(value: Any) -> float:
    """Return a BSON number as a float (a decimal's nearest; a NaN decimal, signalling or not, NaN)."""
    from bson import Decimal128

    if isinstance(value, Decimal128):
        exact = value.to_decimal()
        return math.nan if exact.is_nan() else float(exact)
    return float(value)


def bounds_of(rows: Iterable[Mapping[str, Any]]) -> Bounds | None:
    """Return bounds_pipeline's (or index_range_pipeline's) result as (min_x, min_y, max_x, max_y);
    None when nothing matched."""
    row = next(iter(rows), None)
    if not row or row.get("min_x") is None:
        return None
    return (_float(row["min_x"]), _float(row["min_y"]), _float(row["max_x"]), _float(row["max_y"]))


def types_pipeline(attached: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return the aggregation giving each (field name, BSON type) of the served documents, how
    many hold it (`count`) and, for the id, how many of those are whole doubles or decimals a long
    holds exactly (`whole`; 0 for other fields); the location field is left out, `_id` too when
    another field is the id."""
    id_field = attached["id_field"]
    skipped = [attached["location_field"]] + (["_id"] if id_field and id_field != "_id" else [])
    whole_id = {"$and": [{"$eq": ["$kv.k", id_field or "_id"]}, _whole("$kv.v")]}
    return [
        {"$match": location_filter(attached)},
        {
            "$project": {
                "_id": 0,
                "kv": {
                    "$filter": {
                        "input": {"$objectToArray": "$$ROOT"},
                        "cond": {"$not": [{"$in": ["$$this.k", skipped]}]},
                    }
                },
            }
        },
        {"$unwind": "$kv"},
        {
            "$group": {
                "_id": {"key": "$kv.k", "type": {"$type": "$kv.v"}},
                "count": {"$sum": 1},
                "whole": {"$sum": {"$cond": [whole_id, 1, 0]}},
            }
        },
        {"$sort": {"_id.key": 1, "_id.type": 1}},
    ]


def left_out(rows: Iterable[Mapping[str, Any]], id_field: str | None) -> list[list[str]]:
    """Return [name, why] of each field of types_pipeline's rows that cannot be served as a property."""
    id_key = id_field or "_id"
    names = sorted({str(row["_id"]["key"]) for row in rows} - {id_key, "_id"})
    out = []
    for name in names:
        if not name:
            why = "an empty name cannot be projected"
        elif "." in name:
            why = "a name with '.' cannot be projected (MongoDB reads it as a path)"
        elif name.startswith("$"):
            why = "a name starting with '$' cannot be projected"
        elif name == "id":
            why = f"the stream's id is named id (here the id is {id_key!r}: --id-field id to use this one)"
        elif name == "pt":
            why = "the stream's location is named pt"
        else:
            continue
        out.append([name, why])
    return out


def schema_from_types(rows: Iterable[Mapping[str, Any]], id_field: str | None) -> PointSchema:
    """Return the point schema types_pipeline's rows describe: the id's type (int64 when every id
    is an int, a long, or a whole double or decimal a long holds exactly; else utf8), then each
    property's (int and long → int64; double, with ints or not → float64; string → utf8; bool →
    bool; a mix or any other type → json; nulls do not count, and a property only ever null is
    utf8), by name. No statistics (None: unknown)."""
    rows = list(rows)
    id_key = id_field or "_id"
    refused = {name for name, _ in left_out(rows, id_field)}
    integral_ids = True
    properties: dict[str, ColumnType] = {}
    for row in rows:
        key, bson_type = str(row["_id"]["key"]), str(row["_id"]["type"])
        if key == id_key:
            whole = bson_type in ("double", "decimal") and int(row["whole"]) == int(row["count"])
            integral_ids = integral_ids and (bson_type in ("int", "long") or whole)
        elif key != "_id" and key not in refused:
            seen = _COLUMN_TYPES.get(bson_type, ColumnType.JSON)
            old = properties.get(key)
            properties[key] = seen if old is None else _merge(old, seen)
    id_type = ColumnType.INT64 if integral_ids else ColumnType.UTF8
    final: dict[str, ColumnType] = {k: ColumnType.UTF8 if t == ColumnType.NULL else t for k, t in properties.items()}
    return PointSchema(id_type, final, None)


@dataclass(frozen=True, slots=True)
class Survey:
    """What the aggregations found in an attached collection."""

    found: dict[str, int]
    bounds: Bounds | None
    schema: PointSchema
    left_out: list[list[str]]


def attached_meta(name: str, attached: Mapping[str, Any], geometry: GeometryKind, survey: Survey) -> dict[str, Any]:
    """Return the metadata document of dataset `name` attached over a collection: `attached`
    (db, collection, location_field, location, id_field, index, index_created) with what the
    survey found and left out; no collection of the store's own ("collection": None)."""
    return {
        "_id": name,
        "geometry": geometry,
        "count": survey.found["count"],
        "bounds": list(survey.bounds) if survey.bounds else None,
        "schema": survey.schema.to_json(),
        "loaded": True,
        "collection": None,
        "attached": {**attached, "found": survey.found, "left_out": survey.left_out},
    }


# --- against a server ---------------------------------------------------------------------


def _aggregate(
    store: MongoStore, what: str, points: Collection[dict[str, Any]], pipeline: list[dict[str, Any]]
) -> list[Any]:
    """Return the rows of an aggregation over the whole collection, bounded as index builds are
    (POINTS_MONGO_INDEX_TIMEOUT_S), not by the socket timeout (MongoStore.long_running)."""
    slow = store.long_running(points)
    rows = store._call(
        f"{what} of {points.full_name}",
        lambda: list(slow.aggregate(pipeline, allowDiskUse=True, maxTimeMS=store.long_ms)),
    )
    return list(rows)


def _existing(store: MongoStore, db: str, coll: str) -> Collection[dict[str, Any]]:
    """Return the user's collection, refusing a view, a missing collection or the store's own."""
    from points.stores.mongo.store import META, RETIRED

    if db == store.db.name and (coll in (META, RETIRED) or coll.startswith("points.")):
        raise StoreError(f"{db}.{coll} is one of the point store's own collections; attach a collection of yours")
    database = store.client[db]
    listed = store._call("look for the collection", lambda: list(database.list_collections(filter={"name": coll})))
    if not listed:
        raise StoreError(f"MongoDB has no collection {coll!r} in database {db!r}")
    if listed[0].get("type") == "view":
        raise StoreError(f"{db}.{coll} is a view, which has no index to query by: attach the collection it reads")
    return database[coll]


def _counts(
    store: MongoStore, points: Collection[dict[str, Any]], location_field: str, id_field: str | None
) -> dict[str, int]:
    return counts_of(_aggregate(store, "count the documents", points, count_pipeline(location_field, id_field)))


def _build_index(
    store: MongoStore,
    points: Collection[dict[str, Any]],
    attached: Mapping[str, Any],
    geometry: GeometryKind,
    bounds: Bounds | None,
) -> str:
    """Build the spatial index --create-index asks for (a 2d one over `bounds`, the
    index_range_pipeline's) and return its name; a document it cannot hold is said with the
    command to build it by hand (unindexable_message)."""
    keys, options = index_keys(attached["location_field"], geometry, bounds)
    try:
        return store._build_index(points, keys, options)
    except StoreError as exc:
        if getattr(exc.__cause__, "code", None) in UNINDEXABLE:
            raise StoreError(unindexable_message(attached, geometry, bounds, str(exc))) from exc
        raise


def _survey(
    store: MongoStore,
    points: Collection[dict[str, Any]],
    attached: dict[str, Any],
    geometry: GeometryKind,
    found: dict[str, int],
    *,
    create_index: bool,
) -> Survey:
    """Return what the collection holds as the attached dataset serves it, after finding its
    spatial index (building it when asked: attached["index"], ["index_created"] say which)."""
    bounds = bounds_of(_aggregate(store, "compute the bounds", points, bounds_pipeline(attached)))
    field = attached["location_field"]
    indexes = store._call("list the collection's indexes", lambda: list(points.list_indexes()))
    index = spatial_index(indexes, field, geometry)
    if index is None:
        # A 2d index's range must hold every document it keys, not only the served ones.
        index_bounds = (
            bounds_of(_aggregate(store, "compute the 2d index's range", points, index_range_pipeline(field)))
            if geometry == "planar"
            else None
        )
        if not create_index:
            raise StoreError(missing_index_message(indexes, attached, geometry, index_bounds))
        index = _build_index(store, points, attached, geometry, index_bounds)
        attached["index_created"] = True
    attached["index"] = index
    attached.setdefault("index_created", False)
    rows = _aggregate(store, "learn the properties", points, types_pipeline(attached))
    id_field = attached["id_field"]
    return Survey(found, bounds, schema_from_types(rows, id_field), left_out(rows, id_field))


def attach(
    store: MongoStore,
    name: str,
    *,
    collection: str,
    location_field: str,
    id_field: str | None = None,
    geometry: GeometryKind = GeometryKind.PLANAR,
    create_index: bool = False,
) -> dict[str, Any]:
    """Register dataset `name` over the existing `collection` ("db.coll"), whose `location_field`
    holds the points' locations and `id_field` (default `_id`) their ids; find (or, with
    `create_index`, build) its spatial index; compute its count, bounds and schema; record its
    metadata document and return it. Nothing is written to the collection (but the index asked for).
    `name` must be a dataset's name (points.rules.NAME_PATTERN): the sweep drops any other
    (points.jobs.sweep takes it for the scratch dataset of an import of old)."""
    from pymongo.errors import DuplicateKeyError

    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        raise StoreError(f"invalid dataset name {name!r}: {NAME_RULE}")
    db, coll = parse_collection(collection)
    check_field("--location-field", location_field)
    if id_field is not None:
        check_field("--id-field", id_field)
        if id_field == location_field:
            raise StoreError("--id-field and --location-field must be different fields")
    if id_field == "_id":
        id_field = None
    if geometry not in INDEX_KIND:
        raise StoreError(f"the geometry must be planar or spherical, not {geometry!r}")
    if store.exists(name):
        raise DatasetExists(f"the point store already has a dataset {name!r}")
    points = _existing(store, db, coll)
    counts = _counts(store, points, location_field, id_field)
    location = choose_location(counts, geometry, f"{db}.{coll}")
    found = found_of(counts, location)
    if not found["count"]:
        raise StoreError(
            f"none of the {counts[location + 's']:,} documents of {db}.{coll} with a location has an id in "
            f"{id_field or '_id'!r}: name the id's field with --id-field (without it, _id is the id)"
        )
    attached: dict[str, Any] = {
        "db": db,
        "collection": coll,
        "location_field": location_field,
        "location": location,
        "id_field": id_field,
    }
    survey = _survey(store, points, attached, geometry, found, create_index=create_index)
    meta = attached_meta(name, attached, geometry, survey)
    try:
        store._call("record the dataset", store.meta.insert_one, meta)
    except StoreError as exc:
        if isinstance(exc.__cause__, DuplicateKeyError):
            raise DatasetExists(f"the point store already has a dataset {name!r}") from None
        raise
    return meta


def refresh(store: MongoStore, name: str) -> dict[str, Any]:
    """Compute attached dataset `name`'s count, bounds and schema again (documents added or
    changed since), check that its index is still there (never building one), record them and
    return the new metadata."""
    meta = store._meta(name)
    recorded = meta.get("attached")
    if not recorded:
        raise StoreError(f"dataset {name!r} is not attached to a collection: its points were imported")
    attached = {k: v for k, v in recorded.items() if k not in ("found", "left_out")}
    points = _existing(store, attached["db"], attached["collection"])
    counts = _counts(store, points, attached["location_field"], attached["id_field"])
    found = found_of(counts, attached["location"])
    survey = _survey(store, points, attached, meta["geometry"], found, create_index=False)
    new = attached_meta(name, attached, meta["geometry"], survey)
    done = store._call("record the dataset", store.meta.replace_one, {"_id": name, "attached": {"$exists": True}}, new)
    if not done.matched_count:
        raise DatasetNotFound(f"the point store has no dataset {name!r} any more (deleted while it was refreshed)")
    return new
