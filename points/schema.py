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
was imported, whatever its column type. Values read from MongoDB collections (bson.Int64, ObjectIds,
DBRefs, datetimes…) are written as the NDJSON streams send them (points.stores.mongo.values).

Each property also gets its statistics, learnt in the same pass (`PropertyStats`): how many
points have a value; for numbers the least and the greatest; for strings and booleans the
most common values with their counts, and how many distinct values there are. Distinct values
are counted up to `MAX_DISTINCT`: once a batch takes them past it, the most common
`MAX_DISTINCT` are kept and values not among them are no longer tallied, so the top values
are approximate (exact for the few-valued properties a page colours by) and `distinct` is
unknown (None); so it is when some strings were too long to be tallied (over
`MAX_TALLIED_LENGTH` characters).
"""

from __future__ import annotations

import contextlib
import enum
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from points.batches import FloatArray, IntArray, PointBatch

_EXACT_INT = 2**53
#: distinct values of a property tallied at most (its top values and distinct count)
MAX_DISTINCT = 10_000
#: most common values kept per property
TOP_VALUES = 20
#: longer strings are not tallied (they are no categories, and would swell the stored schema)
MAX_TALLIED_LENGTH = 200


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
class PropertyStats:
    """What the points' values of one property are like (see the module's docstring)."""

    values: int = 0
    min: float | None = None
    max: float | None = None
    #: [value, count] pairs, most common first (strings and booleans; empty for other types)
    top: list[list[Any]] = field(default_factory=list)
    distinct: int | None = None

    def public(self, kind: ColumnType) -> dict[str, Any]:
        """Return the statistics the API shows for a property of type `kind`."""
        data: dict[str, Any] = {"values": self.values}
        if kind in (ColumnType.INT64, ColumnType.FLOAT64):
            data["min"], data["max"] = self.min, self.max
        elif kind in (ColumnType.UTF8, ColumnType.BOOL):
            data["top"] = [{"value": v, "count": n} for v, n in self.top]
            data["distinct"] = self.distinct
        return data

    def to_json(self) -> dict[str, Any]:
        """Return the statistics as JSON-ready data (kept by the stores with the schema)."""
        return {"values": self.values, "min": self.min, "max": self.max, "top": self.top, "distinct": self.distinct}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PropertyStats:
        top = [[value, int(count)] for value, count in data["top"]]
        return cls(int(data["values"]), data["min"], data["max"], top, data["distinct"])


@dataclass(slots=True)
class _Tally:
    """A property's statistics while they are being learnt."""

    values: int = 0
    min: float = float("inf")
    max: float = float("-inf")
    counts: Counter[Any] = field(default_factory=Counter)
    overflow: bool = False

    def add(self, values: list[Any], kind: ColumnType) -> None:
        """Take a batch's values of the property (no nulls), whose values are all of `kind` so far."""
        self.values += len(values)
        if kind in (ColumnType.INT64, ColumnType.FLOAT64):
            self.min = min(self.min, min(values))
            self.max = max(self.max, max(values))
            return
        if kind not in (ColumnType.UTF8, ColumnType.BOOL):
            return  # mixed values: no statistics beyond how many
        if kind == ColumnType.UTF8 and max(map(len, values)) > MAX_TALLIED_LENGTH:
            values = [v for v in values if len(v) <= MAX_TALLIED_LENGTH]
            self.overflow = True  # a text too long to be a category is not tallied
        counts = self.counts
        if self.overflow and len(counts) >= MAX_DISTINCT:
            counts.update([v for v in values if v in counts])  # full: only the values already tallied
            return
        counts.update(values)
        if len(counts) > MAX_DISTINCT:  # once: keep the most common, tally only those from now on
            self.counts = Counter(dict(counts.most_common(MAX_DISTINCT)))
            self.overflow = True

    def final(self) -> PropertyStats:
        top = sorted(self.counts.items(), key=lambda item: -item[1])[:TOP_VALUES]
        numbers = self.min <= self.max
        return PropertyStats(
            self.values,
            self.min if numbers else None,
            self.max if numbers else None,
            [[v, n] for v, n in top],
            None if self.overflow else len(self.counts),
        )


@dataclass(slots=True)
class PointSchema:
    """The column types of a dataset's points: `id`, then its properties in first-seen order."""

    id: ColumnType = ColumnType.INT64
    properties: dict[str, ColumnType] = field(default_factory=dict)
    #: each property's statistics (None: learnt before they were kept, or by a store that keeps none)
    stats: dict[str, PropertyStats] | None = field(default_factory=dict)
    #: a float64 property also holds an integer beyond ±2^53 (it would not convert exactly)
    _big_ints: set[str] = field(default_factory=set)
    _tallies: dict[str, _Tally] = field(default_factory=dict)

    def observe(self, batch: PointBatch) -> None:
        """Widen the types to admit the batch's ids and properties."""
        ids = batch.ids
        integer_array = isinstance(ids, np.ndarray) and ids.dtype.kind in "iu"
        if self.id == ColumnType.INT64 and not integer_array and not all(type(i) is int for i in ids):
            self.id = ColumnType.UTF8
        if batch.properties is None:
            return
        types = self.properties
        columns: dict[str, list[Any]] = {}  # each property's values in this batch (nulls left out)
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
                column = columns.get(key)
                if column is None:
                    columns[key] = [value]
                else:
                    column.append(value)
        # Tallied a column at a time, by builtins that loop in C (twice as fast as in the loop above).
        for key, values in columns.items():
            tally = self._tallies.get(key)
            if tally is None:
                tally = self._tallies[key] = _Tally()
            tally.add(values, types[key])
        for key in self._big_ints:
            if types.get(key) == ColumnType.FLOAT64:
                types[key] = ColumnType.JSON

    def final(self) -> PointSchema:
        """Return the schema as stored: properties never seen with a value become utf8."""
        props: dict[str, ColumnType] = {
            k: (ColumnType.UTF8 if t == ColumnType.NULL else t) for k, t in self.properties.items()
        }
        stats = {k: self._tallies[k].final() if k in self._tallies else PropertyStats(distinct=0) for k in props}
        return PointSchema(self.id, props, stats)

    def to_json(self) -> dict[str, Any]:
        """Return the schema as JSON-ready data (kept by the stores)."""
        data: dict[str, Any] = {"id": str(self.id), "properties": [[k, str(t)] for k, t in self.properties.items()]}
        if self.stats is not None:
            data["stats"] = {k: v.to_json() for k, v in self.stats.items()}
        return data

    def describe(self) -> list[dict[str, Any]]:
        """Return each property's name, type and (when known) statistics, as the API shows them."""
        described = []
        for name, kind in self.properties.items():
            entry: dict[str, Any] = {"name": name, "type": str(kind)}
            known = self.stats.get(name) if self.stats is not None else None
            if known is not None:
                entry.update(known.public(kind))
            described.append(entry)
        return described

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> PointSchema:
        """Return the schema stored by to_json (None: integer ids, no properties)."""
        if not data:
            return cls()
        stats = data.get("stats")
        return cls(
            ColumnType(data["id"]),
            {str(k): ColumnType(t) for k, t in data["properties"]},
            None if stats is None else {str(k): PropertyStats.from_json(v) for k, v in stats.items()},
        )

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
            column = free_name(name, taken)  # a property named x, y or id must not shadow the point's own
            if column != name:
                metadata["pointsite:property"] = name
            fields.append(pa.field(column, _ARROW_TYPES[kind], metadata=metadata or None))
        return pa.schema(fields, metadata={"dataset": dataset, "geometry": geometry})


def free_name(name: str, taken: set[str]) -> str:
    """Return `name` with underscores appended until it is not in `taken`, and take it."""
    while name in taken:
        name += "_"
    taken.add(name)
    return name


#: datetimes (only MongoDB's) as "…Z", as the NDJSON streams send them (msgspec)
_UTC_Z = orjson.OPT_UTC_Z


def _bson_plain() -> Callable[[Any], Any]:
    """Return how BSON values become JSON ones (imported on the first such value: that package
    imports this module, and stores other than MongoDB's never need it)."""
    from points.stores.mongo.values import plain

    return plain


def _text(value: Any) -> str:
    """Return a value that is no str as the text of a utf8 column: an integer's decimal text; a
    value sent as a JSON string (a str subclass such as bson.Code, an ObjectId, a UUID, a
    datetime…) as that string; anything else as its JSON text."""
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool):  # bson.Int64 too
        return str(int(value))
    plain = _bson_plain()
    with contextlib.suppress(TypeError):  # a value JSON knows itself
        value = plain(value)
    if isinstance(value, str):
        return value
    text = orjson.dumps(value, default=plain, option=_UTC_Z).decode()
    return str(orjson.loads(text)) if text.startswith('"') else text


def _column(values: list[Any], kind: ColumnType) -> pa.Array:
    if kind == ColumnType.JSON:
        try:
            values = [None if v is None else orjson.dumps(v, option=_UTC_Z).decode() for v in values]
        except orjson.JSONEncodeError:  # values decoded from BSON (an ObjectId, a DBRef…), or bad ones
            plain = _bson_plain()
            values = [None if v is None else orjson.dumps(v, default=plain, option=_UTC_Z).decode() for v in values]
    elif kind in (ColumnType.UTF8, ColumnType.NULL):
        values = [None if v is None else v if type(v) is str else _text(v) for v in values]
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
        id_column = pa.array([i if type(i) is str else _text(i) for i in ids], type=pa.string())
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
