"""BSON values through the MongoDB store's read path, no server needed: the BSON is built by
`bson.encode` as a server sends find results (documents back to back, `_id` projected out, or
kept for attached collections), decoded with CODEC_OPTIONS as the store does, then written as
NDJSON lines (ENCODER) and as Arrow batches (records_batch), whose exact values are checked."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import bson
import msgspec
import numpy as np
import pyarrow as pa
import pytest
from bson import SON, Code, DatetimeMS, DBRef, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp
from bson.binary import Binary, UuidRepresentation
from bson.codec_options import CodecOptions

from points import arrow
from points.batches import PointBatch
from points.schema import ColumnType, PointSchema, records_batch
from points.stores.mongo.store import _documents
from points.stores.mongo.values import CODEC_OPTIONS, ENCODER, plain

OID = ObjectId("65f1a2b3c4d5e6f708192a3b")
UUID = uuid.UUID("3f2504e0-4f89-41d3-9a0c-0305e82c3301")
LEGACY = base64.b64encode(UUID.bytes).decode()  # a subtype 3 UUID: its byte order is unknown, so base64
BIG = [2**31, 2**53 + 1, -(2**63), 2**63 - 1]


def from_server(*docs: dict[str, Any]) -> bytes:
    """Return the documents as a find_raw_batches batch: their BSON back to back. UUIDs are
    written as the standard subtype 4, as a current driver stores them."""
    options: CodecOptions[dict[str, Any]] = CodecOptions(uuid_representation=UuidRepresentation.STANDARD)
    return b"".join(bson.encode(doc, codec_options=options) for doc in docs)


def decoded(*docs: dict[str, Any]) -> list[dict[str, Any]]:
    """Return the documents as the store reads them (bson.decode_all with CODEC_OPTIONS)."""
    return bson.decode_all(from_server(*docs), CODEC_OPTIONS)


def no_constants(name: str) -> Any:
    raise AssertionError(f"a stream line holds {name}, which is not JSON")


def lines(docs: list[dict[str, Any]]) -> list[bytes]:
    """Return the NDJSON lines the store sends for `docs`, each checked to be strict JSON."""
    data = ENCODER.encode_lines(docs)
    assert data.endswith(b"\n")
    out = data.split(b"\n")[:-1]
    for line in out:
        json.loads(line, parse_constant=no_constants)
    return out


def arrow_rows(point_schema: PointSchema, docs: list[dict[str, Any]]) -> dict[str, list[Any]]:
    """Return the columns of the Arrow batch the store sends for `docs`, read back from its message."""
    schema = point_schema.arrow(dataset="d", geometry="planar")
    message = arrow.batch_message(records_batch(schema, point_schema, docs))
    [batch] = arrow.read_batches(message, schema)
    return batch.to_pydict()


def test_the_decode_options_are_the_fast_ones() -> None:
    # No type registry (which would call Python for every value) and plain dicts: bson's C decoder
    # does all of it.
    assert bson.has_c()
    assert CODEC_OPTIONS.document_class is dict
    assert not CODEC_OPTIONS.type_registry._decoder_map
    assert CODEC_OPTIONS.tz_aware


def test_the_plain_encoder_refuses_int64_this_one_does_not() -> None:
    docs = decoded({"id": 1, "pt": [0.5, 1.5], "ms": 1_700_000_000_000})
    assert type(docs[0]["ms"]) is Int64
    with pytest.raises(TypeError, match="Int64"):
        msgspec.json.Encoder().encode_lines(docs)  # what the store used to send with
    assert lines(docs) == [b'{"id":1,"pt":[0.5,1.5],"ms":1700000000000}']


def test_int64_ids_and_properties_at_every_edge() -> None:
    # The points of a dataset the store wrote: ids and properties beyond 32 bits, a small value
    # stored as a long (NumberLong(5) in the shell), and Int64s nested in objects and arrays.
    batch = PointBatch(
        np.array(BIG, dtype=np.int64),
        np.array([0.5, 1.5, 2.5, 3.5]),
        np.array([-1.0, -2.0, -3.0, -4.0]),
        [{"n": v, "nest": {"a": [v, {"b": v}]}} for v in BIG],
    )
    learnt = PointSchema()
    learnt.observe(batch)
    point_schema = learnt.final()
    assert point_schema.id == ColumnType.INT64 and point_schema.properties["n"] == ColumnType.INT64
    written = _documents(batch)
    written.append({"id": Int64(5), "pt": [4.5, -5.0], "n": Int64(5), "nest": {"a": [Int64(5)]}})
    docs = decoded(*written)
    assert all(type(d["id"]) is Int64 and type(d["n"]) is Int64 for d in docs)
    assert type(docs[0]["nest"]["a"][1]["b"]) is Int64
    assert lines(docs) == [
        b'{"id":2147483648,"pt":[0.5,-1.0],"n":2147483648,"nest":{"a":[2147483648,{"b":2147483648}]}}',
        b'{"id":9007199254740993,"pt":[1.5,-2.0],"n":9007199254740993,'
        b'"nest":{"a":[9007199254740993,{"b":9007199254740993}]}}',
        b'{"id":-9223372036854775808,"pt":[2.5,-3.0],"n":-9223372036854775808,'
        b'"nest":{"a":[-9223372036854775808,{"b":-9223372036854775808}]}}',
        b'{"id":9223372036854775807,"pt":[3.5,-4.0],"n":9223372036854775807,'
        b'"nest":{"a":[9223372036854775807,{"b":9223372036854775807}]}}',
        b'{"id":5,"pt":[4.5,-5.0],"n":5,"nest":{"a":[5]}}',
    ]
    columns = arrow_rows(point_schema, docs)
    assert columns["id"] == [*BIG, 5]
    assert columns["n"] == [*BIG, 5]
    assert columns["nest"] == [json.dumps({"a": [v, {"b": v}]}, separators=(",", ":")) for v in BIG] + ['{"a":[5]}']


def test_int64_in_string_ids_and_utf8_columns_is_its_decimal_text() -> None:
    docs = decoded({"id": 2**40, "pt": [0.0, 0.0], "s": 2**40}, {"id": "a", "pt": [1.0, 1.0], "s": "b"})
    point_schema = PointSchema(ColumnType.UTF8, {"s": ColumnType.UTF8})
    assert arrow_rows(point_schema, docs)["id"] == ["1099511627776", "a"]
    assert arrow_rows(point_schema, docs)["s"] == ["1099511627776", "b"]


def test_dbrefs_keep_their_database_and_fields_with_plain_values() -> None:
    docs = decoded(
        {"id": 1, "pt": [0.0, 0.0], "owner": DBRef("users", OID, "crm", role="admin", since=2**40)},
        {"id": 2, "pt": [1.0, 1.0], "owner": {"$ref": "users", "$id": 2**33}},  # as a user wrote it
        {"id": 3, "pt": [2.0, 2.0], "owner": [DBRef("users", 7), {"x": DBRef("teams", OID, extra={"n": 2**31})}]},
    )
    assert type(docs[0]["owner"]) is DBRef and type(docs[1]["owner"]) is DBRef
    assert lines(docs) == [
        b'{"id":1,"pt":[0.0,0.0],"owner":{"$ref":"users","$id":"65f1a2b3c4d5e6f708192a3b","$db":"crm",'
        b'"role":"admin","since":1099511627776}}',
        b'{"id":2,"pt":[1.0,1.0],"owner":{"$ref":"users","$id":8589934592}}',
        b'{"id":3,"pt":[2.0,2.0],"owner":[{"$ref":"users","$id":7},'
        b'{"x":{"$ref":"teams","$id":"65f1a2b3c4d5e6f708192a3b","extra":{"n":2147483648}}}]}',
    ]
    columns = arrow_rows(PointSchema(ColumnType.INT64, {"owner": ColumnType.JSON}), docs)
    # The JSON column holds the same text as the line.
    assert [c.encode() for c in columns["owner"]] == [line.split(b'"owner":', 1)[1][:-1] for line in lines(docs)]


def test_an_attached_collections_values() -> None:
    # A document of a collection the store did not write: `_id` kept, every kind of BSON value.
    doc = {
        "_id": OID,
        "id": OID,
        "pt": [10.5, 20.25],
        "price": Decimal128("1.10"),
        "nan_price": Decimal128("NaN"),
        "seen": datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=UTC),
        "first": datetime(1, 1, 1, tzinfo=UTC),
        "far": DatetimeMS(253_402_300_800_000),  # 10000-01-01: beyond Python's datetimes
        "before": DatetimeMS(-62_135_596_800_001),  # a millisecond before year 1
        "raw": b"\x00\x01\xfe",  # subtype 0 decodes as bytes
        "blob": Binary(b"\x01\x02", 128),
        "uuid": UUID,
        "legacy_uuid": Binary(UUID.bytes, 3),
        "ts": Timestamp(1_700_000_000, 7),
        "re": Regex("^ab+c$", "i"),
        "code": Code("function () { return 1; }"),
        "scoped": Code("x + 1", {"x": 1}),
        "low": MinKey(),
        "high": MaxKey(),
        "son": SON([("b", 1), ("a", 2**40)]),
    }
    [got] = decoded(doc)
    assert type(got["far"]) is DatetimeMS and type(got["seen"]) is datetime and got["seen"].tzinfo is not None
    assert type(got["uuid"]) is uuid.UUID and type(got["legacy_uuid"]) is Binary
    [line] = lines([got])
    oid = '"65f1a2b3c4d5e6f708192a3b"'
    assert line.decode() == (
        f'{{"_id":{oid},"id":{oid},"pt":[10.5,20.25],"price":"1.10","nan_price":"NaN",'
        '"seen":"2024-05-06T07:08:09.123000Z","first":"0001-01-01T00:00:00Z",'
        '"far":253402300800000,"before":-62135596800001,'
        f'"raw":"AAH+","blob":"AQI=","uuid":"{UUID}",'
        f'"legacy_uuid":"{LEGACY}","ts":{{"t":1700000000,"i":7}},'
        '"re":"^ab+c$","code":"function () { return 1; }","scoped":"x + 1","low":null,"high":null,'
        '"son":{"b":1,"a":1099511627776}}'
    )
    # Arrow: each as a JSON column holds the line's value; as a utf8 column, a JSON string is the text.
    names = [k for k in doc if k not in ("_id", "id", "pt")]
    as_json = arrow_rows(PointSchema(ColumnType.UTF8, dict.fromkeys(names, ColumnType.JSON)), [got])
    as_text = arrow_rows(PointSchema(ColumnType.UTF8, dict.fromkeys(names, ColumnType.UTF8)), [got])
    sent = json.loads(line)
    assert as_json["id"] == as_text["id"] == ["65f1a2b3c4d5e6f708192a3b"]
    for name in names:
        assert json.loads(as_json[name][0]) == sent[name], name
        assert as_text[name] == [sent[name] if isinstance(sent[name], str) else as_json[name][0]], name
    assert as_text["seen"] == ["2024-05-06T07:08:09.123000Z"] and as_text["far"] == ["253402300800000"]
    assert as_text["low"] == ["null"] and as_text["ts"] == ['{"t":1700000000,"i":7}']


def test_huge_and_non_finite_floats() -> None:
    # BSON doubles carry NaN and infinities; a line writes them as null (it must stay JSON), Arrow
    # keeps them as they are.
    values = [1e308, -1e308, 5e-324, -0.0, float("nan"), float("inf"), float("-inf")]
    docs = decoded(*({"id": i, "pt": [0.0, 0.0], "f": v, "j": [v]} for i, v in enumerate(values)))
    assert [line.split(b'"f":', 1)[1] for line in lines(docs)] == [
        b'1e308,"j":[1e308]}',
        b'-1e308,"j":[-1e308]}',
        b'5e-324,"j":[5e-324]}',
        b'-0.0,"j":[-0.0]}',
        b'null,"j":[null]}',
        b'null,"j":[null]}',
        b'null,"j":[null]}',
    ]
    schema = PointSchema(ColumnType.INT64, {"f": ColumnType.FLOAT64, "j": ColumnType.JSON})
    message = arrow.batch_message(records_batch(schema.arrow(dataset="d", geometry="planar"), schema, docs))
    [batch] = arrow.read_batches(message, schema.arrow(dataset="d", geometry="planar"))
    floats = batch.column("f").to_numpy()
    assert floats[:4].tolist() == values[:4] and np.signbit(floats[3])
    assert np.isnan(floats[4]) and floats[5:].tolist() == [float("inf"), float("-inf")]
    assert batch.column("j").to_pylist() == [
        "[1e+308]",
        "[-1e+308]",
        "[5e-324]",
        "[-0.0]",
        "[null]",
        "[null]",
        "[null]",
    ]
    assert batch.column("f").type == pa.float64()


def test_invalid_utf8_from_an_old_driver_does_not_fail_the_batch() -> None:
    raw = bytearray(from_server({"id": 1, "pt": [0.0, 0.0], "s": "aXb"}))
    raw[raw.index(b"aXb") + 1] = 0xFF  # the string's middle byte, as a driver that never checked wrote it
    [doc] = bson.decode_all(bytes(raw), CODEC_OPTIONS)
    assert doc["s"] == "a\ufffdb"
    assert lines([doc]) == ['{"id":1,"pt":[0.0,0.0],"s":"a\ufffdb"}'.encode()]


@pytest.mark.parametrize("value", [complex(1, 2), object(), Ellipsis])
def test_anything_else_is_a_type_error_naming_its_type(value: Any) -> None:
    name = type(value).__qualname__
    with pytest.raises(TypeError, match=f"builtins.{name} cannot be sent as JSON"):
        plain(value)
    with pytest.raises(TypeError, match=name):
        ENCODER.encode_lines([{"id": 1, "v": value}])
