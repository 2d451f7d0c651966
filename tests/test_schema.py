"""The point schema rule: which column type a property gets, learnt over every batch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

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
