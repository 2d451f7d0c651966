"""The exact documents the MongoDB store sends (no server needed)."""

from __future__ import annotations

import numpy as np

from points.geometry import parse_area
from points.stores.base import PointBatch
from points.stores.mongo import _documents, collection_name, index_spec, within_filter

SHELL = [[0, 0], [10, 0], [10, 10], [0, 10], [0, 0]]
HOLE = [[2, 2], [4, 2], [4, 4], [2, 2]]


def test_planar_polygon_uses_polygon_without_the_closing_vertex() -> None:
    area = parse_area({"type": "Polygon", "coordinates": [SHELL]}, kind="planar")
    assert within_filter(area) == {
        "pt": {"$geoWithin": {"$polygon": [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]]}}
    }


def test_planar_hole_is_subtracted_with_nor() -> None:
    area = parse_area({"type": "Polygon", "coordinates": [SHELL, HOLE]}, kind="planar")
    assert within_filter(area) == {
        "$and": [
            {"pt": {"$geoWithin": {"$polygon": [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0]]}}},
            {"$nor": [{"pt": {"$geoWithin": {"$polygon": [[2.0, 2.0], [4.0, 2.0], [4.0, 4.0]]}}}]},
        ]
    }


def test_spherical_multipolygon_is_an_or_of_geometry_queries() -> None:
    other = [[20, 20], [30, 20], [30, 30], [20, 20]]
    area = parse_area({"type": "MultiPolygon", "coordinates": [[SHELL], [other]]}, kind="spherical")
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
    assert within_filter(area) == {"pt": {"$geoWithin": {"$polygon": [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]}}}


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
