"""Export formats: a stream's Arrow record batches written as CSV or GeoJSON, chunk by chunk.

The stores serve NDJSON and Arrow only; a CSV or GeoJSON stream asks its store for Arrow (plain)
and each chunk's batches are written out here as they come, so memory stays that of one chunk.

CSV (`text/csv; charset=utf-8; header=present`): a header line `id,x,y,<properties>` (`id,lon,lat,…`
for a spherical dataset), then one row per point. The property columns are named as in the Arrow
schema (a property whose name is taken gets `_` appended until it is free; so do `lon` and `lat`
in a spherical dataset). Fields are quoted as RFC 4180 says (every string is quoted, so an empty
string is `""` and a null an empty field); booleans are `true`/`false`, a JSON property its JSON
text, and x and y the shortest text that reads back as the very same float. The last line is the
trailer: `# end count=N` when the export is complete, `# error count=N: message` when the server
failed after the headers went out (a limit was hit, the store failed). No row starts with `#`
(the first field is the id: a number, or a quoted string), though a quoted string may hold such a
line: hence the count, of records as a CSV reader sees them. The rule: **a CSV export is complete
only if, read by a CSV reader, its last record is the one field `# end count=N` and N equals the
records between it and the header**; a body cut anywhere has no such record, or a count that does
not match.

GeoJSON (`application/geo+json`): `{"type":"FeatureCollection","features":[`, then one feature a
line, `{"type":"Feature","id":…,"geometry":{"type":"Point","coordinates":[x,y]},"properties":{…}}`
(the properties under their own names, without nulls; a JSON property as its JSON value; the id
as in Arrow: a dataset with string ids has its integer ids as their decimal text), comma
separated; a complete export then ends `],"pointsite":{"end":true,"count":N}}`. When the server
fails midway the array is closed and a last line `"pointsite":{"error":"…","count":N}` is written,
but the object never is: the document is invalid JSON, so no reader takes it for complete, and
neither is a body cut anywhere.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import msgspec
import numpy as np
import orjson
import pyarrow as pa
import pyarrow.csv as pa_csv

from points import ndjson
from points.batches import Format
from points.schema import free_name

CSV_TYPE = "text/csv; charset=utf-8; header=present"
GEOJSON_TYPE = "application/geo+json"

# Measured on 1M points (id, x, y and a string property with commas, quotes and newlines), in
# batches of 4,096: pyarrow.csv.write_csv 0.34 s, the csv module 1.94 s (to_pylist included). Both
# write floats that read back exactly; pyarrow quotes every string, so nulls and "" differ.
_CSV_OPTIONS = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
_ENCODER = msgspec.json.Encoder()
_GEOJSON_HEAD = b'{"type":"FeatureCollection","features":['
# The fixed parts of a property-less feature line, spliced around its numbers by
# ndjson.splice_lines (measured on 1M points in batches of 4,096, on a busy 2-core machine: 0.74-0.95 s spliced by
# numpy, 0.96-1.38 s as dicts encoded by msgspec).
_PLAIN = (b'{"type":"Feature","id":', b',"geometry":{"type":"Point","coordinates":', b'},"properties":{}}\n')


class Exporter:
    """Writes a stream's record batches in an export format: its head, its rows, its trailers."""

    def head(self) -> bytes:
        raise NotImplementedError

    def encode(self, batches: list[pa.RecordBatch]) -> bytes:
        raise NotImplementedError

    def end(self, count: int) -> bytes:
        raise NotImplementedError

    def error(self, message: str, count: int) -> bytes:
        raise NotImplementedError


def exporter(form: Format, schema: pa.Schema) -> Exporter | None:
    """Return the exporter of an export format (None for the formats the stores serve themselves)."""
    if form == Format.CSV:
        return CsvExporter(schema)
    if form == Format.GEOJSON:
        return GeoJsonExporter(schema)
    return None


def is_spherical(schema: pa.Schema) -> bool:
    """Return whether the stream's schema is of a lon/lat dataset."""
    return (schema.metadata or {}).get(b"geometry") == b"spherical"


def csv_columns(schema: pa.Schema) -> list[str]:
    """Return the CSV header's column names for the stream's Arrow schema."""
    if not is_spherical(schema):
        return list(schema.names)
    names = ["id", "lon", "lat"]
    taken = set(names)
    # A property named lon or lat must not shadow the point's own.
    names.extend(free_name(column, taken) for column in schema.names[3:])
    return names


def _one_line(message: str) -> str:
    return " ".join(message.split())


class CsvExporter(Exporter):
    """CSV rows written by pyarrow (see the module docstring for the layout and the trailer)."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema

    def head(self) -> bytes:
        text = io.StringIO()
        csv.writer(text, lineterminator="\n").writerow(csv_columns(self.schema))
        return text.getvalue().encode()

    def encode(self, batches: list[pa.RecordBatch]) -> bytes:
        sink = pa.BufferOutputStream()
        for batch in batches:
            if batch.num_rows:
                pa_csv.write_csv(batch, sink, _CSV_OPTIONS)
        return bytes(sink.getvalue().to_pybytes())

    def end(self, count: int) -> bytes:
        return f"# end count={count}\n".encode()

    def error(self, message: str, count: int) -> bytes:
        return f"# error count={count}: {_one_line(message)}\n".encode()


class GeoJsonExporter(Exporter):
    """A FeatureCollection written feature by feature (see the module docstring)."""

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.started = False  # whether a feature was written (the next one needs a comma)
        self.properties: list[tuple[int, str, bool]] = []  # column, property name, JSON-typed
        for index, field in enumerate(schema):
            if index < 3:
                continue
            metadata = field.metadata or {}
            name = metadata.get(b"pointsite:property", field.name.encode()).decode()
            self.properties.append((index, name, metadata.get(b"pointsite:json") == b"true"))

    def head(self) -> bytes:
        return _GEOJSON_HEAD

    def encode(self, batches: list[pa.RecordBatch]) -> bytes:
        pieces = []
        for batch in batches:
            if not batch.num_rows:
                continue
            text = self._lines(batch)  # one feature a line, each "\n"-ended
            pieces.append(b",\n" if self.started else b"\n")
            # JSON escapes newlines inside strings, so every raw "\n" ends a feature.
            pieces.append(text[:-1].replace(b"\n", b",\n"))
            self.started = True
        return b"".join(pieces)

    def _lines(self, batch: pa.RecordBatch) -> bytes:
        ids = batch.column(0)
        xs = batch.column(1).to_numpy()
        ys = batch.column(2).to_numpy()
        if not self.properties and pa.types.is_integer(ids.type):
            return ndjson.splice_lines(ids.to_numpy().astype(np.int64, copy=False), xs, ys, _PLAIN)[0]
        columns = [(name, batch.column(index).to_pylist(), is_json) for index, name, is_json in self.properties]
        features = []
        for row, (i, x, y) in enumerate(zip(ids.to_pylist(), xs.tolist(), ys.tolist(), strict=True)):
            properties: dict[str, Any] = {}
            for name, values, is_json in columns:
                value = values[row]
                if value is not None:
                    properties[name] = msgspec.Raw(value.encode()) if is_json else value
            features.append(
                {
                    "type": "Feature",
                    "id": i,
                    "geometry": {"type": "Point", "coordinates": [x, y]},
                    "properties": properties,
                }
            )
        return _ENCODER.encode_lines(features)

    def end(self, count: int) -> bytes:
        return b"\n]," + orjson.dumps({"pointsite": {"end": True, "count": count}})[1:] + b"\n"

    def error(self, message: str, count: int) -> bytes:
        # The array is closed, the object never is: invalid JSON whose last line says why.
        return b"\n],\n" + orjson.dumps({"pointsite": {"error": message, "count": count}})[1:-1] + b"\n"
