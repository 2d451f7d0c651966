"""Read point files (CSV, GeoJSON, NDJSON) into batches of points, never the whole file at once.

Every reader raises ImportFileError naming the line (or feature) and what is wrong with it.
"""

from __future__ import annotations

import codecs
import csv
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import ijson
import msgspec
import numpy as np

from points.stores.base import GeometryKind, PointBatch

Format = Literal["csv", "geojson", "ndjson"]
FORMATS: tuple[Format, ...] = ("csv", "geojson", "ndjson")
BATCH_POINTS = 65_536
# A single line longer than this is refused rather than read into memory.
MAX_LINE_BYTES = 1 << 20

X_NAMES = ("x", "lon", "lng", "long", "longitude")
Y_NAMES = ("y", "lat", "latitude")


class ImportFileError(ValueError):
    """The file cannot be imported; the message names the line and the problem."""


@dataclass
class ImportOptions:
    """How to read a file: its format, geometry kind and, for CSV, the coordinate columns."""

    format: Format
    geometry: GeometryKind = "planar"
    x_column: str | None = None
    y_column: str | None = None
    id_column: str | None = "id"
    batch_points: int = BATCH_POINTS


def guess_format(filename: str) -> Format:
    """Return the format a file name suggests, or raise ImportFileError."""
    suffix = Path(filename).suffix.lower()
    known: dict[str, Format] = {
        ".csv": "csv", ".geojson": "geojson", ".json": "geojson", ".ndjson": "ndjson", ".jsonl": "ndjson",
    }
    if suffix not in known:
        raise ImportFileError(
            f"cannot tell the format of {Path(filename).name!r}: name it .csv, .geojson or .ndjson, or give the format"
        )
    return known[suffix]


class _Batcher:
    """Collects points and hands out PointBatches of a fixed size."""

    def __init__(self, options: ImportOptions) -> None:
        self.options = options
        self.spherical = options.geometry == "spherical"
        self.next_id = 0
        self._reset()

    def _reset(self) -> None:
        self.ids: list[int | str] = []
        self.xs: list[float] = []
        self.ys: list[float] = []
        self.props: list[dict[str, Any]] = []
        self.any_props = False

    def add(self, where: str, pid: Any, x: Any, y: Any, props: dict[str, Any] | None) -> PointBatch | None:
        fx = _coordinate(x, where, "x")
        fy = _coordinate(y, where, "y")
        if self.spherical and not (-180.0 <= fx <= 180.0 and -90.0 <= fy <= 90.0):
            raise ImportFileError(
                f"{where}: [{fx:g}, {fy:g}] is out of range for spherical data "
                "(longitude -180..180, latitude -90..90)"
            )
        if pid is None or pid == "":
            pid = self.next_id
        elif isinstance(pid, bool) or not isinstance(pid, (int, str)):
            raise ImportFileError(f"{where}: id must be an integer or a string, got {pid!r}")
        self.next_id += 1
        self.ids.append(pid)
        self.xs.append(fx)
        self.ys.append(fy)
        self.props.append(props or {})
        self.any_props = self.any_props or bool(props)
        if len(self.xs) >= self.options.batch_points:
            return self.flush()
        return None

    def flush(self) -> PointBatch | None:
        if not self.xs:
            return None
        ids: Any = self.ids
        if all(type(i) is int for i in ids):
            ids = np.array(ids, dtype=np.int64)
        batch = PointBatch(
            ids=ids,
            xs=np.array(self.xs, dtype=np.float64),
            ys=np.array(self.ys, dtype=np.float64),
            properties=self.props if self.any_props else None,
        )
        self._reset()
        return batch


def _coordinate(value: Any, where: str, axis: str) -> float:
    if isinstance(value, bool) or value is None:
        raise ImportFileError(f"{where}: {axis} is missing or not a number ({value!r})")
    try:
        number = float(value)
    except (TypeError, ValueError):
        shown = value if not isinstance(value, str) or len(value) <= 40 else value[:40] + "…"
        raise ImportFileError(f"{where}: {axis} is not a number: {shown!r}") from None
    if not math.isfinite(number):
        raise ImportFileError(f"{where}: {axis} must be a finite number, got {value!r}")
    return number


def _scalar(text: str) -> Any:
    """Return a CSV cell as int or float when it is one, else as the string."""
    try:
        return int(text)
    except ValueError:
        pass
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text


def _pick(header: list[str], wanted: str | None, names: tuple[str, ...], axis: str) -> int:
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


def _text_lines(binary: IO[bytes]) -> Iterator[str]:
    """Yield the file's lines as text (UTF-8, BOM dropped), refusing over-long lines and binary data."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    number = 0
    while True:
        raw = binary.readline(MAX_LINE_BYTES + 1)
        if not raw:
            break
        number += 1
        if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
            raise ImportFileError(f"line {number}: longer than {MAX_LINE_BYTES:,} bytes; is this a point file?")
        if b"\x00" in raw:
            raise ImportFileError(f"line {number}: contains NUL bytes; this is not a text file")
        try:
            yield decoder.decode(raw)
        except UnicodeDecodeError as exc:
            raise ImportFileError(f"line {number}: not valid UTF-8 ({exc.reason})") from None


def read_csv(binary: IO[bytes], options: ImportOptions) -> Iterator[PointBatch]:
    """Yield batches from a CSV file with a header row."""
    reader = csv.reader(_text_lines(binary), strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise ImportFileError("the file is empty: expected a header row such as x,y") from None
    except csv.Error as exc:
        raise ImportFileError(f"line 1: {exc}") from None
    if not any(h.strip() for h in header):
        raise ImportFileError("line 1: the header row is empty")
    xi = _pick(header, options.x_column, X_NAMES, "x" if options.geometry == "planar" else "longitude")
    yi = _pick(header, options.y_column, Y_NAMES, "y" if options.geometry == "planar" else "latitude")
    lowered = [h.strip().lower() for h in header]
    ii = lowered.index(options.id_column.lower()) if options.id_column and options.id_column.lower() in lowered else -1
    extra = [(i, h.strip()) for i, h in enumerate(header) if i not in (xi, yi, ii) and h.strip()]
    for _, name in extra:
        if name in ("pt",):
            raise ImportFileError("line 1: a column may not be named 'pt' (it is the point's position)")
    width = len(header)
    batcher = _Batcher(options)
    try:
        for row in reader:
            where = f"line {reader.line_num}"
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) != width:
                raise ImportFileError(f"{where}: {len(row)} fields, but the header has {width}")
            props = {name: _scalar(row[i]) for i, name in extra} if extra else None
            pid: Any = row[ii] if ii >= 0 else None
            if isinstance(pid, str) and pid.lstrip("-").isdigit():
                pid = int(pid)
            batch = batcher.add(where, pid, row[xi], row[yi], props)
            if batch is not None:
                yield batch
    except csv.Error as exc:
        raise ImportFileError(f"line {reader.line_num}: {exc}") from None
    batch = batcher.flush()
    if batch is not None:
        yield batch


_LINE_DECODER = msgspec.json.Decoder()


def _record(obj: Any, where: str) -> tuple[Any, Any, Any, dict[str, Any] | None]:
    """Return (id, x, y, properties) of an NDJSON object or GeoJSON Point Feature."""
    if not isinstance(obj, dict):
        raise ImportFileError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    if obj.get("type") == "Feature":
        geometry = obj.get("geometry")
        if not isinstance(geometry, dict) or geometry.get("type") != "Point":
            got = geometry.get("type") if isinstance(geometry, dict) else geometry
            raise ImportFileError(f"{where}: the feature's geometry must be a Point, got {got!r}")
        coords = geometry.get("coordinates")
        if not isinstance(coords, list) or len(coords) < 2:
            raise ImportFileError(f"{where}: a Point needs coordinates [x, y], got {coords!r}")
        props = obj.get("properties") or None
        if props is not None and not isinstance(props, dict):
            raise ImportFileError(f"{where}: properties must be an object")
        if props is not None:
            props = {k: v for k, v in props.items() if k not in ("id", "pt")} or None
        return obj.get("id"), coords[0], coords[1], props
    if "pt" in obj:
        pt = obj["pt"]
        if not isinstance(pt, list) or len(pt) != 2:
            raise ImportFileError(f"{where}: pt must be [x, y], got {pt!r}")
        x, y = pt
        keys = ("id", "pt")
    else:
        xk = next((k for k in X_NAMES if k in obj), None)
        yk = next((k for k in Y_NAMES if k in obj), None)
        if xk is None or yk is None:
            raise ImportFileError(f"{where}: needs \"pt\": [x, y] or \"x\" and \"y\" fields")
        x, y = obj[xk], obj[yk]
        keys = ("id", xk, yk)
    props = {k: v for k, v in obj.items() if k not in keys} or None
    return obj.get("id"), x, y, props


def read_ndjson(binary: IO[bytes], options: ImportOptions) -> Iterator[PointBatch]:
    """Yield batches from a file of one JSON object per line (`pt` or `x`/`y`, or Point Features)."""
    batcher = _Batcher(options)
    number = 0
    for number, line in enumerate(_text_lines(binary), start=1):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            obj = _LINE_DECODER.decode(line)
        except msgspec.DecodeError as exc:
            raise ImportFileError(f"{where}: not valid JSON ({exc})") from None
        batch = batcher.add(where, *_record(obj, where))
        if batch is not None:
            yield batch
    if number == 0:
        raise ImportFileError("the file is empty: expected one JSON object per line")
    batch = batcher.flush()
    if batch is not None:
        yield batch


def read_geojson(binary: IO[bytes], options: ImportOptions) -> Iterator[PointBatch]:
    """Yield batches from a GeoJSON FeatureCollection of Points, parsed incrementally."""
    batcher = _Batcher(options)
    head = binary.read(4096)
    if not head.strip():
        raise ImportFileError("the file is empty: expected a GeoJSON FeatureCollection")
    if b"\x00" in head:
        raise ImportFileError("this is not a text file")
    stream = _Prefixed(head, binary)
    count = 0
    try:
        for count, feature in enumerate(ijson.items(stream, "features.item", use_float=True), start=1):
            batch = batcher.add(f"feature {count}", *_record(feature, f"feature {count}"))
            if batch is not None:
                yield batch
    except ijson.JSONError as exc:
        raise ImportFileError(f"not valid JSON after feature {count}: {exc}") from None
    if count == 0:
        raise ImportFileError("no features found: expected a FeatureCollection with a \"features\" list of Points")
    batch = batcher.flush()
    if batch is not None:
        yield batch


class _Prefixed(io.RawIOBase):
    """A binary stream that first returns `head`, then the rest of `tail`."""

    def __init__(self, head: bytes, tail: IO[bytes]) -> None:
        self.head = head
        self.tail = tail

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self.head:
            n = min(len(view), len(self.head))
            view[:n] = self.head[:n]
            self.head = self.head[n:]
            return n
        data = self.tail.read(len(view))
        view[: len(data)] = data
        return len(data)


READERS = {"csv": read_csv, "geojson": read_geojson, "ndjson": read_ndjson}


def read_points(binary: IO[bytes], options: ImportOptions) -> Iterator[PointBatch]:
    """Yield the file's points in batches, in the given format."""
    return READERS[options.format](binary, options)
