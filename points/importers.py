"""Read point files (CSV, GeoJSON, NDJSON) into batches of points, never the whole file at once.

Every reader raises ImportFileError naming the line (or feature) and what is wrong with it.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Annotated, Any, Literal

import ijson
import msgspec
import numpy as np
import orjson

from points.batches import IntArray
from points.stores.base import GeometryKind, PointBatch

Format = Literal["csv", "geojson", "ndjson"]
FORMATS: tuple[Format, ...] = ("csv", "geojson", "ndjson")
BATCH_POINTS = 65_536
# A single line longer than this is refused rather than read into memory.
MAX_LINE_BYTES = 1 << 20
# The most a point's properties may take as JSON: what a line can hold. A GeoJSON feature has no
# line to bound it, and one MongoDB document holds at most 16 MiB: the rule is here, the same for
# every store (a point over it is a row error, which --skip-bad-rows skips).
MAX_PROPERTIES_BYTES = MAX_LINE_BYTES
# The deepest nesting of arrays and objects a GeoJSON file or an NDJSON line may have. In a
# FeatureCollection a Point's coordinates are 5 levels deep and a property's value starts at the
# 5th, which leaves properties ~60 levels of their own. Checked on the bytes before any parser
# sees them: ijson's memory grows with the square of the depth (+240 MB for 10,000 levels in 20 KB,
# +3.8 GB for 40,000 in 80 KB), msgspec's recursion limit would end an NDJSON import in a crash.
MAX_JSON_DEPTH = 64
UTF16_MESSAGE = "UTF-16 is not supported; save as UTF-8"

X_NAMES = ("x", "lon", "lng", "long", "longitude")
Y_NAMES = ("y", "lat", "latitude")
# Coordinate names that mean lon/lat (compared case-insensitively): a file read through them is
# guessed spherical (guess_geometry).
LON_NAMES = ("lon", "lng", "long", "longitude")
LAT_NAMES = ("lat", "latitude")
# How much of a file's start guess_geometry reads: a CSV header, or a first record.
GUESS_BYTES = 1 << 16


class ImportFileError(ValueError):
    """The file cannot be imported; the message names the line and the problem."""


class RowError(ImportFileError):
    """One row (line, feature) is bad; in skip mode it is counted and left out."""


MAX_REPORTED_ERRORS = 20


@dataclass
class ImportReport:
    """What an import left out: how many rows, and the first few reasons with their lines."""

    rejected: int = 0
    errors: list[str] = field(default_factory=list)
    bytes_read: int = 0


@dataclass
class ImportOptions:
    """How to read a file: its format, geometry kind and, for CSV, the coordinate columns."""

    format: Format
    geometry: GeometryKind = GeometryKind.PLANAR
    x_column: str | None = None
    y_column: str | None = None
    id_column: str | None = "id"
    batch_points: int = BATCH_POINTS
    #: leave bad rows out (and report them) instead of refusing the whole file
    skip_bad_rows: bool = False
    report: ImportReport = field(default_factory=ImportReport)


def guess_format(filename: str) -> Format:
    """Return the format a file name suggests, or raise ImportFileError."""
    suffix = Path(filename).suffix.lower()
    known: dict[str, Format] = {
        ".csv": "csv",
        ".geojson": "geojson",
        ".json": "geojson",
        ".ndjson": "ndjson",
        ".jsonl": "ndjson",
    }
    if suffix not in known:
        raise ImportFileError(
            f"cannot tell the format of {Path(filename).name!r}: name it .csv, .geojson or .ndjson, or give the format"
        )
    return known[suffix]


@dataclass(frozen=True)
class GeometryGuess:
    """The geometry kind a file's start suggests, and why (words for the user)."""

    kind: GeometryKind
    why: str


#: how messages call each kind
KIND_WORDS: dict[str, str] = {"planar": "planar (x/y)", "spherical": "lon/lat"}


def choose_geometry(chosen: str, existing: str | None, guess: GeometryGuess | None) -> tuple[GeometryKind, str]:
    """Return the geometry kind an import is of, and why (words for the user): the kind chosen
    (`chosen`, "" for none); else the dataset's own (`existing`), when it is imported again (after
    a failure, or replaced); else the file's guess (planar without one)."""
    if chosen:
        return (GeometryKind.SPHERICAL if chosen == "spherical" else GeometryKind.PLANAR), "as chosen"
    if existing is not None:
        kept: GeometryKind = GeometryKind.SPHERICAL if existing == "spherical" else GeometryKind.PLANAR
        why = "kept from the dataset"
        if guess is not None and guess.kind != kept:
            why += f"; the file looks {KIND_WORDS[guess.kind]}, {guess.why}: choose that kind to change it"
        return kept, why
    if guess is None:
        return GeometryKind.PLANAR, "nothing to guess from"
    return guess.kind, guess.why


def _lon_lat(x_name: str, y_name: str) -> bool:
    return x_name.strip().lower() in LON_NAMES and y_name.strip().lower() in LAT_NAMES


def _named_guess(x_name: str, y_name: str, what: str) -> GeometryGuess:
    kind: GeometryKind = GeometryKind.SPHERICAL if _lon_lat(x_name, y_name) else GeometryKind.PLANAR
    return GeometryGuess(kind, f"guessed from the {what} “{x_name.strip()}”, “{y_name.strip()}”")


def guess_geometry(
    head: bytes, fmt: Format, *, x_column: str | None = None, y_column: str | None = None
) -> GeometryGuess:
    """Guess whether a file is lon/lat (spherical) or x/y (planar) from its start (`head`, up to
    GUESS_BYTES): from the names of the coordinates its import would read, a CSV's columns (those
    chosen, or found as read_csv finds them) or the first NDJSON record's keys; GeoJSON
    coordinates are lon/lat by the spec (RFC 7946), unless its first point cannot be one. Never
    raises: what cannot be read is guessed planar, and the import itself reports the problem."""
    text = head.removeprefix(codecs.BOM_UTF8).decode("utf-8", errors="replace")
    if fmt == "csv":
        try:
            header = next(csv.reader([text.splitlines()[0] if text else ""]))
            xi = _pick(header, x_column, X_NAMES, "x")
            yi = _pick(header, y_column, Y_NAMES, "y")
        except (csv.Error, StopIteration, IndexError, ImportFileError):
            return GeometryGuess(GeometryKind.PLANAR, "no lon/lat columns found")
        return _named_guess(header[xi], header[yi], "columns")
    if fmt == "ndjson":
        first = next((line for line in text.splitlines() if line.strip()), "")
        try:
            obj = orjson.loads(first)
        except orjson.JSONDecodeError:
            return GeometryGuess(GeometryKind.PLANAR, "the first line could not be read")
        if isinstance(obj, dict) and obj.get("type") == "Feature":
            return _geojson_guess(obj, "its lines are GeoJSON Features, whose coordinates are lon/lat")
        if not isinstance(obj, dict) or "pt" in obj:
            return GeometryGuess(GeometryKind.PLANAR, "its points are “pt”: [x, y], with no lon/lat names")
        xk = next((k for k in X_NAMES if k in obj), None)
        yk = next((k for k in Y_NAMES if k in obj), None)
        if xk is None or yk is None:
            return GeometryGuess(GeometryKind.PLANAR, "no lon/lat keys found")
        return _named_guess(xk, yk, "keys")
    feature: Any = None
    # A first feature longer than the head (or no JSON at all): go by the spec.
    with contextlib.suppress(ijson.JSONError, ValueError):
        feature = next(ijson.items(io.BytesIO(head.removeprefix(codecs.BOM_UTF8)), "features.item"), None)
    return _geojson_guess(feature, "GeoJSON coordinates are lon/lat")


def _geojson_guess(feature: Any, why: str) -> GeometryGuess:
    """Return lon/lat for a GeoJSON Feature, unless its Point is out of the lon/lat range."""
    try:
        x, y = (float(v) for v in feature["geometry"]["coordinates"][:2])
    except (TypeError, KeyError, ValueError, IndexError):
        return GeometryGuess(GeometryKind.SPHERICAL, f"{why} (RFC 7946)")
    if -180 <= x <= 180 and -90 <= y <= 90:
        return GeometryGuess(GeometryKind.SPHERICAL, f"{why} (RFC 7946)")
    return GeometryGuess(GeometryKind.PLANAR, f"the first point, [{x:g}, {y:g}], is not lon/lat")


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

    def reject(self, error: RowError) -> None:
        """Count a bad row in skip mode; refuse the file otherwise."""
        if not self.options.skip_bad_rows:
            raise error
        report = self.options.report
        report.rejected += 1
        if len(report.errors) < MAX_REPORTED_ERRORS:
            report.errors.append(str(error))

    def add(
        self,
        where: str,
        pid: Any,
        x: Any,
        y: Any,
        props: dict[str, Any] | None,
        labels: tuple[str, str] = ("x", "y"),
        *,
        big: bool = False,
    ) -> PointBatch | None:
        """Take one point; `labels` name its coordinates as the file does (a CSV's own columns);
        `big`: the point's record may be too big for MAX_PROPERTIES_BYTES (its size is checked)."""
        fx = _coordinate(x, where, labels[0])
        fy = _coordinate(y, where, labels[1])
        if self.spherical and not (-180.0 <= fx <= 180.0 and -90.0 <= fy <= 90.0):
            pairs = zip(labels, (fx, fy), (180.0, 90.0), strict=True)
            wrong = [f"{label} is {v:g}" for label, v, top in pairs if not -top <= v <= top]
            raise RowError(
                f"{where}: {' and '.join(wrong)}, out of range for spherical data "
                "(longitude -180..180, latitude -90..90)"
            )
        if pid is None or pid == "":
            pid = self.next_id
        elif isinstance(pid, bool) or not isinstance(pid, (int, str)):
            raise RowError(f"{where}: id must be an integer or a string, got {pid!r}")
        elif isinstance(pid, int) and not _INT64_MIN <= pid <= _INT64_MAX:
            raise RowError(f"{where}: id {pid} is too large for a 64-bit integer; quote it to keep it as a string")
        if props:
            _check_properties(props, where)
            if big:
                _check_size(props, where)
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


_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
RESERVED_PROPERTIES = ("id", "pt", "_id")


_NUL = "\x00"
_NUL_NAME = "has a NUL character (\\u0000) in its name, which no store can keep as a name"


def _check_properties(props: dict[str, Any], where: str) -> None:
    """Refuse what a store could not keep as it is: reserved names, names with a NUL character
    (MongoDB's names end at one), integers beyond 64 bits; in nested objects too."""
    for key, value in props.items():
        if key in RESERVED_PROPERTIES:
            raise RowError(f"{where}: a property may not be named {key!r}")
        if _NUL in key:
            raise RowError(f"{where}: property {_shown(key)} {_NUL_NAME}")
        problem = _unkept(value) if isinstance(value, (int, list, dict)) else None
        if problem is not None:
            raise RowError(f"{where}: property {key!r} {problem}")


def _unkept(value: Any) -> str | None:
    """Say what in a property's value a store could not keep (None: nothing)."""
    if isinstance(value, int) and not isinstance(value, bool):
        if _INT64_MIN <= value <= _INT64_MAX:
            return None
        return "holds an integer beyond 64 bits; quote it to keep it as a string"
    if isinstance(value, list):
        return next((p for p in map(_unkept, value) if p is not None), None)
    if isinstance(value, dict):
        for key, item in value.items():
            if _NUL in key:
                return f"holds an object whose key {_shown(key)} {_NUL_NAME}"
            problem = _unkept(item)
            if problem is not None:
                return problem
    return None


def _shown(name: str) -> str:
    """A name as a message shows it: quoted, escaped, at most 40 characters."""
    return repr(name if len(name) <= 40 else name[:40] + "…")


def _check_size(props: dict[str, Any], where: str) -> None:
    """Refuse properties taking more than MAX_PROPERTIES_BYTES as JSON (after _check_properties:
    every integer fits 64 bits)."""
    size = len(orjson.dumps(props))
    if size > MAX_PROPERTIES_BYTES:
        raise RowError(
            f"{where}: its properties take {size:,} bytes as JSON, more than the {MAX_PROPERTIES_BYTES:,} "
            "a point may have"
        )


def _coordinate(value: Any, where: str, label: str) -> float:
    """Return a coordinate as a float; `label` names it as the user's file does (`column “lon”`)."""
    if isinstance(value, bool) or value is None:
        raise RowError(f"{where}: {label} is missing or not a number ({value!r})")
    try:
        number = float(value)
    except (TypeError, ValueError):
        shown = value if not isinstance(value, str) or len(value) <= 40 else value[:40] + "…"
        raise RowError(f"{where}: {label} is not a number: {shown!r}") from None
    if not math.isfinite(number):
        raise RowError(f"{where}: {label} must be a finite number, got {value!r}")
    return number


def _scalar(text: str) -> Any:
    """Return a CSV cell as int or float when it is one, else as the string."""
    try:
        whole = int(text)
    except ValueError:
        pass
    else:
        return whole if _INT64_MIN <= whole <= _INT64_MAX else text
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


_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32 is not supported; save as UTF-8"),
    (codecs.BOM_UTF32_BE, "UTF-32 is not supported; save as UTF-8"),
    (codecs.BOM_UTF16_LE, UTF16_MESSAGE),
    (codecs.BOM_UTF16_BE, UTF16_MESSAGE),
)


def _text_start(binary: IO[bytes]) -> IO[bytes]:
    """Return the file from its first byte of text: a UTF-8 BOM dropped, UTF-16 and UTF-32 refused."""
    head = binary.read(4096)
    for bom, message in _BOMS:
        if head.startswith(bom):
            raise ImportFileError(message)
    # Without a BOM, UTF-16 shows as ASCII text with a NUL before or after every character.
    if len(head) >= 4 and (
        (head[0] and head[2] and not head[1] and not head[3]) or (head[1] and head[3] and not head[0] and not head[2])
    ):
        raise ImportFileError(UTF16_MESSAGE)
    return _prefixed(head.removeprefix(codecs.BOM_UTF8), binary)


@dataclass
class _DepthScan:
    """Follows how deeply the JSON text fed to it nests, across pieces, and says where it first
    nests deeper than `limit` (brackets inside strings do not count). numpy, ~120 MB/s: a small
    part of parsing GeoJSON (~9 MB/s)."""

    PIECE_BYTES = 1 << 16  # fed in pieces of at most this, so its arrays stay small (~2 MB)

    limit: int = MAX_JSON_DEPTH
    depth: int = 0
    in_string: bool = False
    escaped: bool = False  # the previous piece ended in an unfinished escape (an odd run of backslashes)
    offset: int = 0  # bytes fed so far

    def feed(self, data: bytes) -> int | None:
        """Take the next bytes; return the offset in them of the first byte too deep, or None."""
        for at in range(0, len(data), self.PIECE_BYTES):
            where = self._feed(data[at : at + self.PIECE_BYTES])
            if where is not None:
                self.offset -= at
                return at + where
        return None

    def _feed(self, data: bytes) -> int | None:
        start = self.offset
        self.offset += len(data)
        if not data:
            return None
        kinds = np.frombuffer(data.translate(_JSON_BYTE_KINDS), dtype=np.uint8)
        marks = (kinds != 0).nonzero()[0]  # the few bytes that matter: brackets, quotes, backslashes
        kind = kinds[marks]
        quotes = marks[kind == _QUOTE]
        slashes = marks[kind == _BACKSLASH]
        if len(slashes) or self.escaped:
            quotes = self._unescaped(quotes, slashes, len(data))
        brackets = marks[(kind == _OPEN) | (kind == _CLOSE)]
        # Brackets outside strings: an even count of real quotes before them (given the state at the start).
        outside = (np.searchsorted(quotes, brackets) + self.in_string) % 2 == 0
        brackets = brackets[outside]
        depths = self.depth + np.cumsum(np.where(kinds[brackets] == _OPEN, 1, -1))
        self.in_string = bool((len(quotes) + self.in_string) % 2)
        if len(depths):
            self.depth = int(depths[-1])
            too_deep = np.flatnonzero(depths > self.limit)
            if len(too_deep):
                self.offset = start  # stays where it failed
                return int(brackets[too_deep[0]])
        return None

    def _unescaped(self, quotes: IntArray, slashes: IntArray, size: int) -> IntArray:
        """Return the quotes not escaped: not just after an odd run of backslashes (a run that
        starts the piece continues the last one's), and note whether the piece ends mid-escape."""
        breaks = np.flatnonzero(np.diff(slashes) != 1) + 1
        starts = slashes[np.concatenate(([0], breaks))] if len(slashes) else slashes
        ends = slashes[np.concatenate((breaks - 1, [len(slashes) - 1]))] + 1 if len(slashes) else slashes
        lengths = ends - starts
        if self.escaped:
            if len(starts) and starts[0] == 0:
                lengths[0] += 1
            else:  # the piece's first byte is the one escaped
                starts, ends, lengths = (np.concatenate(([0], a)) for a in (starts, ends, lengths))
                ends[0], lengths[0] = 0, 1
        odd_ends = ends[lengths % 2 == 1]
        at = np.minimum(np.searchsorted(odd_ends, quotes), max(len(odd_ends) - 1, 0))
        escaped = odd_ends[at] == quotes if len(odd_ends) else np.zeros(len(quotes), dtype=bool)
        self.escaped = bool(len(ends) and ends[-1] == size and lengths[-1] % 2)
        return quotes[~escaped]


_OPEN, _CLOSE, _QUOTE, _BACKSLASH = 1, 2, 3, 4
# bytes.translate table: each byte that matters to the depth to its kind, every other one to 0.
_KIND_OF = {b"["[0]: _OPEN, b"{"[0]: _OPEN, b"]"[0]: _CLOSE, b"}"[0]: _CLOSE, b'"'[0]: _QUOTE, b"\\"[0]: _BACKSLASH}
_JSON_BYTE_KINDS = bytes(_KIND_OF.get(b, 0) for b in range(256))


class _DepthChecked(io.RawIOBase):
    """A binary stream of `source` that refuses, before anyone parses them, bytes nesting deeper than MAX_JSON_DEPTH."""

    def __init__(self, source: IO[bytes]) -> None:
        self.source = source
        self.scan = _DepthScan()
        self.line = 1

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.source.read(min(len(view), _DepthScan.PIECE_BYTES))
        where = self.scan.feed(data)
        if where is not None:
            line = self.line + data.count(b"\n", 0, where)
            raise ImportFileError(
                f"line {line} (byte {self.scan.offset + where + 1:,}): arrays and objects nested more than "
                f"{MAX_JSON_DEPTH} deep; a point file needs far fewer"
            )
        self.line += data.count(b"\n")
        view[: len(data)] = data
        return len(data)


def _line_too_deep(line: str, where: str) -> None:
    """Refuse a JSON line nesting deeper than MAX_JSON_DEPTH (a cheap count first: most lines cannot)."""
    if line.count("[") + line.count("{") <= MAX_JSON_DEPTH:
        return
    data = line.encode()
    at = _DepthScan().feed(data)
    if at is not None:
        raise RowError(
            f"{where}: arrays and objects nested more than {MAX_JSON_DEPTH} deep (at character "
            f"{len(data[:at].decode(errors='replace')) + 1:,}); a point needs far fewer"
        )


def _text_lines(binary: IO[bytes], first_line: int = 1) -> Iterator[str]:
    """Yield the file's lines as text (UTF-8, BOM dropped), refusing over-long lines and binary data."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    number = first_line - 1
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
    xi = _pick(header, options.x_column, X_NAMES, "x" if options.geometry == "planar" else "longitude")
    yi = _pick(header, options.y_column, Y_NAMES, "y" if options.geometry == "planar" else "latitude")
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
    row, which also names the line of any error.
    """
    binary = _text_start(binary)
    lines = _text_lines(binary)
    header_line = next(lines, None)
    if header_line is None or not header_line.strip():
        raise ImportFileError("the file is empty: expected a header row such as x,y")
    layout = _csv_layout(header_line, options)
    batcher = _Batcher(options)
    line = 2
    rest: IO[bytes] = binary
    if not layout.extra:
        fast = _FastBlocks(binary, first_line=2)
        for block, first_line in fast:
            batch = _csv_block(block, layout, batcher)
            if batch is None:  # not simple: the row-by-row reader takes over from here
                rest, line = _prefixed(block + fast.leftover(), binary), first_line
                break
            yield from _split(batch, options.batch_points)
        else:
            return
    yield from _csv_rows(rest, line, layout, batcher)


def _split(batch: PointBatch, size: int) -> Iterator[PointBatch]:
    for start in range(0, len(batch), size):
        stop = start + size
        yield PointBatch(ids=batch.ids[start:stop], xs=batch.xs[start:stop], ys=batch.ys[start:stop])


def _csv_rows(binary: IO[bytes], first_line: int, layout: _CsvLayout, batcher: _Batcher) -> Iterator[PointBatch]:
    reader = csv.reader(_text_lines(binary, first_line), strict=True)
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
                pid: Any = row[layout.id] if layout.id >= 0 else None
                if isinstance(pid, str) and pid.lstrip("-").isdigit():
                    pid = int(pid)
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


class _FastBlocks:
    """Yields (block, first line number) of whole lines, about BLOCK_BYTES each."""

    BLOCK_BYTES = 1 << 22

    def __init__(self, binary: IO[bytes], first_line: int) -> None:
        self.binary = binary
        self.line = first_line
        self._left = b""

    def leftover(self) -> bytes:
        left, self._left = self._left, b""
        return left

    def __iter__(self) -> Iterator[tuple[bytes, int]]:
        while True:
            data = self._left + self.binary.read(self.BLOCK_BYTES)
            if not data:
                return
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                if len(data) > MAX_LINE_BYTES:
                    # One huge line: hand it over so the row reader reports it with its number.
                    yield data, self.line
                    return
                more = self.binary.read(self.BLOCK_BYTES)
                if more:
                    self._left = data + more
                    continue
                cut = len(data)  # the last line has no newline
            block, self._left = data[:cut], data[cut:]
            first = self.line
            self.line += block.count(b"\n")
            yield block, first


def _csv_block(block: bytes, layout: _CsvLayout, batcher: _Batcher) -> PointBatch | None:
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
    flat = block.replace(b"\n", b",")
    try:
        # orjson reads numbers far faster than numpy's string casts; JSON numbers are a subset of
        # what a CSV may hold, so anything else (".5", "+1", "1.") falls back to numpy below.
        values = np.array(orjson.loads(b"[" + flat[:-1] + b"]"), dtype=np.float64).reshape(len(ends), width)
        xs, ys = values[:, layout.x], values[:, layout.y]
        ids = None
        if layout.id >= 0:
            column = values[:, layout.id]
            if np.abs(column).max() > 2**53 or not (column == np.round(column)).all():
                return None
            ids = column.astype(np.int64)
    except (orjson.JSONDecodeError, TypeError, ValueError):
        fields = np.array(flat.split(b",")[:-1]).reshape(len(ends), width)
        if fields.dtype.itemsize > 40:  # no plain number is this long: let the row reader say what it is
            return None
        try:
            xs = fields[:, layout.x].astype(np.float64)
            ys = fields[:, layout.y].astype(np.float64)
            ids = fields[:, layout.id].astype(np.int64) if layout.id >= 0 else None
        except ValueError:
            return None
    if not (np.isfinite(xs).all() and np.isfinite(ys).all()):
        return None
    if batcher.spherical and not ((np.abs(xs) <= 180).all() and (np.abs(ys) <= 90).all()):
        return None
    if ids is None:
        ids = np.arange(batcher.next_id, batcher.next_id + len(xs), dtype=np.int64)
    batcher.next_id += len(xs)
    return PointBatch(ids=ids, xs=xs, ys=ys)


_LINE_DECODER = msgspec.json.Decoder()


def _record(obj: Any, where: str) -> tuple[Any, Any, Any, dict[str, Any] | None, tuple[str, str]]:
    """Return (id, x, y, properties, labels) of an NDJSON object or GeoJSON Point Feature; the
    labels name the coordinates as the record does (its own keys, when it has x/lon… keys)."""
    if not isinstance(obj, dict):
        raise RowError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    if obj.get("type") == "Feature":
        geometry = obj.get("geometry")
        if not isinstance(geometry, dict) or geometry.get("type") != "Point":
            got = geometry.get("type") if isinstance(geometry, dict) else geometry
            raise RowError(f"{where}: the feature's geometry must be a Point, got {got!r}")
        coords = geometry.get("coordinates")
        if not isinstance(coords, list) or len(coords) < 2:
            raise RowError(f"{where}: a Point needs coordinates [x, y], got {coords!r}")
        props = obj.get("properties") or None
        if props is not None and not isinstance(props, dict):
            raise RowError(f"{where}: properties must be an object")
        if props is not None:
            props = {k: v for k, v in props.items() if k not in ("id", "pt")} or None
        return obj.get("id"), coords[0], coords[1], props, ("x", "y")
    if "pt" in obj:
        pt = obj["pt"]
        if not isinstance(pt, list) or len(pt) != 2:
            raise RowError(f"{where}: pt must be [x, y], got {pt!r}")
        x, y = pt
        keys: tuple[str, ...] = ("id", "pt")
        labels = ("x", "y")
    else:
        xk = next((k for k in X_NAMES if k in obj), None)
        yk = next((k for k in Y_NAMES if k in obj), None)
        if xk is None or yk is None:
            raise RowError(f'{where}: needs "pt": [x, y] or "x" and "y" fields')
        x, y = obj[xk], obj[yk]
        keys = ("id", xk, yk)
        labels = (f"field “{xk}”", f"field “{yk}”")
    props = {k: v for k, v in obj.items() if k not in keys} or None
    return obj.get("id"), x, y, props, labels


class _PlainLine(msgspec.Struct, forbid_unknown_fields=True):
    """The common NDJSON line: an optional integer id and a position, nothing else."""

    pt: tuple[float, float]
    id: Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)] | None = None


_PLAIN_BLOCK = msgspec.json.Decoder(list[_PlainLine])


def _ndjson_block(block: bytes, batcher: _Batcher) -> PointBatch | None:
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
    if batcher.spherical and not ((np.abs(xs) <= 180).all() and (np.abs(ys) <= 90).all()):
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
    batcher = _Batcher(options)
    binary = _text_start(binary)
    fast = _FastBlocks(binary, first_line=1)
    rest: IO[bytes] | None = None
    first_line = 1
    seen = False
    for block, block_line in fast:
        seen = True
        batch = _ndjson_block(block, batcher)
        if batch is None:
            rest, first_line = _prefixed(block + fast.leftover(), binary), block_line
            break
        yield from _split(batch, options.batch_points)
    if rest is None:
        if not seen:
            raise ImportFileError("the file is empty: expected one JSON object per line")
        return
    yield from _ndjson_rows(rest, first_line, batcher, empty_file=not seen)


def _ndjson_rows(binary: IO[bytes], first_line: int, batcher: _Batcher, *, empty_file: bool) -> Iterator[PointBatch]:
    number = first_line - 1
    for number, line in enumerate(_text_lines(binary, first_line), start=first_line):
        if not line.strip():
            continue
        where = f"line {number}"
        try:
            _line_too_deep(line, where)
            try:
                obj = _LINE_DECODER.decode(line)
            except msgspec.DecodeError as exc:
                raise RowError(f"{where}: not valid JSON ({exc})") from None
            except RecursionError:  # not reached after _line_too_deep; never a crash all the same
                raise RowError(f"{where}: arrays and objects nested too deeply") from None
            batch = batcher.add(where, *_record(obj, where))
        except RowError as exc:
            batcher.reject(exc)
            continue
        if batch is not None:
            yield batch
    batch = batcher.flush()
    if batch is not None:
        yield batch


# Features yielded after at most this many bytes were read are too small to be measured (see read_geojson).
_SMALL_FEATURE_BYTES = 1 << 16


def read_geojson(binary: IO[bytes], options: ImportOptions) -> Iterator[PointBatch]:
    """Yield batches from a GeoJSON FeatureCollection of Points, parsed incrementally."""
    batcher = _Batcher(options)
    text = _text_start(binary)
    head = text.peek(4096)[:4096]  # type: ignore[attr-defined]
    if not head.strip():
        raise ImportFileError("the file is empty: expected a GeoJSON FeatureCollection")
    if b"\x00" in head:
        raise ImportFileError("this is not a text file")
    # ijson reads through the depth check, so it never holds more than MAX_JSON_DEPTH levels.
    checked = _DepthChecked(text)
    stream = io.BufferedReader(checked, buffer_size=1 << 16)
    count = 0
    read_before = 0
    try:
        for count, feature in enumerate(ijson.items(stream, "features.item", use_float=True), start=1):
            # Properties take at most 4.5 times their feature's bytes as JSON (a float such as 1e15
            # is written 1000000000000000.0), so over MAX_PROPERTIES_BYTES only in a feature of
            # 233 KiB or more, which is yielded after at least that less what is read ahead
            # (< 128 KiB) was read since the last one: only such features are measured.
            big = checked.scan.offset - read_before > _SMALL_FEATURE_BYTES
            read_before = checked.scan.offset
            where = f"feature {count}"
            try:
                batch = batcher.add(where, *_record(feature, where), big=big)
            except RowError as exc:
                batcher.reject(exc)
                continue
            if batch is not None:
                yield batch
    except ijson.JSONError as exc:
        raise ImportFileError(f"not valid JSON after feature {count}: {exc}") from None
    if count == 0:
        raise ImportFileError('no features found: expected a FeatureCollection with a "features" list of Points')
    batch = batcher.flush()
    if batch is not None:
        yield batch


class _Prefixed(io.RawIOBase):
    """A binary stream that first returns `head`, then the rest of `tail`."""

    def __init__(self, head: bytes, tail: IO[bytes]) -> None:
        self.head = memoryview(head)
        self.pos = 0
        self.tail = tail

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self.pos < len(self.head):
            n = min(len(view), len(self.head) - self.pos)
            view[:n] = self.head[self.pos : self.pos + n]
            self.pos += n
            return n
        data = self.tail.read(len(view))
        view[: len(data)] = data
        return len(data)


def _prefixed(head: bytes, tail: IO[bytes]) -> IO[bytes]:
    """Return a buffered stream of `head` followed by the rest of `tail`."""
    return io.BufferedReader(_Prefixed(head, tail), buffer_size=1 << 16)


READERS = {"csv": read_csv, "geojson": read_geojson, "ndjson": read_ndjson}


class _Counting:
    """A reader that keeps options.report.bytes_read up to date (for progress)."""

    def __init__(self, binary: IO[bytes], report: ImportReport) -> None:
        self.binary = binary
        self.report = report

    def read(self, size: int = -1) -> bytes:
        data = self.binary.read(size)
        self.report.bytes_read += len(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        data = self.binary.readline(size)
        self.report.bytes_read += len(data)
        return data


def read_points(binary: IO[bytes], options: ImportOptions) -> Iterator[PointBatch]:
    """Yield the file's points in batches, in the given format; a file without points is an error."""
    total = 0
    counting: Any = _Counting(binary, options.report)
    for batch in READERS[options.format](counting, options):
        total += len(batch)
        yield batch
    if not total:
        raise ImportFileError("the file holds no points")
