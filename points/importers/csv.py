"""Read a CSV file with a header row: numbers-only blocks by numpy (the fast path), everything
else row by row through the csv module, which also names the line of any error.

(This module is points.importers.csv; `import csv` here and in its siblings is the standard one.)
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

import numpy as np
import numpy.typing as npt
import orjson

from points.batches import IntArray, PointBatch
from points.importers.shared import (
    INT64_MAX,
    INT64_MIN,
    X_NAMES,
    Y_NAMES,
    Batcher,
    ImportFileError,
    ImportOptions,
    RowError,
    point_id,
    split,
)
from points.importers.text import FastBlocks, prefixed, text_lines, text_start
from points.rules import RESERVED_PROPERTIES, GeometryKind, outside_lon_lat


def pick_column(header: list[str], wanted: str | None, names: tuple[str, ...], axis: str) -> int:
    """Return the position of the column chosen (`wanted`), else of the first of `names` found
    (compared case-insensitively, spaces around a name aside)."""
    lowered = [h.strip().lower() for h in header]
    if wanted is not None:
        if wanted.strip().lower() not in lowered:
            raise ImportFileError(f"line 1: no column {wanted!r} for {axis}; the columns are {', '.join(header)}")
        return lowered.index(wanted.strip().lower())
    for name in names:
        if name in lowered:
            return lowered.index(name)
    raise ImportFileError(
        f"line 1: no {axis} column: name one {', '.join(names)} or choose it; the columns are {', '.join(header)}"
    )


@dataclass
class _CsvLayout:
    header: list[str]
    x: int
    y: int
    id: int
    extra: list[tuple[int, str]]

    @property
    def labels(self) -> tuple[str, str]:
        """The coordinate columns as row errors name them: the user's own names."""
        return (f"column “{self.header[self.x].strip()}”", f"column “{self.header[self.y].strip()}”")


def _csv_layout(header_line: str, options: ImportOptions) -> _CsvLayout:
    try:
        header = next(csv.reader([header_line], strict=True))
    except (csv.Error, StopIteration) as exc:
        raise ImportFileError(f"line 1: {exc}") from None
    if not any(h.strip() for h in header):
        raise ImportFileError("line 1: the header row is empty")
    planar = options.geometry == GeometryKind.PLANAR
    xi = pick_column(header, options.x_column, X_NAMES, "x" if planar else "longitude")
    yi = pick_column(header, options.y_column, Y_NAMES, "y" if planar else "latitude")
    lowered = [h.strip().lower() for h in header]
    ii = lowered.index(options.id_column.lower()) if options.id_column and options.id_column.lower() in lowered else -1
    extra = [(i, h.strip()) for i, h in enumerate(header) if i not in (xi, yi, ii) and h.strip()]
    for _, name in extra:
        if name in RESERVED_PROPERTIES:
            raise ImportFileError(f"line 1: a column may not be named {name!r} (a name the points use themselves)")
    return _CsvLayout(header, xi, yi, ii, extra)


def read_csv(binary: IO[bytes], options: ImportOptions) -> Iterator[PointBatch]:
    """Yield batches from a CSV file with a header row.

    Files of numbers only (x, y and an integer id) are parsed a block at a time by numpy; any
    block that is not that simple, and everything after it, goes through the csv module row by
    row, which also names the line of any error. Both read ids by the one rule (point_id).
    """
    binary = text_start(binary)
    lines = text_lines(binary)
    header_line = next(lines, None)
    if header_line is None or not header_line.strip():
        raise ImportFileError("the file is empty: expected a header row such as x,y")
    layout = _csv_layout(header_line, options)
    batcher = Batcher(options)
    line = 2
    rest: IO[bytes] = binary
    if not layout.extra:
        fast = FastBlocks(binary, first_line=2)
        for block, first_line in fast:
            batch = _csv_block(block, layout, batcher)
            if batch is None:  # not simple: the row-by-row reader takes over from here
                rest, line = prefixed(block + fast.leftover(), binary), first_line
                break
            yield from split(batch, options.batch_points)
        else:
            return
    yield from _csv_rows(rest, line, layout, batcher)


def _scalar(text: str) -> Any:
    """Return a property's CSV cell as int or float when it is one, else as the string."""
    try:
        whole = int(text)
    except ValueError:
        pass
    else:
        return whole if INT64_MIN <= whole <= INT64_MAX else text
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def _csv_rows(binary: IO[bytes], first_line: int, layout: _CsvLayout, batcher: Batcher) -> Iterator[PointBatch]:
    reader = csv.reader(text_lines(binary, first_line), strict=True)
    width = len(layout.header)
    offset = first_line - 1
    labels = layout.labels
    try:
        for row in reader:
            where = f"line {reader.line_num + offset}"
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            try:
                if len(row) != width:
                    raise RowError(f"{where}: {len(row)} fields, but the header has {width}")
                props = {name: _scalar(row[i]) for i, name in layout.extra} if layout.extra else None
                pid = point_id(row[layout.id], where, typed=False) if layout.id >= 0 else None
                batch = batcher.add(where, pid, row[layout.x], row[layout.y], props, labels)
            except RowError as exc:
                batcher.reject(exc)
                continue
            if batch is not None:
                yield batch
    except csv.Error as exc:
        raise ImportFileError(f"line {reader.line_num + offset}: {exc}") from None
    batch = batcher.flush()
    if batch is not None:
        yield batch


# 1 for each byte that is no part of an integer's text (digits, a minus), 0 for those that are.
_NOT_INTEGER = np.array([b not in b"0123456789-" for b in range(256)], dtype=np.bool_)


def _integer_ids(raw: npt.NDArray[np.uint8], ends: IntArray, commas: IntArray, width: int, column: int) -> bool:
    """Return whether the id column's cells hold nothing but digits and minus signs, at most 20
    (a block whose every line has `width` - 1 commas). With the parse that follows (which fails
    on "-" or "1-2"), the fast path reads ids as point_id does: "1.0" or "1e3" go to the row reader,
    and so does an empty cell (a point the row reader numbers)."""
    per_line = commas.reshape(len(ends), width - 1)
    starts = per_line[:, column - 1] + 1 if column > 0 else np.concatenate(([0], ends[:-1] + 1))
    lengths = (per_line[:, column] if column < width - 1 else ends) - starts
    shortest, longest = int(lengths.min()), int(lengths.max())
    if shortest == 0 or longest > 20:  # no integer of 64 bits is longer: let the row reader say so
        return False
    for i in range(longest):  # the i-th byte of every cell at once: ids are short, lines many
        at = starts + i if i < shortest else (starts + i)[lengths > i]
        if _NOT_INTEGER[raw[at]].any():
            return False
    return True


def _csv_block(block: bytes, layout: _CsvLayout, batcher: Batcher) -> PointBatch | None:
    """Return the block's points parsed by numpy, or None when the block needs the row reader."""
    if b'"' in block or b"\x00" in block:
        return None
    if b"\r" in block:
        block = block.replace(b"\r\n", b"\n")
        if b"\r" in block:
            return None
    if not block.endswith(b"\n"):
        block += b"\n"
    if block.startswith(b"\n") or b"\n\n" in block:
        return None
    width = len(layout.header)
    raw = np.frombuffer(block, dtype=np.uint8)
    ends = np.flatnonzero(raw == 10)
    commas = np.flatnonzero(raw == 44)
    per_line = np.diff(np.searchsorted(commas, ends), prepend=0)
    if not (per_line == width - 1).all():
        return None
    if layout.id >= 0 and not _integer_ids(raw, ends, commas, width, layout.id):
        return None
    flat = block.replace(b"\n", b",")
    try:
        # orjson reads numbers far faster than numpy's string casts; JSON numbers are a subset of
        # what a CSV may hold, so anything else (".5", "+1", "1.") falls back to numpy below. JSON's
        # true, false and null are no numbers in a CSV (float64 would make 1, 0 and NaN of them):
        # a block with one of their letters goes to numpy, which refuses them.
        if b"t" in flat or b"f" in flat or b"n" in flat:
            raise ValueError("not JSON numbers only")
        values = np.array(orjson.loads(b"[" + flat[:-1] + b"]"), dtype=np.float64).reshape(len(ends), width)
        xs, ys = values[:, layout.x], values[:, layout.y]
        ids = None
        if layout.id >= 0:
            column = values[:, layout.id]
            if np.abs(column).max() >= 2**53:  # 2**53 + 1 reads as 2**53: take the ids from their text
                cells = np.array(flat.split(b",")[:-1]).reshape(len(ends), width)[:, layout.id]
                try:
                    ids = cells.astype(np.int64)  # _integer_ids checked they are digits
                except OverflowError:  # an id beyond 64 bits, which point_id refuses
                    return None
            else:
                ids = column.astype(np.int64)
    except (orjson.JSONDecodeError, TypeError, ValueError):
        fields = np.array(flat.split(b",")[:-1]).reshape(len(ends), width)
        if fields.dtype.itemsize > 40:  # no plain number is this long: let the row reader say what it is
            return None
        try:
            xs = fields[:, layout.x].astype(np.float64)
            ys = fields[:, layout.y].astype(np.float64)
            ids = fields[:, layout.id].astype(np.int64) if layout.id >= 0 else None
        except (ValueError, OverflowError):  # OverflowError: an id beyond 64 bits, which point_id refuses
            return None
    if not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        return None
    if batcher.spherical and len(outside_lon_lat(xs, ys)):
        return None
    if ids is None:
        ids = np.arange(batcher.next_id, batcher.next_id + len(xs), dtype=np.int64)
    batcher.next_id += len(xs)
    return PointBatch(ids=ids, xs=xs, ys=ys)
