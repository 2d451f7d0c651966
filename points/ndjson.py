"""Encode points as NDJSON lines, pick lines out by mask, and write the stream's end and error lines.

Stream format (application/x-ndjson), one JSON object per line:

* a point: ``{"id":7,"pt":[x,y], ...its properties}``; a point line always has ``"pt"``;
* the last line when all went well: ``{"end":true,"count":N}`` (N = points sent);
* the last line when the server failed after the headers went out:
  ``{"error":"what went wrong","count":N}``.

A stream whose last line is neither was cut (connection lost, proxy timeout).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import msgspec
import numpy as np
import orjson

from points.batches import BoolArray, FloatArray, IntArray

_NEWLINE = 10
_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder()
# The fixed parts of a property-less point line (splice_lines).
_PARTS = (b'{"id":', b',"pt":', b"}\n")


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
        return splice_lines(int_ids.astype(np.int64, copy=False), xs, ys, _PARTS)
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
    return text, line_offsets(text)


def line_offsets(text: bytes) -> IntArray:
    """Return the offsets of the lines of NDJSON bytes (n + 1 of them for n lines)."""
    # JSON encoders escape newlines inside strings, so every raw "\n" ends a line.
    ends = np.flatnonzero(np.frombuffer(text, dtype=np.uint8) == _NEWLINE) + 1
    offsets = np.empty(len(ends) + 1, dtype=np.int64)
    offsets[0] = 0
    offsets[1:] = ends
    return offsets


def splice_lines(
    ids: IntArray, xs: FloatArray, ys: FloatArray, parts: tuple[bytes, bytes, bytes]
) -> tuple[bytes, IntArray]:
    """Return (text, offsets) of one line a point, `head <id> middle [x,y] tail` with `parts` =
    (head, middle, tail), the tail ending the line: orjson writes the numbers, numpy splices."""
    n = len(ids)
    head, middle, tail = (len(part) for part in parts)
    constants = np.frombuffer(b"".join(parts), dtype=np.uint8)
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
    source = np.concatenate([constants, idtext, pairs])
    id_base, pair_base = len(constants), len(constants) + len(idtext)
    # Each line is five segments: head, the id, middle, the pair, tail.
    seg_start = np.empty((n, 5), dtype=np.int64)
    seg_len = np.empty((n, 5), dtype=np.int64)
    seg_start[:, 0], seg_len[:, 0] = 0, head
    seg_start[:, 1], seg_len[:, 1] = id_base + id_start, id_end - id_start
    seg_start[:, 2], seg_len[:, 2] = head, middle
    seg_start[:, 3], seg_len[:, 3] = pair_base + pair_start, pair_end - pair_start
    seg_start[:, 4], seg_len[:, 4] = head + middle, tail
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
    """Return the JSON objects of NDJSON bytes, whole lines only (for the tests and the benchmarks;
    the stores decode their own lines, and a client's stream arrives in pieces: iter_records)."""
    return [_DECODER.decode(line) for line in data.splitlines() if line.strip()]


def iter_records(pieces: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """Yield the JSON objects of an NDJSON byte stream that arrives cut anywhere, as a client reads
    it (the end or error line included)."""
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
