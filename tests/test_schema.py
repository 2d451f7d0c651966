"""The point schema rule: which column type a property gets, learnt over every batch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from points import schema as schema_module
from points.batches import PointBatch
from points.schema import ColumnType, PointSchema


def learn(*rows: list[dict[str, Any]], ids: list[Any] | None = None) -> PointSchema:
    schema = PointSchema()
    for batch_rows in rows:
        n = len(batch_rows)
        batch_ids = ids if ids is not None else list(range(n))
        schema.observe(PointBatch(batch_ids, np.zeros(n), np.zeros(n), batch_rows))
    return schema.final()


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([True, False, None], ColumnType.BOOL),
        ([1, 2, -(2**63)], ColumnType.INT64),
        ([1, 2.5], ColumnType.FLOAT64),
        ([2**60, 2.5], ColumnType.JSON),  # 2^60 would not be exact as a double
        (["a", None, "b"], ColumnType.UTF8),
        (["a", 1], ColumnType.JSON),
        ([True, 1], ColumnType.JSON),  # a bool is no integer here
        ([[1, 2]], ColumnType.JSON),
        ([{"a": 1}], ColumnType.JSON),
        ([None, None], ColumnType.UTF8),
    ],
)
def test_property_types(values: list[Any], expected: ColumnType) -> None:
    assert learn([{"p": v} for v in values]).properties == {"p": expected}


def test_types_widen_across_batches_and_keep_first_seen_order() -> None:
    schema = learn([{"b": 1}, {"a": "x"}], [{"b": 2.5, "c": True}])
    assert schema.properties == {"b": ColumnType.FLOAT64, "a": ColumnType.UTF8, "c": ColumnType.BOOL}


def test_ids() -> None:
    assert learn([{}], ids=[7]).id == ColumnType.INT64
    assert learn([{}, {}], ids=[7, "x"]).id == ColumnType.UTF8
    plain = PointSchema()
    plain.observe(PointBatch(np.arange(3), np.zeros(3), np.zeros(3)))
    assert plain.final() == PointSchema()


def test_the_schema_survives_its_json() -> None:
    schema = learn([{"b": 1, "a": [1]}], ids=["x"])
    assert PointSchema.from_json(schema.to_json()) == schema


def test_property_statistics() -> None:
    rows: list[dict[str, Any]] = [
        {"n": 3, "s": "a", "b": True},
        {"n": -1.5, "s": "b", "b": False},
        {"n": None, "s": "a"},
        {"s": "a"},
    ]
    schema = learn(rows[:2], rows[2:])
    assert schema.describe() == [
        {"name": "n", "type": "float64", "values": 2, "min": -1.5, "max": 3},
        {
            "name": "s",
            "type": "utf8",
            "values": 4,
            "top": [{"value": "a", "count": 3}, {"value": "b", "count": 1}],
            "distinct": 2,
        },
        {
            "name": "b",
            "type": "bool",
            "values": 2,
            "top": [{"value": True, "count": 1}, {"value": False, "count": 1}],
            "distinct": 2,
        },
    ]
    assert PointSchema.from_json(schema.to_json()) == schema


def test_statistics_of_a_property_never_seen_with_a_value_and_of_mixed_values() -> None:
    schema = learn([{"none": None, "mixed": "a"}, {"mixed": 1}])
    assert schema.describe() == [
        {"name": "none", "type": "utf8", "values": 0, "top": [], "distinct": 0},
        {"name": "mixed", "type": "json", "values": 2},
    ]


def test_distinct_values_are_tallied_up_to_a_bound() -> None:
    many = [{"s": f"v{i}"} for i in range(schema_module.MAX_DISTINCT + 5)] + [{"s": "v0"}]
    (entry,) = learn(many).describe()
    assert entry["distinct"] is None  # too many to count
    assert entry["values"] == schema_module.MAX_DISTINCT + 6
    assert entry["top"][0] == {"value": "v0", "count": 2}
    assert len(entry["top"]) == schema_module.TOP_VALUES


def test_a_schema_stored_before_statistics_were_kept_describes_types_only() -> None:
    old = PointSchema.from_json({"id": "int64", "properties": [["a", "utf8"]]})
    assert old.describe() == [{"name": "a", "type": "utf8"}]


def test_long_strings_are_not_tallied() -> None:
    (entry,) = learn([{"s": "x" * (schema_module.MAX_TALLIED_LENGTH + 1)}, {"s": "a"}]).describe()
    assert entry["values"] == 2 and entry["top"] == [{"value": "a", "count": 1}] and entry["distinct"] is None


def test_text_and_json_columns_of_values_that_are_no_strings() -> None:
    class Tagged(str):
        """A str subclass (as bson.Code is one): its text, not its JSON."""

    point_schema = PointSchema(ColumnType.UTF8, {"s": ColumnType.UTF8, "j": ColumnType.JSON})
    arrow_schema = point_schema.arrow(dataset="d", geometry="planar")
    records: list[dict[str, Any]] = [
        {"id": 7, "pt": [0.0, 0.0], "s": 5, "j": [1, "a"]},
        {"id": "b", "pt": [1.0, 1.0], "s": [1, {"k": None}], "j": None},
        {"id": Tagged("c"), "pt": [2.0, 2.0], "s": Tagged("t"), "j": {"n": 2.5}},
        {"id": 2**63 - 1, "pt": [3.0, 3.0], "s": True},
    ]
    got = schema_module.records_batch(arrow_schema, point_schema, records).to_pydict()
    assert got["id"] == ["7", "b", "c", "9223372036854775807"]
    assert got["s"] == ["5", '[1,{"k":null}]', "t", "true"]
    assert got["j"] == ['[1,"a"]', None, '{"n":2.5}', None]
    with pytest.raises(TypeError, match="complex"):
        schema_module.records_batch(arrow_schema, point_schema, [{"id": 1, "pt": [0, 0], "j": [complex(1, 2)]}])
