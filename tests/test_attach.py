"""Datasets attached over an existing MongoDB collection (points.stores.mongo.attach,
`manage.py attach_collection`).

Here: the exact documents sent to the server (no server needed), the command refusing on the
embedded store, the admin and the import paths refusing to write over an attached dataset. With
MONGODB_URI set (the GitHub workflow): attaching a real `{"pt": [x, y], "id": n}` collection,
streaming it through the API, refreshing it, and deleting it while its collection stays.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from points.datasets import DatasetConflict, dataset_prepare
from points.models import Dataset, DatasetStatus
from points.rules import NAME_RULE, GeometryKind
from points.schema import ColumnType, PointSchema
from points.stores.base import ATTACH_NEEDS_MONGO, StoreError
from points.stores.mongo.attach import (
    Survey,
    attached_meta,
    bounds_of,
    bounds_pipeline,
    check_field,
    choose_location,
    count_pipeline,
    counts_of,
    create_index_command,
    found_of,
    index_keys,
    index_range_pipeline,
    left_out,
    location_filter,
    missing_index_message,
    parse_collection,
    schema_from_types,
    spatial_index,
    stream_projection,
    types_pipeline,
    unindexable_message,
)
from points.stores.mongo.queries import index_spec
from tests.stream_client import read_body

NUMBERS = ["double", "int", "long"]
KEYED = ["double", "int", "long", "decimal"]  # what a 2d index takes as a number
PAIRS: dict[str, Any] = {
    "db": "geo",
    "collection": "coords",
    "location_field": "pt",
    "location": "pair",
    "id_field": "id",
}
POINTS: dict[str, Any] = {
    "db": "geo",
    "collection": "places",
    "location_field": "loc",
    "location": "point",
    "id_field": None,
}


def pair_check(path: str) -> dict[str, Any]:
    """The expression true when `path` is an array of exactly two numbers, as the server gets it."""
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


def point_check(field: str) -> dict[str, Any]:
    return {
        "$cond": [
            {"$eq": [{"$type": f"${field}"}, "object"]},
            {"$and": [{"$eq": [f"${field}.type", "Point"]}, pair_check(f"${field}.coordinates")]},
            False,
        ]
    }


def has_id(path: str) -> dict[str, Any]:
    return {"$not": [{"$in": [{"$type": path}, ["missing", "null", "undefined"]]}]}


def whole(path: str) -> dict[str, Any]:
    """The expression true when `path` is a double or decimal holding a whole number within ±2^53."""
    return {
        "$cond": [
            {"$in": [{"$type": path}, ["double", "decimal"]]},
            {"$and": [{"$eq": [{"$mod": [path, 1]}, 0]}, {"$lte": [{"$abs": path}, 9007199254740992]}]},
            False,
        ]
    }


def row(key: str, bson_type: str, count: int = 1, whole: int = 0) -> dict[str, Any]:
    """A row of types_pipeline as the server returns it."""
    return {"_id": {"key": key, "type": bson_type}, "count": count, "whole": whole}


# --- what the user names ----------------------------------------------------------------


def test_parse_collection() -> None:
    assert parse_collection("db.coords") == ("db", "coords")
    assert parse_collection("db.points.2024") == ("db", "points.2024")  # a collection's name may hold dots


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("coords", "--collection must be DATABASE.COLLECTION, e.g. mydb.coords; got 'coords'"),
        (".coords", "--collection must be DATABASE.COLLECTION"),
        ("db.", "--collection must be DATABASE.COLLECTION"),
        ("my db.coords", "'my db' is not a MongoDB database name: it may not contain ' '"),
        ('a"b.c', "it may not contain '\"'"),
        ("d" * 64 + ".c", "it must be shorter than 64 bytes"),
        ("db.co$rds", "'co$rds' is not a MongoDB collection name: it may not contain '$'"),
        ("db.system.views", "'db.system.views' is one of MongoDB's system collections"),
        ("db." + "c" * 260, "DATABASE.COLLECTION is at most 255 bytes"),
    ],
)
def test_parse_collection_says_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(StoreError) as caught:
        parse_collection(text)
    assert message in str(caught.value)


def test_the_location_and_id_fields_are_top_level_names() -> None:
    assert check_field("--location-field", "pt") == "pt"
    for bad in ("", "geo.pt", "$pt"):
        with pytest.raises(StoreError, match=r"--location-field must name a top-level field \(no '\.', not starting"):
            check_field("--location-field", bad)


@pytest.mark.parametrize("name", ["grid~0123456789ab", "Coords", "", "-coords", "c" * 64])
def test_the_store_refuses_a_name_no_dataset_may_have(name: str) -> None:
    from points.stores.mongo import MongoStore

    # Before it asks the server (none listens here): a registration under a name the sweep takes
    # for an old scratch dataset (`name~token`) would be dropped by the next import's sweep.
    store = MongoStore("mongodb://127.0.0.1:9/pointsite", server_selection_timeout_ms=50)
    try:
        with pytest.raises(StoreError) as caught:
            store.attach(name, collection="geo.coords", location_field="pt")
    finally:
        store.close()
    assert str(caught.value) == f"invalid dataset name {name!r}: {NAME_RULE}"


# --- the spatial index --------------------------------------------------------------------


INDEXES = [
    {"v": 2, "key": {"_id": 1}, "name": "_id_"},
    {"v": 2, "key": {"kind": 1, "pt": "2d"}, "name": "kind_1_pt_2d"},  # 2d not first: not usable
    {"v": 2, "key": {"pt": "2d", "kind": 1}, "name": "pt_2d_kind_1", "min": -1000.0, "max": 1000.0},
    {"v": 2, "key": {"loc": "2dsphere"}, "name": "loc_partial", "partialFilterExpression": {"kind": "a"}},
    {"v": 2, "key": {"loc": "2dsphere"}, "name": "loc_hidden", "hidden": True, "2dsphereIndexVersion": 3},
    {"v": 2, "key": {"loc": "2dsphere", "kind": 1}, "name": "loc_2dsphere_kind_1", "2dsphereIndexVersion": 3},
]


def test_spatial_index_is_the_right_kind_on_the_field_first() -> None:
    assert spatial_index(INDEXES, "pt", GeometryKind.PLANAR) == "pt_2d_kind_1"
    assert spatial_index(INDEXES, "pt", GeometryKind.SPHERICAL) is None
    # Partial and hidden indexes are passed over; a compound one with the field first counts.
    assert spatial_index(INDEXES, "loc", GeometryKind.SPHERICAL) == "loc_2dsphere_kind_1"
    assert spatial_index(INDEXES, "loc", GeometryKind.PLANAR) is None
    assert spatial_index(INDEXES[:2], "pt", GeometryKind.PLANAR) is None
    assert spatial_index([], "pt", GeometryKind.PLANAR) is None


def test_the_index_built_on_request_and_the_command_to_build_it() -> None:
    # A 2d index gets the range the store's own datasets get for those bounds.
    _, planar = index_spec(GeometryKind.PLANAR, (0.0, 0.0, 99.0, 9.0))
    lo, hi = planar["min"], planar["max"]
    assert lo < 0 and hi > 99
    assert index_keys("pt", GeometryKind.PLANAR, (0.0, 0.0, 99.0, 9.0)) == (
        [("pt", "2d")],
        {"name": "pt_2d", "min": lo, "max": hi},
    )
    assert index_keys("loc", GeometryKind.SPHERICAL, None) == ([("loc", "2dsphere")], {"name": "loc_2dsphere"})
    assert create_index_command("geo", "coords", "pt", GeometryKind.PLANAR, (0.0, 0.0, 99.0, 9.0)) == (
        f'db.getSiblingDB("geo").getCollection("coords").createIndex({{"pt": "2d"}}, {{"min": {lo!r}, "max": {hi!r}}})'
    )
    assert (
        create_index_command("geo", "places", "loc", GeometryKind.SPHERICAL, (1.0, 2.0, 3.0, 4.0))
        == 'db.getSiblingDB("geo").getCollection("places").createIndex({"loc": "2dsphere"})'
    )


def test_the_2d_index_range_covers_every_document_it_keys() -> None:
    # Not only the served ones: any array or object whose first two values are numbers, decimals
    # too, with an id or without (a 2d index refuses to be built when one lies outside its range).
    first_two = {
        "$cond": [
            {"$isArray": "$pt"},
            "$pt",
            {
                "$cond": [
                    {"$eq": [{"$type": "$pt"}, "object"]},
                    {"$map": {"input": {"$objectToArray": "$pt"}, "in": "$$this.v"}},
                    [],
                ]
            },
        ]
    }
    assert index_range_pipeline("pt") == [
        {"$project": {"_id": 0, "values": first_two}},
        {"$project": {"x": {"$arrayElemAt": ["$values", 0]}, "y": {"$arrayElemAt": ["$values", 1]}}},
        {"$match": {"$expr": {"$and": [{"$in": [{"$type": "$x"}, KEYED]}, {"$in": [{"$type": "$y"}, KEYED]}]}}},
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


def test_the_range_read_back_from_bson_with_decimals() -> None:
    import bson
    from bson import Decimal128, Int64

    # As the server sends the group's row: each least/greatest in the type it was stored in.
    sent = bson.encode(
        {"_id": None, "min_x": Decimal128("-20.5"), "min_y": 0, "max_x": Int64(500), "max_y": Decimal128("1E+400")}
    )
    assert bounds_of([bson.decode(sent)]) == (-20.5, 0.0, 500.0, float("inf"))
    nan = bounds_of([bson.decode(bson.encode({"min_x": Decimal128("sNaN"), "min_y": 1.0, "max_x": 2, "max_y": 3}))])
    assert nan is not None and nan[0] != nan[0]
    # Neither fits a 2d index: said before any createIndex is sent.
    with pytest.raises(StoreError, match="are not finite numbers: no 2d index can hold them"):
        create_index_command("geo", "coords", "pt", GeometryKind.PLANAR, nan)


def test_a_document_the_2d_index_cannot_hold_is_said_with_the_command() -> None:
    error = (
        "MongoDB failed to build the spatial index of geo.coords: "
        "Location13027: point not in interval of [ -0.049001, 49.049001 ] :: caused by :: { _id: 1 }"
    )
    message = unindexable_message(PAIRS, GeometryKind.PLANAR, (-20.0, 0.0, 500.0, 9.0), error)
    command = create_index_command("geo", "coords", "pt", GeometryKind.PLANAR, (-20.0, 0.0, 500.0, 9.0))
    assert message == (
        f"{error}\nA 2d index keys every document whose 'pt' is an array or an object, served or not, and "
        "cannot be built while one of them is not a location it can hold: its first two values numbers, "
        "between the index's min and max. The range tried holds the locations the collection had at "
        "attach ([x, y, ...] arrays and {x: ..., y: ...} objects; not those written since, nor those in an "
        "array of locations). Correct or remove the documents that do not fit, or build the index yourself "
        f"with a range holding every location:\n  {command}\nthen attach again without --create-index."
    )


def test_a_missing_index_is_named_with_the_command_to_build_it() -> None:
    message = missing_index_message([], PAIRS, GeometryKind.PLANAR, (0.0, 0.0, 99.0, 9.0))
    assert message == (
        "geo.coords has no 2d index on 'pt', which a planar dataset is queried by. Create it with\n"
        f"  {create_index_command('geo', 'coords', 'pt', GeometryKind.PLANAR, (0.0, 0.0, 99.0, 9.0))}\n"
        "or attach with --create-index to have it built now."
    )
    # The other kind of index is there: say which way to attach to use it.
    spherical = [{"key": {"pt": "2dsphere"}, "name": "pt_2dsphere"}]
    assert "(it has a 2dsphere index on it, pt_2dsphere: attach with --spherical to use that one)" in (
        missing_index_message(spherical, PAIRS, GeometryKind.PLANAR, (0.0, 0.0, 1.0, 1.0))
    )
    planar = [{"key": {"pt": "2d"}, "name": "pt_2d"}]
    assert "(it has a 2d index on it, pt_2d: attach without --spherical to use that one)" in (
        missing_index_message(planar, PAIRS, GeometryKind.SPHERICAL, (0.0, 0.0, 1.0, 1.0))
    )
    # A 2d index cannot serve GeoJSON Points: no such advice for them.
    assert "(it has" not in missing_index_message(
        [{"key": {"loc": "2d"}, "name": "loc_2d"}], POINTS, GeometryKind.SPHERICAL, (0.0, 0.0, 1.0, 1.0)
    )


# --- which documents are served, and as what ----------------------------------------------


def test_location_filter_pairs_with_an_id_field() -> None:
    assert location_filter(PAIRS) == {"$expr": {"$and": [pair_check("$pt"), has_id("$id")]}}


def test_location_filter_geojson_points_with_the_mongodb_id() -> None:
    assert location_filter(POINTS) == {"$expr": {"$and": [point_check("loc"), has_id("$_id")]}}


def test_stream_projection_shapes_documents_as_stream_lines() -> None:
    schema = PointSchema(ColumnType.INT64, {"kind": ColumnType.UTF8, "size": ColumnType.INT64}, None)
    # An int64 id stored as a whole double (as mongosh writes numbers) or decimal is sent as a long;
    # any other value as it is.
    as_long = {"$cond": [whole("$id"), {"$toLong": "$id"}, "$id"]}
    assert stream_projection(PAIRS, schema) == {"_id": 0, "id": as_long, "pt": "$pt", "kind": 1, "size": 1}
    utf8 = PointSchema(ColumnType.UTF8, {"kind": ColumnType.UTF8}, None)
    assert stream_projection(PAIRS, utf8) == {"_id": 0, "id": "$id", "pt": "$pt", "kind": 1}
    # No id field (or _id named as one): the id is MongoDB's _id, excluded as a field of its own.
    assert stream_projection(POINTS, PointSchema(ColumnType.UTF8, {}, None)) == {
        "_id": 0,
        "id": "$_id",
        "pt": "$loc.coordinates",
    }


def test_count_pipeline_counts_each_kind_in_one_pass() -> None:
    pair, point = pair_check("$pt"), point_check("pt")
    no_id = {"$not": [has_id("$id")]}
    assert count_pipeline("pt", "id") == [
        {
            "$group": {
                "_id": None,
                "documents": {"$sum": 1},
                "pairs": {"$sum": {"$cond": [pair, 1, 0]}},
                "points": {"$sum": {"$cond": [point, 1, 0]}},
                "pairs_without_id": {"$sum": {"$cond": [{"$and": [pair, no_id]}, 1, 0]}},
                "points_without_id": {"$sum": {"$cond": [{"$and": [point, no_id]}, 1, 0]}},
            }
        }
    ]
    assert count_pipeline("pt", None)[0]["$group"]["pairs_without_id"] == {
        "$sum": {"$cond": [{"$and": [pair, {"$not": [has_id("$_id")]}]}, 1, 0]}
    }


def counts(documents: int, pairs: int, points: int, pairs_without_id: int = 0, points_without_id: int = 0) -> Any:
    return counts_of(
        [
            {
                "_id": None,
                "documents": documents,
                "pairs": pairs,
                "points": points,
                "pairs_without_id": pairs_without_id,
                "points_without_id": points_without_id,
            }
        ]
    )


def test_counts_and_what_is_not_served() -> None:
    assert counts_of([]) == counts(0, 0, 0)  # an empty collection gives no row
    assert found_of(counts(105, 100, 3, 2, 1), "pair") == {
        "documents": 105,
        "count": 98,
        "without_location": 5,
        "other_kind": 3,
        "without_id": 2,
    }
    assert found_of(counts(105, 100, 3, 2, 1), "point") == {
        "documents": 105,
        "count": 2,
        "without_location": 102,
        "other_kind": 100,
        "without_id": 1,
    }


def test_which_kind_of_location_is_read() -> None:
    assert choose_location(counts(10, 10, 0), GeometryKind.PLANAR, "geo.coords") == "pair"
    assert choose_location(counts(10, 4, 6), GeometryKind.PLANAR, "geo.coords") == "pair"  # a 2d index holds only pairs
    assert choose_location(counts(10, 4, 6), GeometryKind.SPHERICAL, "geo.coords") == "point"  # the most
    assert choose_location(counts(10, 5, 5), GeometryKind.SPHERICAL, "geo.coords") == "pair"
    with pytest.raises(StoreError) as caught:
        choose_location(counts(10, 0, 6), GeometryKind.PLANAR, "geo.places")
    assert str(caught.value) == (
        "the locations in geo.places are GeoJSON Points (6 documents): attach it with --spherical "
        "(a 2d index, which planar datasets are queried by, holds only [x, y] pairs)"
    )
    with pytest.raises(StoreError) as caught:
        choose_location(counts(3, 0, 0), GeometryKind.SPHERICAL, "geo.coords")
    assert str(caught.value) == (
        "none of the 3 documents of geo.coords has a usable location in that field: an array of two "
        'numbers [x, y], or a GeoJSON Point {"type": "Point", "coordinates": [x, y]}'
    )
    with pytest.raises(StoreError, match=r"^geo.coords is empty: there is nothing to serve$"):
        choose_location(counts(0, 0, 0), GeometryKind.PLANAR, "geo.coords")


def test_bounds_pipeline() -> None:
    x, y = {"$arrayElemAt": ["$pt", 0]}, {"$arrayElemAt": ["$pt", 1]}
    assert bounds_pipeline(PAIRS) == [
        {"$match": location_filter(PAIRS)},
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
    group = bounds_pipeline(POINTS)[1]["$group"]
    assert group["min_x"] == {"$min": {"$arrayElemAt": ["$loc.coordinates", 0]}}
    assert group["max_y"] == {"$max": {"$arrayElemAt": ["$loc.coordinates", 1]}}
    assert bounds_of([{"_id": None, "min_x": 0, "min_y": -2.5, "max_x": 99, "max_y": 9}]) == (0.0, -2.5, 99.0, 9.0)
    assert bounds_of([]) is None


def test_types_pipeline() -> None:
    assert types_pipeline(PAIRS) == [
        {"$match": location_filter(PAIRS)},
        {
            "$project": {
                "_id": 0,
                "kv": {
                    "$filter": {
                        "input": {"$objectToArray": "$$ROOT"},
                        "cond": {"$not": [{"$in": ["$$this.k", ["pt", "_id"]]}]},
                    }
                },
            }
        },
        {"$unwind": "$kv"},
        {
            "$group": {
                "_id": {"key": "$kv.k", "type": {"$type": "$kv.v"}},
                "count": {"$sum": 1},
                # How many of the id's doubles and decimals a long holds exactly.
                "whole": {"$sum": {"$cond": [{"$and": [{"$eq": ["$kv.k", "id"]}, whole("$kv.v")]}, 1, 0]}},
            }
        },
        {"$sort": {"_id.key": 1, "_id.type": 1}},
    ]
    # _id is the id here: its type is wanted.
    points = types_pipeline(POINTS)
    assert points[1]["$project"]["kv"]["$filter"]["cond"] == {"$not": [{"$in": ["$$this.k", ["loc"]]}]}
    assert points[3]["$group"]["whole"]["$sum"]["$cond"][0]["$and"][0] == {"$eq": ["$kv.k", "_id"]}


TYPES = [
    row("", "int"),
    row("$weird", "string"),
    row("a.b", "int"),
    row("big", "long"),
    row("flag", "bool"),
    row("id", "int", 60),
    row("id", "long", 40),
    row("mixed", "bool"),
    row("mixed", "int"),
    row("nothing", "null"),
    row("nothing", "undefined"),
    row("pt", "array"),
    row("size", "double"),
    row("size", "int"),
    row("size", "null"),
    row("tags", "array"),
    row("when", "date"),
    row("word", "string"),
]


def test_schema_from_types_follows_the_schema_rule() -> None:
    schema = schema_from_types(TYPES, "id")
    assert schema.id == ColumnType.INT64
    assert schema.properties == {
        "big": ColumnType.INT64,
        "flag": ColumnType.BOOL,
        "mixed": ColumnType.JSON,
        "nothing": ColumnType.UTF8,  # never seen with a value
        "size": ColumnType.FLOAT64,
        "tags": ColumnType.JSON,
        "when": ColumnType.JSON,
        "word": ColumnType.UTF8,
    }
    assert schema.stats is None  # unknown: no statistics are computed for attached collections
    assert schema.to_json()["properties"][0] == ["big", "int64"]


def test_the_id_type() -> None:
    assert schema_from_types([row("_id", "objectId")], None).id == ColumnType.UTF8
    assert schema_from_types([row("_id", "int"), row("_id", "long")], None).id == ColumnType.INT64
    assert schema_from_types([row("id", "int"), row("id", "string")], "id").id == ColumnType.UTF8
    # mongosh writes the write-up's ids as doubles: whole ones within ±2^53 are int64 ids.
    assert schema_from_types([row("id", "double", 100, whole=100)], "id").id == ColumnType.INT64
    assert schema_from_types([row("id", "double", 3, 3), row("id", "int", 5), row("id", "decimal", 2, 2)], "id").id == (
        ColumnType.INT64
    )
    # One of them is 1.5, or 2^60 (which a double holds only approximately): utf8 ids.
    assert schema_from_types([row("id", "double", 100, whole=99)], "id").id == ColumnType.UTF8
    assert schema_from_types([row("id", "decimal", 2, 1), row("id", "int", 5)], "id").id == ColumnType.UTF8
    # Properties stay float64 however whole their doubles are.
    assert schema_from_types([row("id", "int"), row("size", "double", 4, 0)], "id").properties == {
        "size": ColumnType.FLOAT64
    }


def test_fields_that_cannot_be_projected_are_left_out_and_said() -> None:
    assert left_out(TYPES, "id") == [
        ["", "an empty name cannot be projected"],
        ["$weird", "a name starting with '$' cannot be projected"],
        ["a.b", "a name with '.' cannot be projected (MongoDB reads it as a path)"],
        ["pt", "the stream's location is named pt"],
    ]
    # With _id as the id, a field named id would shadow it in the stream's lines.
    assert left_out([row("_id", "objectId"), row("id", "int"), row("k", "string")], None) == [
        ["id", "the stream's id is named id (here the id is '_id': --id-field id to use this one)"]
    ]
    schema = schema_from_types([row("_id", "objectId"), row("id", "int"), row("k", "string")], None)
    assert schema.properties == {"k": ColumnType.UTF8}


def test_attached_meta_is_the_metadata_document() -> None:
    schema = PointSchema(ColumnType.INT64, {"kind": ColumnType.UTF8}, None)
    found = {"documents": 102, "count": 100, "without_location": 2, "other_kind": 0, "without_id": 0}
    attached = {**PAIRS, "index": "pt_2d", "index_created": False}
    survey = Survey(found, (0.0, 0.0, 9.0, 9.0), schema, [["a.b", "why"]])
    assert attached_meta("coords", attached, GeometryKind.PLANAR, survey) == {
        "_id": "coords",
        "geometry": "planar",
        "count": 100,
        "bounds": [0.0, 0.0, 9.0, 9.0],
        "schema": {"id": "int64", "properties": [["kind", "utf8"]]},
        "loaded": True,
        "collection": None,
        "attached": {
            "db": "geo",
            "collection": "coords",
            "location_field": "pt",
            "location": "pair",
            "id_field": "id",
            "index": "pt_2d",
            "index_created": False,
            "found": found,
            "left_out": [["a.b", "why"]],
        },
    }
    assert PointSchema.from_json(attached_meta("c", attached, GeometryKind.PLANAR, survey)["schema"]).stats is None


def test_every_document_sent_is_bson() -> None:
    import bson

    schema = PointSchema(ColumnType.INT64, {"kind": ColumnType.UTF8}, None)
    found = {"documents": 1, "count": 1, "without_location": 0, "other_kind": 0, "without_id": 0}
    for attached in (PAIRS, POINTS):
        sent = {
            "filter": location_filter(attached),
            "projection": stream_projection(attached, schema),
            "count": count_pipeline(attached["location_field"], attached["id_field"]),
            "bounds": bounds_pipeline(attached),
            "index_range": index_range_pipeline(attached["location_field"]),
            "types": types_pipeline(attached),
            "meta": attached_meta(
                "c", attached, GeometryKind.SPHERICAL, Survey(found, (0.0, 0.0, 1.0, 1.0), schema, [])
            ),
        }
        assert bson.decode(bson.encode(sent)) == sent


# --- the command, the admin and imports, with the embedded store ---------------------------------


@pytest.fixture
def attached_row(db: None) -> Dataset:
    """An attached dataset's row, as attach_collection leaves it (the embedded store has no points for it)."""
    return Dataset.objects.create(
        name="coords",
        title="the write-up's points",
        attached="geo.coords",
        status=DatasetStatus.READY,
        count=100,
        min_x=0,
        min_y=0,
        max_x=9,
        max_y=9,
    )


@pytest.mark.django_db
def test_the_command_needs_the_mongodb_store() -> None:
    with pytest.raises(CommandError) as caught:
        call_command("attach_collection", "coords", "--collection", "geo.coords", "--location-field", "pt")
    assert str(caught.value) == ATTACH_NEEDS_MONGO
    assert not Dataset.objects.filter(name="coords").exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["Bad Name", "--collection", "g.c", "--location-field", "pt"], "invalid dataset name 'Bad Name'"),
        (["c", "--location-field", "pt"], "attaching needs --collection DATABASE.COLLECTION and --location-field"),
        (["c", "--collection", "g.c"], "attaching needs --collection DATABASE.COLLECTION and --location-field"),
        (["c", "--collection", "coords", "--location-field", "pt"], "--collection must be DATABASE.COLLECTION"),
        (["c", "--collection", "g.c", "--location-field", "a.pt"], "--location-field must name a top-level field"),
        (["c", "--collection", "g.c", "--location-field", "pt", "--id-field", "$id"], "--id-field must name"),
        (["c", "--refresh"], "no dataset named 'c'"),
        (["c", "--refresh", "--collection", "g.c"], "--refresh counts the collection the dataset is attached to"),
    ],
)
def test_the_command_says_what_is_wrong_before_asking_the_store(args: list[str], message: str) -> None:
    with pytest.raises(CommandError) as caught:
        call_command("attach_collection", *args)
    assert message in str(caught.value)


def test_the_command_refuses_a_name_taken(attached_row: Dataset) -> None:
    with pytest.raises(CommandError) as caught:
        call_command("attach_collection", "coords", "--collection", "geo.other", "--location-field", "pt")
    assert str(caught.value) == (
        "dataset 'coords' exists (attached to geo.coords); choose another name, or delete it first: "
        "manage.py delete_dataset coords (or --refresh it)"
    )
    # Refreshing asks the store, which cannot.
    with pytest.raises(CommandError, match="needs the MongoDB store"):
        call_command("attach_collection", "coords", "--refresh")
    imported = Dataset.objects.create(name="plain", status=DatasetStatus.READY)
    with pytest.raises(CommandError, match=r"^dataset 'plain' is not attached to a collection"):
        call_command("attach_collection", imported.name, "--refresh")


def test_imports_refuse_an_attached_dataset(attached_row: Dataset) -> None:
    for replace in (False, True):
        with pytest.raises(DatasetConflict) as caught:
            dataset_prepare(name="coords", replace=replace)
        assert str(caught.value).startswith(
            "dataset 'coords' is attached to the MongoDB collection geo.coords: its points are read from there "
            "and cannot be imported or replaced"
        )
    attached_row.refresh_from_db()
    assert attached_row.status == DatasetStatus.READY and attached_row.job == "" and attached_row.import_token == ""


def test_the_admin_shows_it_attached_with_its_preview(admin_client: Client, attached_row: Dataset) -> None:
    listing = admin_client.get(reverse("admin:points_dataset_changelist")).content.decode()
    assert "attached: geo.coords" in listing
    page = admin_client.get(reverse("admin:points_dataset_change", args=[attached_row.pk])).content.decode()
    assert "attached: geo.coords" in page
    assert 'id="dataset-preview"' in page and 'data-dataset="coords"' in page
    # Served from the collection, not imported: no import report.
    assert "points served from the MongoDB collection" in page and "<code>geo.coords</code>" in page
    assert "points imported" not in page and "Import report" not in page


def test_the_api_says_where_an_attached_dataset_is_read_from(client: Client, attached_row: Dataset) -> None:
    [item] = [d for d in client.get("/api/datasets").json() if d["name"] == "coords"]
    assert item["attached"] == "geo.coords"
    assert client.get("/api/datasets/coords").json()["attached"] == "geo.coords"


def test_the_admin_refuses_to_upload_or_generate_over_it(admin_client: Client, attached_row: Dataset) -> None:
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = {
        "name": "coords",
        "geometry": "planar",
        "replace": "on",
        "file": SimpleUploadedFile("p.csv", b"x,y\n1,2\n"),
    }
    response = admin_client.post(reverse("admin:points_dataset_add"), upload)
    assert response.status_code == 200
    assert "is attached to the MongoDB collection geo.coords" in response.content.decode()
    generate = {"name": "coords", "kind": "grid", "width": 3, "height": 3, "points": 10, "clusters": 1}
    response = admin_client.post(
        reverse("admin:points_dataset_generate"), {**generate, "bounds": "0,0,1,1", "replace": "on"}
    )
    assert response.status_code == 200
    assert "is attached to the MongoDB collection geo.coords" in response.content.decode()
    attached_row.refresh_from_db()
    assert attached_row.attached == "geo.coords" and attached_row.count == 100 and attached_row.job == ""


def test_the_admin_refresh_action_says_why_it_cannot(admin_client: Client, attached_row: Dataset) -> None:
    imported = Dataset.objects.create(name="plain", status=DatasetStatus.READY)
    response = admin_client.post(
        reverse("admin:points_dataset_changelist"),
        {"action": "refresh_attached", "index": 0, "_selected_action": [attached_row.pk, imported.pk]},
        follow=True,
    )
    text = response.content.decode()
    assert f"Dataset coords: {ATTACH_NEEDS_MONGO}" in text
    assert "Dataset plain: not attached to a collection (its points were imported)" in text
    attached_row.refresh_from_db()
    assert attached_row.count == 100


# --- against a MongoDB server (MONGODB_URI) ------------------------------------------------------

needs_mongo = pytest.mark.skipif(
    not os.environ.get("MONGODB_URI"), reason="MONGODB_URI is not set: no MongoDB server to test against"
)


@pytest.fixture
def mongo(settings: Any, db: None) -> Iterator[tuple[Any, Any]]:
    """Make the MongoDB store the site's, in a database of its own, and yield it with another
    database for the user's collections (as the write-up's `db.coords`); drop both afterwards."""
    from points import stores
    from tests.conftest import _mongo_url

    url = _mongo_url()
    settings.POINTS_STORE_URL = url
    store: Any = stores.get_store()
    user_db = store.client[f"pointsite_user_{uuid.uuid4().hex[:8]}"]
    try:
        yield store, user_db
    finally:
        store.client.drop_database(user_db.name)
        store.client.drop_database(store.db.name)
        stores._stores.pop(url).close()


def coords(n: int = 100, start: int = 0, width: int = 10) -> list[dict[str, Any]]:
    """The write-up's documents, `{"pt": [x, y], "id": n}`, on a grid `width` wide, with a property;
    the ids are doubles, as mongosh (which writes every number as a double) stores them."""
    return [
        {"pt": [float(i % width), float(i // width)], "id": float(i), "kind": "ab"[i % 2]}
        for i in range(start, start + n)
    ]


def run(command: str, *args: str) -> str:
    """Run a manage.py command; return what it wrote."""
    out = StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


def stream(client: Client, name: str, fmt: str = "ndjson", polygon: Any = None) -> Any:
    """Return what a client reads of the dataset's points (all, or those inside `polygon`)."""
    response: Any  # a streaming response (the test client's type says HttpResponse)
    if polygon is None:
        response = client.get(f"/api/datasets/{name}/points?format={fmt}")
    else:
        response = client.post(
            f"/api/datasets/{name}/points/within?format={fmt}",
            data=json.dumps(polygon),
            content_type="application/json",
        )
    assert response.status_code == 200, response.content
    return read_body(b"".join(response.streaming_content), fmt, "identity")


def snapshot(coll: Any) -> tuple[list[Any], list[str]]:
    """The collection's documents and its indexes' names: what would show a write to it."""
    return list(coll.find({}, sort=[("_id", 1)])), sorted(i["name"] for i in coll.list_indexes())


@pytest.mark.mongo
@needs_mongo
def test_the_write_ups_collection_is_served_as_it_is(mongo: tuple[Any, Any], client: Client) -> None:
    store, user = mongo
    points = user["coords"]
    points.insert_many([*coords(), {"id": 1000, "note": "no location"}, {"pt": [5.0, 5.0], "note": "no id"}])
    points.create_index([("pt", "2d")], min=-100, max=100)
    before = snapshot(points)

    out = run(
        "attach_collection",
        "coords",
        "--collection",
        f"{user.name}.coords",
        "--location-field",
        "pt",
        "--id-field",
        "id",
    )
    assert f"attached coords to {user.name}.coords: 100 points ([x, y] pairs in 'pt', ids from 'id', planar)" in out
    assert "bounds: 0, 0, 9, 9\n" in out and "spatial index: pt_2d (found)\n" in out
    assert "properties: kind (utf8)\n" in out  # what the served documents hold
    assert "not served: 1 of the 102 documents, without a usable location in 'pt'\n" in out
    assert "not served: 1 document with a location but no 'id'\n" in out
    dataset = Dataset.objects.get(name="coords")
    assert dataset.attached == f"{user.name}.coords" and dataset.status == DatasetStatus.READY
    assert dataset.count == 100 and dataset.bounds == [0, 0, 9, 9] and dataset.title == f"{user.name}.coords"
    assert store.count("coords") == 100 and store.bounds("coords") == (0.0, 0.0, 9.0, 9.0)
    assert store.schema("coords").id == ColumnType.INT64  # the ids are whole doubles

    expected = sorted((int(d["id"]), *d["pt"]) for d in coords())
    for fmt in ("ndjson", "arrow"):
        got = stream(client, "coords", fmt)
        assert got.ended == "end" and sorted((i, x, y) for i, x, y, _ in got.points) == expected
        assert all(type(i) is int for i, _, _, _ in got.points)  # 1, not 1.0 (NDJSON), an int64 column (Arrow)
        assert {p[3]["kind"] for p in got.points} == {"a", "b"}
    square = {"type": "Polygon", "coordinates": [[[2, 2], [4, 2], [4, 4], [2, 4], [2, 2]]]}
    got = stream(client, "coords", polygon=square)
    assert got.ended == "end"
    assert sorted(p[0] for p in got.points) == sorted(x + 10 * y for y in (2, 3, 4) for x in (2, 3, 4))
    assert snapshot(points) == before  # nothing was written to the user's collection

    assert run("delete_dataset", "coords") == "deleted coords\n"
    assert not store.exists("coords") and not Dataset.objects.filter(name="coords").exists()
    assert snapshot(points) == before  # the collection stays, as it was: only its registration went
    assert user.name in store.client.list_database_names()


@pytest.mark.mongo
@needs_mongo
def test_a_missing_index_is_built_only_when_asked(mongo: tuple[Any, Any]) -> None:
    store, user = mongo
    points = user["coords"]
    points.insert_many(coords(100, width=50))  # x up to 49, y up to 1
    before = snapshot(points)
    _, planar = index_spec(GeometryKind.PLANAR, (0.0, 0.0, 49.0, 1.0))
    lo, hi = planar["min"], planar["max"]
    args = ["coords", "--collection", f"{user.name}.coords", "--location-field", "pt", "--id-field", "id"]
    with pytest.raises(CommandError) as caught:
        run("attach_collection", *args)
    assert str(caught.value) == (
        f"{user.name}.coords has no 2d index on 'pt', which a planar dataset is queried by. Create it with\n"
        f'  db.getSiblingDB("{user.name}").getCollection("coords").createIndex({{"pt": "2d"}}, '
        f"{json.dumps({'min': lo, 'max': hi})})\n"
        "or attach with --create-index to have it built now."
    )
    assert (
        snapshot(points) == before and not store.exists("coords") and not Dataset.objects.filter(name="coords").exists()
    )

    out = run("attach_collection", *args, "--create-index")
    assert "spatial index: pt_2d (built now)" in out
    built = {i["name"]: i for i in points.list_indexes()}["pt_2d"]
    assert dict(built["key"]) == {"pt": "2d"} and built["min"] == lo and built["max"] == hi
    assert snapshot(points)[0] == before[0]  # the documents are untouched


@pytest.mark.mongo
@needs_mongo
def test_the_2d_index_range_holds_every_document_it_keys(mongo: tuple[Any, Any]) -> None:
    from bson import Decimal128

    store, user = mongo
    points = user["coords"]
    # Served: x 0..49, y 0..1. Keyed by a 2d index too, though not served: no id, [x, y, z], an
    # {x, y} object, a decimal; a string location is keyed by nothing.
    points.insert_many(coords(100, width=50))
    points.insert_many(
        [
            {"pt": [500.0, 3.0]},
            {"pt": [-20, 1, 5], "id": 200},
            {"pt": {"x": 60, "y": -7}, "id": 201},
            {"pt": [Decimal128("70.5"), 0], "id": 202},
            {"pt": "here", "id": 203},
        ]
    )
    keyed = (-20.0, -7.0, 500.0, 3.0)
    args = ["coords", "--collection", f"{user.name}.coords", "--location-field", "pt", "--id-field", "id"]
    with pytest.raises(CommandError) as caught:
        run("attach_collection", *args)
    assert f"Create it with\n  {create_index_command(user.name, 'coords', 'pt', GeometryKind.PLANAR, keyed)}\n" in str(
        caught.value
    )

    out = run("attach_collection", *args, "--create-index")  # the served documents' range would be refused
    assert "spatial index: pt_2d (built now)" in out and "bounds: 0, 0, 49, 1\n" in out
    _, planar = index_spec(GeometryKind.PLANAR, keyed)
    built = {i["name"]: i for i in points.list_indexes()}["pt_2d"]
    assert built["min"] == planar["min"] and built["max"] == planar["max"]
    assert store.count("coords") == 100


@pytest.mark.mongo
@needs_mongo
@pytest.mark.parametrize(
    ("document", "code"),
    [
        ({"pt": [[1000.0, 1000.0], [1.0, 2.0]], "id": 500}, "13027"),  # locations in an array: not in the range
        ({"pt": [1.0, "a"], "id": 501}, "13026"),  # a number, then no number
    ],
)
def test_a_document_no_2d_index_can_hold_is_said(mongo: tuple[Any, Any], document: dict[str, Any], code: str) -> None:
    store, user = mongo
    points = user["coords"]
    points.insert_many([*coords(100, width=50), document])
    args = ["coords", "--collection", f"{user.name}.coords", "--location-field", "pt", "--id-field", "id"]
    with pytest.raises(CommandError) as caught:
        run("attach_collection", *args, "--create-index")
    error = str(caught.value).split("\n", 1)[0]
    assert error.startswith("MongoDB failed to build the spatial index: ") and code in error
    attached = {"db": user.name, "collection": "coords", "location_field": "pt"}
    assert str(caught.value) == unindexable_message(attached, GeometryKind.PLANAR, (0.0, 0.0, 49.0, 1.0), error)
    assert not store.exists("coords") and [i["name"] for i in points.list_indexes()] == ["_id_"]


@pytest.mark.mongo
@needs_mongo
def test_geojson_points_are_attached_as_spherical(mongo: tuple[Any, Any], client: Client) -> None:
    store, user = mongo
    places = user["places"]
    cities = {"paris": (2.35, 48.86), "lyon": (4.84, 45.76), "berlin": (13.4, 52.52), "madrid": (-3.7, 40.42)}
    places.insert_many(
        [{"loc": {"type": "Point", "coordinates": [x, y]}, "name": n, "a.b": 1} for n, (x, y) in cities.items()]
    )
    places.create_index([("loc", "2dsphere")])
    args = ["places", "--collection", f"{user.name}.places", "--location-field", "loc"]
    with pytest.raises(CommandError, match=r"are GeoJSON Points \(4 documents\): attach it with --spherical"):
        run("attach_collection", *args)
    out = run("attach_collection", *args, "--spherical")
    assert "4 points (GeoJSON Points in 'loc', ids from '_id', spherical)" in out
    assert "spatial index: loc_2dsphere (found)" in out and "properties: name (utf8)\n" in out
    assert "left out: property 'a.b': a name with '.' cannot be projected (MongoDB reads it as a path)" in out
    assert store.schema("places").id == ColumnType.UTF8
    got = stream(client, "places")
    assert got.ended == "end"
    ids = {str(d["_id"]): d["name"] for d in places.find()}
    assert {(ids[i], x, y) for i, x, y, _ in got.points} == {(n, x, y) for n, (x, y) in cities.items()}
    assert all(props == {"name": ids[i]} for i, _, _, props in got.points)
    france = {"type": "Polygon", "coordinates": [[[-5, 42], [8, 42], [8, 51], [-5, 51], [-5, 42]]]}
    assert sorted(ids[p[0]] for p in stream(client, "places", polygon=france).points) == ["lyon", "paris"]


@pytest.mark.mongo
@needs_mongo
def test_refresh_counts_documents_added_since(mongo: tuple[Any, Any], admin_client: Client) -> None:
    store, user = mongo
    points = user["coords"]
    points.insert_many(coords(50))
    points.create_index([("pt", "2d")], min=-100, max=100)
    run(
        "attach_collection",
        "coords",
        "--collection",
        f"{user.name}.coords",
        "--location-field",
        "pt",
        "--id-field",
        "id",
    )
    points.insert_many([{**d, "size": int(d["id"])} for d in coords(50, start=50)])

    out = run("attach_collection", "coords", "--refresh")
    assert f"refreshed coords attached to {user.name}.coords: 100 points" in out and "bounds: 0, 0, 9, 9" in out
    assert "properties: kind (utf8), size (int64)" in out
    dataset = Dataset.objects.get(name="coords")
    assert dataset.count == 100 and dataset.bounds == [0, 0, 9, 9] and store.count("coords") == 100
    assert len(stream(admin_client, "coords").points) == 100

    points.insert_one({"pt": [-50.0, 70.0], "id": 500, "kind": "c"})
    response = admin_client.post(
        reverse("admin:points_dataset_changelist"),
        {"action": "refresh_attached", "index": 0, "_selected_action": [dataset.pk]},
        follow=True,
    )
    assert "Dataset coords refreshed: 101 points, bounds -50, 0, 9, 70" in response.content.decode()
    dataset.refresh_from_db()
    assert dataset.count == 101 and dataset.bounds == [-50, 0, 9, 70]


@pytest.mark.mongo
@needs_mongo
def test_what_cannot_be_attached_is_refused(mongo: tuple[Any, Any]) -> None:
    store, user = mongo
    user["coords"].insert_many(coords(10))
    user["bare"].insert_many([{"pt": "here", "id": 1}, {"pt": [1, 2, 3], "id": 2}, {"id": 3}])
    user["noids"].insert_many([{"pt": [1, 2]}, {"pt": [3, 4], "id": None}])

    def refused(*args: str) -> str:
        with pytest.raises(CommandError) as caught:
            run("attach_collection", *args)
        return str(caught.value)

    assert refused("a", "--collection", f"{user.name}.nothere", "--location-field", "pt") == (
        f"MongoDB has no collection 'nothere' in database {user.name!r}"
    )
    assert "none of the 3 documents of" in refused("a", "--collection", f"{user.name}.bare", "--location-field", "pt")
    assert refused("a", "--collection", f"{user.name}.noids", "--location-field", "pt", "--id-field", "id").endswith(
        "with a location has an id in 'id': name the id's field with --id-field (without it, _id is the id)"
    )
    own = refused("a", "--collection", f"{store.db.name}.pointsite_datasets", "--location-field", "pt")
    assert (
        own
        == f"{store.db.name}.pointsite_datasets is one of the point store's own collections; attach a collection of yours"
    )
    args = ["c", "--collection", f"{user.name}.coords", "--location-field", "pt", "--create-index"]
    run("attach_collection", *args)
    Dataset.objects.filter(name="c").delete()  # the store still has it: the store's refusal is the one said
    assert refused(*args) == "the point store already has a dataset 'c'"
    assert [d["_id"] for d in store.meta.find()] == ["c"]
