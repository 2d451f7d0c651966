"""The exact documents the MongoDB store sends, and the filter it applies to what comes back (no server needed)."""

from __future__ import annotations

import numpy as np
import shapely

from points.geometry import parse_area
from points.stores.base import PointBatch
from points.stores.mongo import collection_name, index_spec, keep_inside, within_filter
from points.stores.mongo.store import _documents

SHELL = [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]
HOLE = [[2, 2], [4, 2], [4, 4], [2, 2]]


def polygon_of(query: dict) -> list[list[float]]:
    return query["pt"]["$geoWithin"]["$polygon"]


def test_planar_polygon_asks_for_a_hair_more_than_the_ring() -> None:
    area = parse_area({"type": "Polygon", "coordinates": [SHELL]}, kind="planar")
    query = within_filter(area)
    assert set(query) == {"pt"} and set(query["pt"]["$geoWithin"]) == {"$polygon"}
    ring = polygon_of(query)
    assert ring[0] != ring[-1]  # $polygon takes the vertices without the closing repeat
    asked = shapely.Polygon(ring)
    original = shapely.Polygon(SHELL)
    # Every point of the ring, its boundary included, is strictly within what is asked...
    assert asked.contains(original.exterior)
    # ...and what is asked is the ring to within a billionth of its size.
    assert shapely.hausdorff_distance(asked, original) < 1e-7
    assert all(type(v) is float for position in ring for v in position)


def test_holes_are_not_sent_they_are_applied_to_the_documents() -> None:
    area = parse_area({"type": "Polygon", "coordinates": [SHELL, HOLE]}, kind="planar")
    query = within_filter(area)
    assert set(query) == {"pt"}  # the hole is not in the query
    docs = [{"id": i, "pt": pt} for i, pt in enumerate([[1, 1], [3, 2.5], [2, 2], [10, 5], [10.0000001, 5], [0, 0]])]
    # Inside, in the hole, on the hole's ring, on the outer ring, just outside, on a corner.
    assert [d["id"] for d in keep_inside(docs, area)] == [0, 3, 5]


def test_points_on_slanted_edges_are_kept() -> None:
    # MongoDB's 2d test may drop a point on a slanted edge; ours keeps it (boundaries are closed).
    triangle = [[30, 30], [40, 30], [35, 40], [30, 30]]
    area = parse_area({"type": "Polygon", "coordinates": [triangle]}, kind="planar")
    docs = [{"id": 0, "pt": [31.0, 32.0]}, {"id": 1, "pt": [32.0, 34.0]}, {"id": 2, "pt": [29.0, 32.0]}]
    assert [d["id"] for d in keep_inside(docs, area)] == [0, 1]
    assert shapely.Polygon(polygon_of(within_filter(area))).contains(shapely.Point(31, 32))


def test_spherical_multipolygon_is_an_or_of_geometry_queries() -> None:
    other = [[20, 20], [30, 20], [30, 30], [20, 20]]
    area = parse_area({"type": "MultiPolygon", "coordinates": [[SHELL, HOLE], [other]]}, kind="spherical")
    assert within_filter(area) == {
        "$or": [
            {
                "pt": {
                    "$geoWithin": {
                        "$geometry": {
                            "type": "Polygon",
                            "coordinates": [[[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0], [0.0, 0.0]]],
                        }
                    }
                }
            },
            {
                "pt": {
                    "$geoWithin": {
                        "$geometry": {
                            "type": "Polygon",
                            "coordinates": [[[20.0, 20.0], [30.0, 20.0], [30.0, 30.0], [20.0, 20.0]]],
                        }
                    }
                }
            },
        ]
    }


def test_only_numbers_reach_the_query() -> None:
    area = parse_area(
        b'{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]],"$where":"x","crs":{"$gt":1}}', kind="planar"
    )
    query = within_filter(area)
    assert set(query) == {"pt"} and set(query["pt"]) == {"$geoWithin"}
    assert all(type(v) is float for position in polygon_of(query) for v in position)


def test_index_specs() -> None:
    assert index_spec("spherical", (-10, -10, 10, 10)) == ([("pt", "2dsphere")], {"name": "pt_2dsphere"})
    keys, options = index_spec("planar", (0.0, -5.0, 1000.0, 20.0))
    assert keys == [("pt", "2d")]
    assert options["min"] < -5.0 and options["max"] > 1000.0
    assert options["max"] - options["min"] < 1010


def test_documents_are_the_stream_lines() -> None:
    batch = PointBatch(np.array([1, 2]), np.array([0.5, 1.5]), np.array([2.5, 3.5]), [{"a": 1}, {}])
    assert _documents(batch) == [{"id": 1, "pt": [0.5, 2.5], "a": 1}, {"id": 2, "pt": [1.5, 3.5]}]
    assert collection_name("grid") == "points.grid"


def test_arrow_batches_from_documents_as_the_server_sends_them() -> None:
    import bson

    from points import arrow
    from points.schema import PointSchema, records_batch

    batch = PointBatch(
        ["a", "b", "c"],
        np.array([0.5, 1.5, -2.0]),
        np.array([2.5, 3.5, 4.0]),
        [{"n": 2**40, "t": "x", "j": [1, "y"]}, {"n": -1, "j": {"k": None}}, {"n": 7, "t": None}],
    )
    schema = PointSchema()
    schema.observe(batch)
    point_schema = schema.final()
    arrow_schema = point_schema.arrow(dataset="d", geometry="planar")
    # What find_raw_batches returns: BSON documents back to back, without _id (projected out).
    raw = b"".join(bson.encode(doc) for doc in _documents(batch))
    docs = bson.decode_all(raw)
    assert type(docs[0]["n"]) is bson.int64.Int64  # big integers come back as Int64
    message = arrow.batch_message(records_batch(arrow_schema, point_schema, docs))
    [got] = arrow.read_batches(message, arrow_schema)
    assert got.to_pydict() == {
        "id": ["a", "b", "c"],
        "x": [0.5, 1.5, -2.0],
        "y": [2.5, 3.5, 4.0],
        "n": [2**40, -1, 7],
        "t": ["x", None, None],
        "j": ['[1,"y"]', '{"k":null}', None],
    }
