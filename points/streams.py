"""Frame a store's chunks as a stream's body: a format (NDJSON, Arrow, or an export format: CSV,
GeoJSON) in a coding (plain, zstd, gzip), ended by the format's end marker, or its error marker
when reading fails midway. The stores serve NDJSON and Arrow; an export is read from the store as
plain Arrow (`store_form`) and written out chunk by chunk (points.export).

The body goes out in pieces of about `chunk_bytes`, each made of whole compressed pieces (zstd
frames, sync-flushed deflate), so a client decodes every point it has received; the end marker
is inside the compressed data, so a stream cut anywhere, or one that does not decode, reads as
cut. Closing the body early closes the store's iterator, releasing its cursor. What the error
marker says of a failure is points.stores.errors.failure's message, as a JSON error before the first
byte would (a limit's is its own).
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Generator
from typing import Any, TypeVar

import pyarrow as pa

from points import arrow, codings, export, ndjson
from points.batches import Chunk, Coding, Format, StreamForm
from points.stores.errors import failure

T = TypeVar("T")
CONTENT_TYPES = {
    Format.NDJSON: "application/x-ndjson",
    Format.ARROW: arrow.CONTENT_TYPE,
    Format.CSV: export.CSV_TYPE,
    Format.GEOJSON: export.GEOJSON_TYPE,
}
#: the file name extension of a download in each format
EXTENSIONS = {Format.NDJSON: "ndjson", Format.ARROW: "arrows", Format.CSV: "csv", Format.GEOJSON: "geojson"}
#: the formats the stream writes itself from the store's Arrow
EXPORTS = frozenset({Format.CSV, Format.GEOJSON})


def store_form(form: StreamForm) -> StreamForm:
    """Return the form to ask the store for: an export's points come as plain Arrow and are
    written out (and compressed) by the stream."""
    if form.format in EXPORTS:
        return StreamForm(Format.ARROW, Coding.IDENTITY)
    return form


def needs_schema(form: StreamForm) -> bool:
    """Return whether a stream in `form` needs the dataset's Arrow schema."""
    return form.format == Format.ARROW or form.format in EXPORTS


class Closing(Generator[T, None, None]):
    """A generator that also runs `cleanup` when it is closed, whether or not it ever ran (a
    generator's own `finally` runs only once it has started, so an unread stream would keep
    its cursor and files)."""

    def __init__(self, inner: Generator[T, None, None], cleanup: Callable[[], object]) -> None:
        self._inner = inner
        self._cleanup = cleanup

    def send(self, value: None) -> T:
        return self._inner.send(value)

    def throw(self, *args: Any) -> T:
        return self._inner.throw(*args)

    def close(self) -> None:
        try:
            self._inner.close()
        finally:
            self._cleanup()


class StreamLimit(Exception):
    """A per-request limit stopped the stream; the message, for the client, says which and what to do."""


class _Writer:
    """A format's fixed parts: what comes first, the end and error markers, and a cut; for an
    export, also the writing of each chunk."""

    def __init__(self, form: StreamForm, schema: pa.Schema | None) -> None:
        self.format = form.format
        self.schema = schema
        if needs_schema(form) and schema is None:
            raise ValueError(f"a {form.format.value} stream needs the dataset's Arrow schema")
        self.exporter = export.exporter(form.format, schema) if schema is not None else None

    def head(self) -> bytes:
        if self.exporter is not None:
            return self.exporter.head()
        return arrow.schema_message(self.schema) if self.schema is not None and self.format == Format.ARROW else b""

    def rows(self, data: bytes) -> bytes:
        """Return plain Arrow chunk data written in the export format."""
        assert self.exporter is not None and self.schema is not None
        return self.exporter.encode(arrow.read_batches(data, self.schema))

    def end(self, count: int) -> bytes:
        if self.exporter is not None:
            return self.exporter.end(count)
        if self.format == Format.ARROW:
            assert self.schema is not None
            return arrow.end_marker(self.schema, count)
        return ndjson.end_line(count)

    def error(self, message: str, count: int) -> bytes:
        if self.exporter is not None:
            return self.exporter.error(message, count)
        if self.format == Format.ARROW:
            assert self.schema is not None
            return arrow.error_marker(self.schema, message, count)
        return ndjson.error_line(message, count)

    def first(self, data: bytes, n: int) -> bytes:
        """Return the first `n` points of plain chunk data (an export's: written out)."""
        if self.format == Format.ARROW or self.exporter is not None:
            assert self.schema is not None
            table = pa.Table.from_batches(arrow.read_batches(data, self.schema), self.schema)
            batches = table.slice(0, n).to_batches()
            if self.exporter is not None:
                return self.exporter.encode(batches)
            return b"".join(arrow.batch_message(b) for b in batches)
        end = -1
        for _ in range(n):
            end = data.index(b"\n", end + 1)
        return data[: end + 1]


class _Coder:
    """A coding: turns chunks (compressed already or plain) into the body's bytes."""

    def __init__(self, coding: Coding) -> None:
        self.coding = coding
        self.crc = 0  # gzip: CRC-32 and length of everything the member decodes to so far
        self.size = 0

    def head(self) -> bytes:
        return codings.GZIP_HEADER if self.coding == Coding.GZIP else b""

    def plain(self, data: bytes) -> bytes:
        """Return plain bytes in this coding, as a piece of their own."""
        if not data or self.coding == Coding.IDENTITY:
            return data
        if self.coding == Coding.ZSTD:
            return codings.zstd_frame(data)
        self.crc = zlib.crc32(data, self.crc)
        self.size += len(data)
        return codings.deflate_piece(data)

    def coded(self, chunk: Chunk) -> bytes:
        """Return a chunk already in this coding as it is (gzip: its CRC joins the member's)."""
        if self.coding == Coding.GZIP:
            self.crc = codings.crc32_combine(self.crc, chunk.raw_crc, chunk.raw_size)
            self.size += chunk.raw_size
        return chunk.data

    def tail(self) -> bytes:
        return codings.gzip_trailer(self.crc, self.size) if self.coding == Coding.GZIP else b""


class _Body:
    """The body being gathered: bytes ready to go, and plain bytes (edge blocks, a store that
    keeps nothing compressed, the markers) waiting to be compressed together, as one piece."""

    def __init__(self, coder: _Coder) -> None:
        self.coder = coder
        self.ready: list[bytes] = [coder.head()]
        self.plain: list[bytes] = []
        self.size = 0

    def add_plain(self, data: bytes) -> None:
        self.plain.append(data)
        self.size += len(data)

    def add(self, chunk: Chunk) -> None:
        if chunk.coding != self.coder.coding or chunk.coding == Coding.IDENTITY:
            self.add_plain(decode(chunk))  # (a chunk in another coding would be a store's mistake)
            return
        self._compress()
        data = self.coder.coded(chunk)
        self.ready.append(data)
        self.size += len(data)

    def _compress(self) -> None:
        if self.plain:
            self.ready.append(self.coder.plain(b"".join(self.plain)))
            self.plain.clear()

    def take(self, *, last: bool = False) -> bytes:
        """Return what is gathered, as whole compressed pieces (and the coding's end if `last`)."""
        self._compress()
        if last:
            self.ready.append(self.coder.tail())
        data = b"".join(self.ready) if len(self.ready) > 1 else self.ready[0]
        self.ready.clear()
        self.size = 0
        return data


def decode(chunk: Chunk) -> bytes:
    """Return a chunk's data as plain bytes."""
    if chunk.coding == Coding.ZSTD:
        return codings.unzstd(chunk.data)
    if chunk.coding == Coding.GZIP:
        return codings.inflate_pieces(chunk.data)
    return chunk.data


def frame_stream(
    chunks: Generator[Chunk, None, None],
    *,
    form: StreamForm = StreamForm(),  # noqa: B008 - frozen, shared safely
    schema: pa.Schema | None = None,
    chunk_bytes: int = 131_072,
    max_points: int = 0,
    max_seconds: float = 0,
    dataset: str | None = None,
) -> Generator[bytes, None, None]:
    """Yield the stream's body: the chunks in `form`, gathered into pieces of about `chunk_bytes`,
    then the end marker, or the error marker if reading the chunks fails midway or a limit is
    hit (`max_points` points, `max_seconds` seconds; 0 = no limit). `schema` is the dataset's
    Arrow schema, needed for Arrow streams and exports (whose chunks are plain Arrow: `store_form`).
    The error marker says what points.stores.errors.failure says of the failure, naming `dataset`.

    Closing this generator early closes `chunks` too, so the store's cursor is released.
    """
    writer = _Writer(form, schema)
    body = _Body(_Coder(form.coding))
    body.add_plain(writer.head())
    sent = 0
    deadline = time.monotonic() + max_seconds if max_seconds else 0.0
    try:
        try:
            for chunk in chunks:
                if not chunk.count:
                    continue
                if max_points and sent + chunk.count > max_points:
                    count = max_points - sent
                    body.add_plain(writer.first(decode(chunk), count))
                    sent += count
                    raise StreamLimit(
                        f"the limit of {max_points:,} points a request was reached; "
                        "query a smaller area to get all of its points"
                    )
                if deadline and time.monotonic() > deadline:
                    raise StreamLimit(f"the query ran longer than {max_seconds:g} s, the limit; query a smaller area")
                if writer.exporter is not None:
                    body.add_plain(writer.rows(decode(chunk)))
                else:
                    body.add(chunk)
                sent += chunk.count
                if body.size >= chunk_bytes:
                    yield body.take()
        except GeneratorExit:
            raise
        except StreamLimit as exc:
            body.add_plain(writer.error(str(exc), sent))
            yield body.take(last=True)
            return
        except Exception as exc:  # the headers are gone: say so in the stream itself
            message = failure(exc, dataset, f"stream the points (past {sent:,}) of").message
            body.add_plain(writer.error(message, sent))
            yield body.take(last=True)
            return
        body.add_plain(writer.end(sent))
        yield body.take(last=True)
    finally:
        chunks.close()
