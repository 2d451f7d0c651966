"""BSON values as the streams send them: how points read from MongoDB become JSON and Arrow values.

pymongo decodes an integer of 2^31 or more as `bson.Int64`, a `{"$ref", "$id"}` object as a
`bson.DBRef`, and collections the store did not write itself (attached ones) hold ObjectIds,
Decimal128s, datetimes (some beyond Python's years 1..9999), binaries, timestamps, regular
expressions, code and MinKey/MaxKey too. `plain` turns each into the JSON value the streams send;
it is the `enc_hook` of `ENCODER` (NDJSON lines) and the `default` of orjson (Arrow JSON columns,
points.schema), which call it only for a value they cannot encode themselves, so points of plain
ints, floats and strings never reach it.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
from bson import SON, Code, DatetimeMS, DBRef, Decimal128, Int64, MaxKey, MinKey, ObjectId, Regex, Timestamp
from bson.binary import UUID_SUBTYPE, Binary, UuidRepresentation
from bson.codec_options import CodecOptions, DatetimeConversion

#: How the store decodes find_raw_batches output (bson.decode_all, all in bson's C extension: no
#: type registry, plain dicts). Datetimes are UTC-aware (sent as "…Z"), those outside years
#: 1..9999 come as DatetimeMS instead of failing the batch, a UUID (binary subtype 4) comes as
#: uuid.UUID, and a string some old driver stored as invalid UTF-8 gets U+FFFD for its bad bytes
#: rather than failing every stream of its dataset.
CODEC_OPTIONS: CodecOptions[dict[str, Any]] = CodecOptions(
    tz_aware=True,  # in UTC; naming tzinfo=UTC as well converts each datetime again (1.4x the decode time)
    uuid_representation=UuidRepresentation.STANDARD,
    datetime_conversion=DatetimeConversion.DATETIME_AUTO,
    unicode_decode_error_handler="replace",
)


def _binary(value: bytes) -> str:
    """A UUID (subtype 4) as its canonical text, any other binary as base64 (as msgspec sends bytes)."""
    if isinstance(value, Binary) and value.subtype == UUID_SUBTYPE and len(value) == 16:
        return str(value.as_uuid())
    return base64.b64encode(value).decode("ascii")


def _dbref(value: DBRef) -> dict[str, Any]:
    """`{"$ref", "$id", "$db"?, …its other fields}`, as it is stored (the encoder makes its values plain)."""
    return dict(value.as_doc())


_PLAIN: dict[type, Callable[[Any], Any]] = {
    ObjectId: str,
    DBRef: _dbref,
    Decimal128: str,  # its exact decimal text ("1.10", "NaN", "-Infinity"), not a lossy float
    DatetimeMS: int,  # outside years 1..9999: milliseconds since 1970
    Binary: _binary,
    bytes: _binary,
    uuid.UUID: str,
    Timestamp: lambda ts: {"t": ts.time, "i": ts.inc},
    Regex: lambda regex: regex.pattern,  # the flags are left out
    Code: str,  # the code without its scope
    MinKey: lambda _: None,  # bounds for comparisons, not values
    MaxKey: lambda _: None,
    SON: dict,
}


def plain(value: Any) -> Any:
    """Return a BSON value the JSON encoders do not know as one they do (see the module's
    docstring); raise TypeError, naming the type, for anything else."""
    kind = type(value)
    if kind is Int64:  # the common one (epoch milliseconds, OSM ids): first, without a lookup
        return int(value)
    convert = _PLAIN.get(kind)
    if convert is None:
        raise TypeError(f"a value of type {kind.__module__}.{kind.__qualname__} cannot be sent as JSON")
    return convert(value)


#: Encodes the decoded documents as NDJSON lines (`ENCODER.encode_lines(docs)`); NaN and
#: infinities become null, as msgspec always writes them, so a line stays valid JSON.
ENCODER = msgspec.json.Encoder(enc_hook=plain)
