"""Arrow IPC stream pieces (application/vnd.apache.arrow.stream): the schema message, record-batch
messages, and the end and error markers.

A pointsite Arrow stream is one schema, then record batches of points, then a final record batch
with no rows whose custom metadata is `{"end": "true", "count": "N"}` (complete; N points were
sent) or `{"error": "what went wrong", "count": "N"}` (the server failed after the headers went
out), then the IPC end-of-stream marker. A stream whose last batch is neither marker was cut,
even if an Arrow reader accepts it (a cut at a message boundary looks like a short stream).
"""

from __future__ import annotations

import pyarrow as pa

from points.batches import BoolArray

CONTENT_TYPE = "application/vnd.apache.arrow.stream"
END_OF_STREAM = b"\xff\xff\xff\xff\x00\x00\x00\x00"


def schema_message(schema: pa.Schema) -> bytes:
    """Return the stream's first message."""
    return bytes(schema.serialize().to_pybytes())


def batch_message(batch: pa.RecordBatch) -> bytes:
    """Return one record batch as an encapsulated IPC message."""
    return bytes(batch.serialize().to_pybytes())


def _marker(schema: pa.Schema, metadata: dict[str, str]) -> bytes:
    # serialize() cannot attach custom metadata to a batch; the stream writer can. Cut the
    # schema it writes first and the end-of-stream marker it writes last.
    sink = pa.BufferOutputStream()
    writer = pa.ipc.new_stream(sink, schema)
    writer.write_batch(pa.RecordBatch.from_pylist([], schema=schema), custom_metadata=metadata)
    writer.close()
    data = bytes(sink.getvalue().to_pybytes())
    head = len(schema_message(schema))
    return data[head : len(data) - len(END_OF_STREAM)] + END_OF_STREAM


def end_marker(schema: pa.Schema, count: int) -> bytes:
    """Return the end batch and end-of-stream marker of a complete stream."""
    return _marker(schema, {"end": "true", "count": str(count)})


def error_marker(schema: pa.Schema, message: str, count: int) -> bytes:
    """Return the error batch and end-of-stream marker of a stream the server could not finish."""
    return _marker(schema, {"error": message, "count": str(count)})


def read_batch(message: bytes | memoryview, schema: pa.Schema) -> pa.RecordBatch:
    """Return the record batch in one encapsulated message (without copying its buffers)."""
    return pa.ipc.read_record_batch(pa.py_buffer(message), schema)


def read_batches(data: bytes, schema: pa.Schema) -> list[pa.RecordBatch]:
    """Return the record batches of back-to-back messages (a chunk of a stream, no schema)."""
    reader = pa.ipc.open_stream(schema_message(schema) + data + END_OF_STREAM)
    return list(reader)


def select(message: bytes, schema: pa.Schema, mask: BoolArray) -> bytes:
    """Return the message's batch reduced to the rows whose mask entry is True."""
    if mask.all():
        return message
    if not mask.any():
        return b""
    return batch_message(read_batch(message, schema).filter(pa.array(mask)))
