"""Encode points as NDJSON lines, pick lines out by mask, and frame a store's chunks as a stream.

Stream format (application/x-ndjson), one JSON object per line:

* a point: ``{"id":7,"pt":[x,y], ...its properties}``; a point line always has ``"pt"``;
* the last line when all went well: ``{"end":true,"count":N}`` (N = points sent);
* the last line when the server failed after the headers went out:
  ``{"error":"what went wrong","count":N}``.

A stream whose last line is neither was cut (connection lost, proxy timeout).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import msgspec
import numpy as np
import numpy.typing as npt
import orjson

if TYPE_CHECKING:
    from points.stores.base import Chunk

logger = logging.getLogger(__name__)

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

RESERVED_KEYS = frozenset({"id", "pt"})
_NEWLINE = 10
_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder()
# The fixed parts of a property-less point line, kept together in one buffer for the gather.
_CONSTANTS = np.frombuffer(b'{"id":' + b',"pt":' + b"}\n", dtype=np.uint8)


def encode_points(
    ids: Sequence[int | str] | IntArray,
    xs: FloatArray,
    ys: FloatArray,
    properties: Sequence[dict[str, Any]] | None = None,
) -> tuple[bytes, IntArray]:
    """Return (text, offsets): the points as NDJSON lines, line i being text[offsets[i]:offsets[i+1]].

    Points without properties and with integer ids take a vectorized path (orjson writes the
    numbers, numpy splices them into lines); the rest go through msgspec's encode_lines.
    """
    n = len(xs)
    if n == 0:
        return b"", np.zeros(1, dtype=np.int64)
    int_ids = ids if isinstance(ids, np.ndarray) else None
    if int_ids is None and properties is None and all(type(i) is int for i in ids):
        int_ids = np.asarray(ids, dtype=np.int64)
    if properties is None and int_ids is not None and int_ids.dtype.kind in "iu":
        return _encode_plain(int_ids.astype(np.int64, copy=False), xs, ys)
    id_list = ids.tolist() if isinstance(ids, np.ndarray) else list(ids)
    if properties is None:
        records: list[dict[str, Any]] = [
            {"id": i, "pt": [x, y]} for i, x, y in zip(id_list, xs.tolist(), ys.tolist(), strict=True)
        ]
    else:
        records = [
            {"id": i, "pt": [x, y], **p}
            for i, x, y, p in zip(id_list, xs.tolist(), ys.tolist(), properties, strict=True)
        ]
    text = _ENCODER.encode_lines(records)
    return text, _line_offsets(text)


def _line_offsets(text: bytes) -> IntArray:
    # JSON encoders escape newlines inside strings, so every raw "\n" ends a line.
    ends = np.flatnonzero(np.frombuffer(text, dtype=np.uint8) == _NEWLINE) + 1
    offsets = np.empty(len(ends) + 1, dtype=np.int64)
    offsets[0] = 0
    offsets[1:] = ends
    return offsets


def _encode_plain(ids: IntArray, xs: FloatArray, ys: FloatArray) -> tuple[bytes, IntArray]:
    n = len(ids)
    pairs = np.frombuffer(orjson.dumps(np.column_stack([xs, ys]), option=orjson.OPT_SERIALIZE_NUMPY), np.uint8)
    idtext = np.frombuffer(orjson.dumps(ids, option=orjson.OPT_SERIALIZE_NUMPY), np.uint8)
    # "[[x,y],[x,y]]": numbers never contain brackets, so brackets delimit the pairs.
    pair_start = np.flatnonzero(pairs == ord("["))[1:]
    pair_end = np.flatnonzero(pairs == ord("]"))[:-1] + 1
    # "[1,2,3]": commas delimit the ids.
    commas = np.flatnonzero(idtext == ord(","))
    id_start = np.empty(n, dtype=np.int64)
    id_start[0] = 1
    id_start[1:] = commas + 1
    id_end = np.empty(n, dtype=np.int64)
    id_end[:-1] = commas
    id_end[-1] = len(idtext) - 1
    source = np.concatenate([_CONSTANTS, idtext, pairs])
    id_base, pair_base = len(_CONSTANTS), len(_CONSTANTS) + len(idtext)
    # Each line is five segments: {"id":  <id>  ,"pt":  <pair>  }\n
    seg_start = np.empty((n, 5), dtype=np.int64)
    seg_len = np.empty((n, 5), dtype=np.int64)
    seg_start[:, 0], seg_len[:, 0] = 0, 6
    seg_start[:, 1], seg_len[:, 1] = id_base + id_start, id_end - id_start
    seg_start[:, 2], seg_len[:, 2] = 6, 6
    seg_start[:, 3], seg_len[:, 3] = pair_base + pair_start, pair_end - pair_start
    seg_start[:, 4], seg_len[:, 4] = 12, 2
    flat_len = seg_len.ravel()
    out_start = np.cumsum(flat_len) - flat_len
    gather = np.repeat(seg_start.ravel() - out_start, flat_len)
    gather += np.arange(len(gather), dtype=np.int64)
    text = source[gather].tobytes()
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(seg_len.sum(axis=1), out=offsets[1:])
    return text, offsets


def select_lines(text: bytes, offsets: IntArray, mask: BoolArray) -> bytes:
    """Return the lines of `text` whose mask entry is True, in order."""
    if mask.all():
        return text
    if not mask.any():
        return b""
    lengths = np.diff(offsets)
    keep = np.repeat(mask, lengths)
    return np.frombuffer(text, dtype=np.uint8)[keep].tobytes()


def decode_lines(data: bytes) -> list[dict[str, Any]]:
    """Return the JSON objects of NDJSON bytes (for tests, tools and the MongoDB store)."""
    return [_DECODER.decode(line) for line in data.splitlines() if line.strip()]


def iter_records(pieces: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """Yield the JSON objects of an NDJSON byte stream that arrives cut anywhere (a client's reader)."""
    rest = b""
    for piece in pieces:
        data = rest + piece
        lines = data.split(b"\n")
        rest = lines.pop()
        for line in lines:
            if line.strip():
                yield _DECODER.decode(line)
    if rest.strip():
        yield _DECODER.decode(rest)


def end_line(count: int) -> bytes:
    """Return the line that closes a complete stream."""
    return orjson.dumps({"end": True, "count": count}) + b"\n"


def error_line(message: str, count: int) -> bytes:
    """Return the line that closes a stream cut short by a server-side failure."""
    return orjson.dumps({"error": message, "count": count}) + b"\n"


class StreamLimit(Exception):
    """A per-request limit stopped the stream; the message says which and what to do."""


def _first_lines(data: bytes, n: int) -> bytes:
    end = -1
    for _ in range(n):
        end = data.index(b"\n", end + 1)
    return data[: end + 1]


def frame_stream(
    chunks: Iterable[Chunk],
    *,
    chunk_bytes: int = 131_072,
    max_points: int = 0,
    max_seconds: float = 0,
) -> Generator[bytes, None, None]:
    """Yield the stream's body: the chunks' lines gathered into pieces of about `chunk_bytes`,
    then the end line, or the error line if reading the chunks fails midway or a limit is hit
    (`max_points` points, `max_seconds` seconds; 0 = no limit).

    Closing this generator early closes `chunks` too, so the store's cursor is released.
    """
    sent = 0
    pending: list[bytes] = []
    pending_size = 0
    iterator = iter(chunks)
    deadline = time.monotonic() + max_seconds if max_seconds else 0.0
    try:
        try:
            for chunk in iterator:
                count, data = chunk.count, chunk.ndjson
                if not data:
                    continue
                if max_points and sent + count > max_points:
                    count = max_points - sent
                    data = _first_lines(data, count)
                    pending.append(data)
                    sent += count
                    raise StreamLimit(
                        f"the limit of {max_points:,} points a request was reached; "
                        "query a smaller area to get all of its points"
                    )
                if deadline and time.monotonic() > deadline:
                    raise StreamLimit(f"the query ran longer than {max_seconds:g} s, the limit; query a smaller area")
                if pending_size + len(data) >= chunk_bytes:
                    if pending:
                        pending.append(data)
                        yield b"".join(pending)
                        pending.clear()
                        pending_size = 0
                    else:
                        yield data
                    sent += count
                    continue
                pending.append(data)
                pending_size += len(data)
                sent += count
        except GeneratorExit:
            raise
        except Exception as exc:  # the headers are gone: say so in the stream itself
            if not isinstance(exc, StreamLimit):
                logger.exception("point stream failed after %d points", sent)
            if pending:
                yield b"".join(pending)
            yield error_line(_public_message(exc), sent)
            return
        pending.append(end_line(sent))
        yield b"".join(pending)
    finally:
        close = getattr(iterator, "close", None)
        if close is not None:
            close()


def _public_message(exc: Exception) -> str:
    # Store errors carry messages written for users; anything else stays in the server log.
    from points.stores.base import StoreError

    if isinstance(exc, (StoreError, StreamLimit)):
        return str(exc)
    return "the server failed while reading the points; the stream is incomplete"
