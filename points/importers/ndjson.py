"""Read an NDJSON file, one JSON object a line (`pt` or x/y keys, or a Point Feature): blocks of
plain lines decoded in one call each (the fast path), anything else line by line."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Annotated

import msgspec
import numpy as np

from points.batches import PointBatch
from points.importers.jsondepth import line_too_deep
from points.importers.records import json_record
from points.importers.shared import INT64_MAX, INT64_MIN, Batcher, ImportFileError, ImportOptions, RowError, split
from points.importers.text import FastBlocks, prefixed, text_lines, text_start
from points.rules import outside_lon_lat

_LINE_DECODER = msgspec.json.Decoder()


class _PlainLine(msgspec.Struct, forbid_unknown_fields=True):
    """The common NDJSON line: an optional integer id and a position, nothing else. An id that
    is a JSON integer within 64 bits, as point_id's rule has it (1.0 is no int to msgspec)."""

    pt: tuple[float, float]
    id: Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)] | None = None


_PLAIN_BLOCK = msgspec.json.Decoder(list[_PlainLine])


def _ndjson_block(block: bytes, batcher: Batcher) -> PointBatch | None:
    """Return the block's points when every line is a plain one, else None (row reader)."""
    lines = [line for line in block.split(b"\n") if line.strip()]
    if not lines:
        return None
    try:
        decoded = _PLAIN_BLOCK.decode(b"[" + b",".join(lines) + b"]")
    except msgspec.DecodeError:
        return None
    coords = np.array([p.pt for p in decoded], dtype=np.float64)
    xs, ys = coords[:, 0], coords[:, 1]
    if not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        return None
    if batcher.spherical and len(outside_lon_lat(xs, ys)):
        return None
    if any(p.id is None for p in decoded):
        if not all(p.id is None for p in decoded):
            return None
        ids = np.arange(batcher.next_id, batcher.next_id + len(xs), dtype=np.int64)
    else:
        ids = np.array([p.id for p in decoded], dtype=np.int64)
    batcher.next_id += len(xs)
    return PointBatch(ids=ids, xs=xs, ys=ys)


def read_ndjson(binary: IO[bytes], options: ImportOptions) -> Iterator[PointBatch]:
    """Yield batches from a file of one JSON object per line (`pt` or `x`/`y`, or Point Features).

    Blocks of plain lines (`{"id": 1, "pt": [x, y]}`) are decoded in one call each; the first
    block that is anything else, and all after it, go line by line (which names any bad line).
    """
    batcher = Batcher(options)
    binary = text_start(binary)
    fast = FastBlocks(binary, first_line=1)
    seen = False
    for block, block_line in fast:
        seen = True
        batch = _ndjson_block(block, batcher)
        if batch is None:
            yield from _ndjson_rows(prefixed(block + fast.leftover(), binary), block_line, batcher)
            return
        yield from split(batch, options.batch_points)
    if not seen:
        raise ImportFileError("the file is empty: expected one JSON object per line")


def _ndjson_rows(binary: IO[bytes], first_line: int, batcher: Batcher) -> Iterator[PointBatch]:
    for number, line in enumerate(text_lines(binary, first_line), start=first_line):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            line_too_deep(line, where)
            try:
                obj = _LINE_DECODER.decode(line)
            except msgspec.DecodeError as exc:
                raise RowError(f"{where}: not valid JSON ({exc})") from None
            except RecursionError:  # not reached after line_too_deep; never a crash all the same
                raise RowError(f"{where}: arrays and objects nested too deeply") from None
            batch = batcher.add(where, *json_record(obj, where))
        except RowError as exc:
            batcher.reject(exc)
            continue
        if batch is not None:
            yield batch
    batch = batcher.flush()
    if batch is not None:
        yield batch
