"""A dataset's point schema (the id's type and each property's), learnt at import, and the
Arrow schema and record batches that follow from it.

The rule for a property's type, over all of the dataset's points (missing or null values are
nulls and do not count): only booleans → `bool`; only integers → `int64`; integers and floats
whose integers are all within ±2^53 → `float64`; only strings → `utf8`; anything else (lists,
objects, or a mix such as strings and numbers) → `json`, a utf8 column holding each value's
JSON text (its Arrow field carries the metadata `pointsite:json = true`). Properties never seen
with a value are `utf8` columns of nulls. A property whose name is taken (`x`, `y`, `id`, or
`x_` after a property `x` became it) gets underscores appended until it is free, and the field
keeps its own name in the metadata `pointsite:property`. The id is `int64` when every id is an integer, else
`utf8` (an integer id then appears as its decimal text). NDJSON streams keep every value as it
was imported, whatever its column type.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from points.batches import FloatArray, IntArray, PointBatch

_EXACT_INT = 2**53


class ColumnType(enum.StrEnum):
    """The type of an id or property column."""

    BOOL = "bool"
    INT64 = "int64"
    FLOAT64 = "float64"
    UTF8 = "utf8"
    JSON = "json"
    NULL = "null"  # only while learning: no value seen yet


_ARROW_TYPES = {
    ColumnType.BOOL: pa.bool_(),
    ColumnType.INT64: pa.int64(),
    ColumnType.FLOAT64: pa.float64(),
    ColumnType.UTF8: pa.string(),
    ColumnType.JSON: pa.string(),
    ColumnType.NULL: pa.string(),
}


def _value_type(value: Any) -> ColumnType:
    kind = type(value)
    if kind is bool:
        return ColumnType.BOOL
    if kind is int:
        return ColumnType.INT64
    if kind is float:
        return ColumnType.FLOAT64
    if kind is str:
        return ColumnType.UTF8
    return ColumnType.JSON


def _merge(a: ColumnType, b: ColumnType) -> ColumnType:
    if a == b or b == ColumnType.NULL:
        return a
    if a == ColumnType.NULL:
        return b
    if {a, b} == {ColumnType.INT64, ColumnType.FLOAT64}:
        return ColumnType.FLOAT64
    return ColumnType.JSON


@dataclass(slots=True)
class PointSchema:
    """The column types of a dataset's points: `id`, then its properties in first-seen order."""

    id: ColumnType = ColumnType.INT64
    properties: dict[str, ColumnType] = field(default_factory=dict)
    #: a float64 property also holds an integer beyond ±2^53 (it would not convert exactly)
    _big_ints: set[str] = field(default_factory=set)

    def observe(self, batch: PointBatch) -> None:
        """Widen the types to admit the batch's ids and properties."""
        ids = batch.ids
        integer_array = isinstance(ids, np.ndarray) and ids.dtype.kind in "iu"
        if self.id == ColumnType.INT64 and not integer_array and not all(type(i) is int for i in ids):
            self.id = ColumnType.UTF8
        if batch.properties is None:
            return
        types = self.properties
        for row in batch.properties:
            for key, value in row.items():
                if value is None:
                    types.setdefault(key, ColumnType.NULL)
                    continue
                seen = _value_type(value)
                if seen == ColumnType.INT64 and not -_EXACT_INT <= value <= _EXACT_INT:
                    self._big_ints.add(key)
                old = types.get(key)
                types[key] = seen if old is None else _merge(old, seen)
        for key in self._big_ints:
            if types.get(key) == ColumnType.FLOAT64:
                types[key] = ColumnType.JSON

    def final(self) -> PointSchema:
        """Return the schema as stored: properties never seen with a value become utf8."""
        props: dict[str, ColumnType] = {
            k: (ColumnType.UTF8 if t == ColumnType.NULL else t) for k, t in self.properties.items()
        }
        return PointSchema(self.id, props)

    def to_json(self) -> dict[str, Any]:
        """Return the schema as JSON-ready data (kept by the stores)."""
        return {"id": str(self.id), "properties": [[k, str(t)] for k, t in self.properties.items()]}

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> PointSchema:
        """Return the schema stored by to_json (None: integer ids, no properties)."""
        if not data:
            return cls()
        return cls(ColumnType(data["id"]), {str(k): ColumnType(t) for k, t in data["properties"]})

    def arrow(self, *, dataset: str, geometry: str) -> pa.Schema:
        """Return the Arrow schema of the dataset's streams."""
        fields = [
            pa.field("id", _ARROW_TYPES[self.id], nullable=False),
            pa.field("x", pa.float64(), nullable=False),
            pa.field("y", pa.float64(), nullable=False),
        ]
        taken = {"id", "x", "y"}
        for name, kind in self.properties.items():
            metadata = {"pointsite:json": "true"} if kind == ColumnType.JSON else {}
            column = name
            while column in taken:  # a property named x, y or id must not shadow the point's own
                column += "_"
            if column != name:
                metadata["pointsite:property"] = name
            taken.add(column)
            fields.append(pa.field(column, _ARROW_TYPES[kind], metadata=metadata or None))
        return pa.schema(fields, metadata={"dataset": dataset, "geometry": geometry})


def _column(values: list[Any], kind: ColumnType) -> pa.Array:
    if kind == ColumnType.JSON:
        values = [None if v is None else orjson.dumps(v).decode() for v in values]
    elif kind in (ColumnType.UTF8, ColumnType.NULL):
        values = [None if v is None else v if type(v) is str else orjson.dumps(v).decode() for v in values]
    elif kind == ColumnType.FLOAT64:
        values = [None if v is None else float(v) for v in values]
    return pa.array(values, type=_ARROW_TYPES[kind])


def record_batch(
    schema: pa.Schema,
    point_schema: PointSchema,
    ids: IntArray | Sequence[int | str],
    xs: FloatArray,
    ys: FloatArray,
    properties: Sequence[dict[str, Any]] | None,
) -> pa.RecordBatch:
    """Return the points as one record batch of `schema` (x and y are used without a copy)."""
    if point_schema.id == ColumnType.INT64:
        id_column = pa.array(np.asarray(ids, dtype=np.int64))
    else:
        id_column = pa.array([i if type(i) is str else str(i) for i in ids], type=pa.string())
    columns = [id_column, pa.array(xs), pa.array(ys)]
    for name, kind in point_schema.properties.items():
        rows = properties or ()
        columns.append(_column([row.get(name) for row in rows] if rows else [None] * len(xs), kind))
    return pa.RecordBatch.from_arrays(columns, schema=schema)


def records_batch(schema: pa.Schema, point_schema: PointSchema, records: Sequence[dict[str, Any]]) -> pa.RecordBatch:
    """Return point records ({"id", "pt": [x, y], …properties}) as one record batch of `schema`."""
    ids = [r["id"] for r in records]
    xs = np.fromiter((r["pt"][0] for r in records), np.float64, len(records))
    ys = np.fromiter((r["pt"][1] for r in records), np.float64, len(records))
    props = (
        [{k: v for k, v in r.items() if k not in ("id", "pt")} for r in records] if point_schema.properties else None
    )
    return record_batch(schema, point_schema, ids, xs, ys, props)
